"""``agentos validate``, ``agentos render`` and ``agentos crd`` as a user runs them."""

import base64
import io
import os
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest
import yaml
from agentos_operator import render
from agentos_operator.cli import main
from agentos_operator.resources import parse_resource
from agentos_runtime.settings import Settings

from tests.operator.offline.inputs import EXAMPLES, ROOT, STAND_INS, example_secret_values, load_example

BAD = """\
apiVersion: agentos.dev/v1alpha1
kind: AgentOSConfig
metadata: {name: demo}
spec:
  models: [{id: gpt-4o}]
  agents: [{id: a}, {id: b}, {id: c, model: gpt-5}]
  replicas: 3
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_validate_accepts_every_example_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for p in sorted(EXAMPLES.glob("*.yaml"))]
    code, out, _ = run(capsys, "validate", *(arg for f in files for arg in ("-f", f)))
    assert code == 0
    assert out.count(": valid\n") == 5 and "AgentOSConfig/research-desk: valid" in out


def test_validate_prints_each_problem_with_file_resource_and_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(BAD)
    code, out, _ = run(capsys, "validate", "-f", str(path))
    assert code == 1
    assert out.splitlines() == [
        f"{path}: AgentOSConfig/demo: spec.replicas: an embedded SQLite database allows one replica only, not 3:"
        " use postgres or redis to scale out",
        f"{path}: AgentOSConfig/demo: spec.agents[2].model: unknown model 'gpt-5': declare it in models or fix the id",
    ]


def test_validate_notes_an_ingress_its_network_policy_likely_keeps_out_and_still_passes_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = yaml.safe_load((EXAMPLES / "minimal-sqlite.yaml").read_text())
    good["spec"]["ingress"] = {"enabled": True, "host": "agents.example.com"}
    good["spec"]["networkPolicy"] = {"enabled": True}
    path = tmp_path / "cr.yaml"
    path.write_text(yaml.safe_dump(good))
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 0
    [valid, note] = out.splitlines()
    assert valid.endswith("AgentOSConfig/minimal: valid")
    assert note.startswith(f"{path}: AgentOSConfig/minimal: note: spec.ingress is enabled but spec.networkPolicy")

    good["spec"]["networkPolicy"]["ingressFrom"] = [{"namespaceSelector": {}}]
    path.write_text(yaml.safe_dump(good))
    code, out, _ = run(capsys, "validate", str(path))
    assert (code, out.splitlines()) == (0, [f"{path}: AgentOSConfig/minimal: valid"])


def test_validate_reads_standard_input_and_several_documents(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = (EXAMPLES / "minimal-sqlite.yaml").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(good + "\n---\n" + BAD))
    code, out, _ = run(capsys, "validate", "-f", "-")
    assert code == 1
    assert "-: AgentOSConfig/minimal: valid" in out and "-: AgentOSConfig/demo: spec.agents[2].model" in out


def test_validate_skips_other_kinds_but_needs_at_least_one_resource(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "-f", str(STAND_INS))
    assert code == 1 and "no AgentOSConfig resource and no runtime config found" in out


def test_validate_takes_files_as_arguments_and_with_f_and_tells_runtime_configs_from_resources(
    capsys: pytest.CaptureFixture[str],
) -> None:
    resources = [*sorted(str(p) for p in EXAMPLES.glob("*.yaml")), str(STAND_INS)]  # the Secrets skipped
    runtime_configs = sorted(str(p) for p in (EXAMPLES / "runtime").glob("*.yaml"))
    code, out, _ = run(capsys, "validate", "-f", runtime_configs[0], *resources, *runtime_configs[1:])
    assert code == 0
    assert out.splitlines() == [
        f"{runtime_configs[0]}: runtime config: valid",
        f"{EXAMPLES / 'guide-appendix.yaml'}: AgentOSConfig/guide-appendix: valid",
        f"{EXAMPLES / 'knowledge.yaml'}: AgentOSConfig/handbook: valid",
        f"{EXAMPLES / 'mcp-tools.yaml'}: AgentOSConfig/mcp-tools: valid",
        f"{EXAMPLES / 'minimal-sqlite.yaml'}: AgentOSConfig/minimal: valid",
        f"{EXAMPLES / 'team-workflow.yaml'}: AgentOSConfig/research-desk: valid",
        *(f"{path}: runtime config: valid" for path in runtime_configs[1:]),
    ]


def test_validate_without_a_file_says_how_to_name_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate")
    assert code == 2 and out == ""
    assert "no file given" in err and "-f FILE" in err


# A schema error (an unknown field), a reference error and a request above its limit, which the
# operator's checks find in three stages: the schema, the references, the rendered children.
THREE_STAGES = """\
apiVersion: agentos.dev/v1alpha1
kind: AgentOSConfig
metadata: {name: demo}
spec:
  models: [{id: gpt-4o, apiKeySecretRef: {name: openai, key: api-key}}]
  agents: [{id: a, model: gpt-4o, tool: [calculator]}, {id: c, model: gpt-5}]
  resources: {requests: {cpu: "2"}, limits: {cpu: "1"}}
"""

RUNTIME_THREE_STAGES = """\
models: [{id: gpt-4o, temprature: 0.2}]
agents:
  - {id: a, model: gpt-4o, tools: [calculator, clock]}
  - {id: b, model: gpt-5}
"""


def test_validate_reports_problems_of_every_stage_of_a_resource_in_one_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(THREE_STAGES)
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert out.splitlines() == [
        f"{path}: AgentOSConfig/demo: spec.agents[0].tool: unknown field: remove it or check its spelling",
        f"{path}: AgentOSConfig/demo: spec.agents[1].model: unknown model 'gpt-5': declare it in models or fix the id",
        f"{path}: AgentOSConfig/demo: spec.resources.requests.cpu: the request 2 is above the limit 1"
        " (spec.resources.limits.cpu), which the API server refuses: lower the request or raise the limit",
    ]


def test_validate_checks_a_runtime_config_as_serve_does_and_reports_every_stage_in_one_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(RUNTIME_THREE_STAGES)
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert out.splitlines() == [
        f"{path}: runtime config: models[0].temprature: unknown field: remove it or check its spelling",
        f"{path}: runtime config: agents[1].model: unknown model 'gpt-5': declare it in models or fix the id",
        f"{path}: runtime config: agents[0].tools[1]: unknown tool 'clock':"
        " known tools are calculator, current_time, http_get",
    ]


ID_HINT = "not a valid id: lowercase letters, digits and '-', not starting or ending with '-'"


@pytest.mark.parametrize("bad_id", ["B", "Bad_ID"])
def test_an_invalid_id_in_a_runtime_config_hides_no_reference_or_tool_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bad_id: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "models: [{id: m1, model: x, base_url: 'http://127.0.0.1:9/v1'}]\n"
        f"agents: [{{id: a, model: m2}}, {{id: {bad_id}, model: m1}}, {{id: b, model: m1, tools: [calculater]}}]\n"
        f"teams: [{{id: t, members: [ghost, {bad_id}]}}]\n"
    )
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert out.splitlines() == [
        f"{path}: runtime config: agents[1].id: {ID_HINT}",
        f"{path}: runtime config: agents[0].model: unknown model 'm2': declare it in models or fix the id",
        f"{path}: runtime config: teams[0].members[0]: unknown agent or team 'ghost':"
        " declare it in agents or teams or fix the id",
        f"{path}: runtime config: agents[2].tools[0]: unknown tool 'calculater':"
        " known tools are calculator, current_time, http_get",
    ]


def test_a_workflow_step_without_a_name_in_a_runtime_config_hides_nothing_else(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "models: [{id: m1, model: x, base_url: 'http://127.0.0.1:9/v1'}]\n"
        "agents: [{id: a, model: m2}]\n"
        "workflows: [{id: w, steps: [{agent: nobody}]}]\n"
    )
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert out.splitlines() == [
        f"{path}: runtime config: workflows[0].steps[0].name: required field is missing",
        f"{path}: runtime config: agents[0].model: unknown model 'm2': declare it in models or fix the id",
        f"{path}: runtime config: workflows[0].steps[0].agent: unknown agent 'nobody':"
        " declare it in agents or fix the id",
    ]


def test_an_invalid_id_in_a_resource_hides_no_reference_tool_or_duplicate_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(
        "apiVersion: agentos.dev/v1alpha1\nkind: AgentOSConfig\nmetadata: {name: demo}\nspec:\n"
        "  models: [{id: m1, model: gpt-4o}]\n"
        "  agents: [{id: Bad_ID, model: m2, tools: [calculater]}, {id: dup, model: m1}, {id: dup, model: m1}]\n"
        "  teams: [{id: t, members: [ghost]}]\n"
    )
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    where = f"{path}: AgentOSConfig/demo: spec"
    assert out.splitlines() == [
        f"{where}.agents[0].id: {ID_HINT}",
        f"{where}.agents[2].id: duplicate id 'dup': ids must be unique",
        f"{where}.agents[0].model: unknown model 'm2': declare it in models or fix the id",
        f"{where}.teams[0].members[0]: unknown agent or team 'ghost': declare it in agents or teams or fix the id",
        f"{where}.agents[0].tools[0]: unknown tool 'calculater': known tools are calculator, current_time,"
        " http_get: fix the name, or, for a tool of your own (an agentos.tools entry point), set spec.image to the"
        " runtime image that installs it",
    ]


def test_validate_finds_exactly_what_serve_refuses_a_runtime_config_for(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from agentos_runtime.config import ConfigError
    from agentos_runtime.serving import load_runtime_config

    path = tmp_path / "config.yaml"
    path.write_text(RUNTIME_THREE_STAGES)
    with pytest.raises(ConfigError) as refused:
        load_runtime_config(path)
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert [f"{path}: runtime config: {problem}" for problem in refused.value.problems] == out.splitlines()


def test_validate_reports_every_file_and_every_document_in_one_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    resources = tmp_path / "resources.yaml"
    resources.write_text(BAD + "---\n" + THREE_STAGES.replace("name: demo", "name: other"))
    config = tmp_path / "config.yaml"
    config.write_text(RUNTIME_THREE_STAGES)
    code, out, _ = run(capsys, "validate", str(resources), str(config), str(tmp_path / "absent.yaml"))
    assert code == 1
    prefixes = [line.split(": ")[0] + ": " + line.split(": ")[1] for line in out.splitlines()]
    assert prefixes == [
        *[f"{resources}: AgentOSConfig/demo"] * 2,
        *[f"{resources}: AgentOSConfig/other"] * 3,
        *[f"{config}: runtime config"] * 3,
        f"{tmp_path / 'absent.yaml'}: cannot read",
    ]


def test_validate_refuses_a_runtime_config_sharing_its_file_with_another_document(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text((EXAMPLES / "runtime" / "quickstart.yaml").read_text() + "\n---\nmodels: []\n")
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert out.count("the file holds 2 YAML documents and the runtime reads exactly one") == 2


def test_validate_checks_the_spec_of_a_resource_whose_envelope_is_wrong(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(BAD.replace("agentos.dev/v1alpha1", "agentos.dev/v1").replace("name: demo", "name: Demo"))
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert [line.split(": ")[2] for line in out.splitlines()] == [
        "apiVersion",
        "metadata.name",
        "spec.replicas",
        "spec.agents[2].model",
    ]


def test_validate_reports_no_reference_error_a_broken_declaration_would_cause(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("models: gpt-4o\nagents: [{id: a, model: gpt-4o, tools: [clock]}]\n")
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert out.splitlines() == [f"{path}: runtime config: models: Input should be a valid list"]


def test_validate_reports_unreadable_and_malformed_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec: [\n  a: b\n")
    code, out, _ = run(capsys, "validate", "-f", str(broken), "-f", str(tmp_path / "absent.yaml"))
    assert code == 1
    assert f"{broken}: not valid YAML: line" in out
    assert f"{tmp_path / 'absent.yaml'}: cannot read: No such file or directory" in out


def test_validate_flags_a_misspelt_kind_instead_of_skipping_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(BAD.replace("kind: AgentOSConfig", "kind: AgentOSConfg"))
    code, out, _ = run(capsys, "validate", "-f", str(path))
    assert code == 1 and "AgentOSConfg/demo: kind: must be 'AgentOSConfig'" in out


def test_render_without_secrets_uses_marked_placeholders_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render", "-f", str(EXAMPLES / "minimal-sqlite.yaml"))
    assert code == 0
    assert out.startswith("# Secret values are placeholders: pass --secrets-from FILE")
    documents = list(yaml.safe_load_all(out))
    resource = parse_resource(load_example("minimal-sqlite"))
    settings = render.RenderSettings(default_image=render.DEFAULT_RUNTIME_IMAGE)
    expected = render.render(resource, render.placeholder_secrets(resource), settings=settings)
    secrets = [document for document in documents if document["kind"] == "Secret"]
    assert secrets  # the env Secret at least
    for secret in secrets:
        annotation = secret["metadata"].pop("annotations")["agentos.dev/placeholder-values"]
        assert "Placeholder values" in annotation and "--secrets-from FILE" in annotation
    assert documents == expected


def test_render_without_secrets_puts_a_comment_above_each_secret(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render", "-f", str(EXAMPLES / "guide-appendix.yaml"))
    assert code == 0
    documents = out.split("---\n")[1:]
    secrets = [document for document in documents if "\nkind: Secret\n" in document]
    assert secrets and all(
        document.startswith("# Placeholder values, not real ones: render with --secrets-from FILE")
        for document in secrets
    )
    assert not any(document.startswith("#") for document in documents if document not in secrets)


def test_render_with_secrets_marks_no_placeholder(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render", "-f", str(EXAMPLES / "team-workflow.yaml"), "--secrets-from", str(STAND_INS))
    assert code == 0
    assert "placeholder" not in out.lower()


def test_render_with_secrets_stands_in_for_the_key_the_operator_generates_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nobody creates a resource's generated security key by hand: the Secrets given need not hold it."""
    code, out, _ = run(capsys, "render", "-f", str(EXAMPLES / "guide-appendix.yaml"), "--secrets-from", str(STAND_INS))

    assert code == 0
    assert out.startswith("# The security key is a placeholder: the operator generates it in the cluster")
    documents = list(yaml.safe_load_all(out))
    [env] = [d for d in documents if d["kind"] == "Secret"]
    # The values given are real: the Secret says which one is not (it said all were placeholders).
    note = env["metadata"]["annotations"]["agentos.dev/placeholder-values"]
    assert note.startswith("OS_SECURITY_KEY is a placeholder, which the runtime refuses")
    assert "every other value is from --secrets-from FILE" in note
    held = {name: base64.b64decode(value).decode() for name, value in env["data"].items()}
    assert held["OS_SECURITY_KEY"] == "<placeholder:guide-appendix-security-key/security-key>"
    assert "sk-example-not-a-real-key" in held.values(), "the values given are used"
    # Anyone reading the resource could send that key: the runtime refuses to start with it.
    with pytest.raises(pydantic.ValidationError, match="OS_SECURITY_KEY is a placeholder `agentos render` wrote"):
        Settings.from_environ({"OS_SECURITY_KEY": held["OS_SECURITY_KEY"]})
    # The same file holding the key: used as given, nothing marked.
    values = {**example_secret_values(), ("guide-appendix-security-key", "security-key"): "given"}
    resource = parse_resource(load_example("guide-appendix"))
    settings = render.RenderSettings(default_image=render.DEFAULT_RUNTIME_IMAGE)
    assert "placeholder" not in render.dump_manifests(render.render(resource, values, settings=settings))


def test_render_places_a_resource_without_a_namespace_in_the_one_given(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render", "-n", "team-a", "-f", str(EXAMPLES / "minimal-sqlite.yaml"))
    assert code == 0
    documents = list(yaml.safe_load_all(out))
    assert {document["metadata"]["namespace"] for document in documents} == {"team-a"}
    body = load_example("minimal-sqlite")
    resource = parse_resource({**body, "metadata": {**body["metadata"], "namespace": "team-a"}})
    settings = render.RenderSettings(default_image=render.DEFAULT_RUNTIME_IMAGE)
    rendered = render.render(resource, render.placeholder_secrets(resource), settings=settings)
    assert [d["metadata"]["name"] for d in documents] == [d["metadata"]["name"] for d in rendered]


def test_render_refuses_a_resource_naming_another_namespace_than_the_one_given(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(
        (EXAMPLES / "minimal-sqlite.yaml").read_text().replace("metadata:\n", "metadata:\n  namespace: team-b\n", 1)
    )
    assert run(capsys, "render", "-n", "team-b", "-f", str(path))[0] == 0
    code, out, err = run(capsys, "render", "-n", "team-a", "-f", str(path))
    assert code == 1 and out == ""
    assert "metadata.namespace: the resource names namespace 'team-b', not 'team-a' as -n asks" in err


def test_render_with_secrets_from_a_file_prints_what_the_operator_applies(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "render",
        "-f",
        str(EXAMPLES / "team-workflow.yaml"),
        "--secrets-from",
        str(STAND_INS),
        "--image",
        "registry.example/agentos:9",
    )
    assert code == 0 and not out.startswith("#")
    resource = parse_resource(load_example("team-workflow"))
    settings = render.RenderSettings(default_image="registry.example/agentos:9")
    assert out == render.dump_manifests(render.render(resource, example_secret_values(), settings=settings))


def test_render_names_missing_secret_keys_without_printing_values(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: openai}\ndata: {api-key: c2stVkFMVUU=}\n")
    code, out, err = run(capsys, "render", "-f", str(EXAMPLES / "guide-appendix.yaml"), "--secrets-from", str(secrets))
    assert code == 1 and out == ""
    assert "Secret 'redis' key 'url'" in err and "Secret 'agentos-pg-app' key 'uri'" in err
    assert "sk-VALUE" not in err and "c2stVkFMVUU" not in err


def test_render_takes_files_as_arguments_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render", str(EXAMPLES / "minimal-sqlite.yaml"))
    assert code == 0
    assert out == run(capsys, "render", "-f", str(EXAMPLES / "minimal-sqlite.yaml"))[1]
    assert run(capsys, "render")[0] == 2


def test_render_refuses_an_invalid_resource_naming_every_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(THREE_STAGES)
    code, out, err = run(capsys, "render", str(path))
    assert code == 1 and out == ""
    assert [line.split(": ")[2] for line in err.splitlines()] == [
        "spec.agents[0].tool",
        "spec.agents[1].model",
        "spec.resources.requests.cpu",
    ]


def test_render_refuses_an_invalid_resource(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(BAD)
    code, out, err = run(capsys, "render", "-f", str(path))
    assert code == 1 and out == ""
    assert "AgentOSConfig/demo: spec.agents[2].model: unknown model 'gpt-5'" in err


def test_crd_prints_the_committed_definition(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "crd")
    assert code == 0
    assert out == (ROOT / "crds" / "agentosconfigs.agentos.dev.yaml").read_text(encoding="utf-8")


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ("serve", "operator", "validate", "render", "crd"):
        assert f"    {name} " in out


def test_a_misspelt_subcommand_is_named_with_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serv"])
    assert (
        "invalid choice: 'serv' (choose from 'serve', 'operator', 'validate', 'render', 'crd')"
        in capsys.readouterr().err
    )


def test_the_runtime_subcommand_loads_none_of_the_operator_modules() -> None:
    probe = (
        "import sys; from agentos_operator.cli import build_parser; build_parser('serve').parse_args(['serve', '--config', 'c']);"
        "print(sorted(m for m in sys.modules if m.startswith('agentos_operator.') and m != 'agentos_operator.cli'))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


def test_render_takes_each_resources_secrets_from_its_own_namespace_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    minimal = load_example("minimal-sqlite")
    key = minimal["spec"]["models"][0]["apiKeySecretRef"]

    def in_team(team: str) -> str:
        return yaml.safe_dump({**minimal, "metadata": {**minimal["metadata"], "namespace": team}})

    def secret(name: str, data: dict[str, str], namespace: str | None = None) -> str:
        metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
        return yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "stringData": data})

    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(
        "---\n".join(
            [
                secret(key["name"], {key["key"]: "sk-team-a-0123456789"}, "team-a"),
                secret(key["name"], {key["key"]: "sk-team-b-0123456789"}, "team-b"),
                # A stand-in naming no namespace serves any (the generated security key's here).
                secret("minimal-security-key", {"security-key": "example-security-key"}),
            ]
        )
    )
    resources = tmp_path / "resources.yaml"

    resources.write_text("---\n".join(in_team(team) for team in ("team-a", "team-b", "team-c")))
    code, out, err = run(capsys, "render", str(resources), "--secrets-from", str(secrets))
    assert code == 1 and out == ""  # team-c has no Secret of its own, and borrows none
    assert f"AgentOSConfig/minimal (namespace team-c): missing secret values: Secret '{key['name']}'" in err
    assert "namespace team-a" not in err and "namespace team-b" not in err and "sk-team" not in err

    resources.write_text("---\n".join(in_team(team) for team in ("team-a", "team-b")))
    code, out, _ = run(capsys, "render", str(resources), "--secrets-from", str(secrets))
    env = {
        doc["metadata"]["namespace"]: base64.b64decode(doc["data"]["OPENAI_API_KEY"]).decode()
        for doc in yaml.safe_load_all(out)
        if doc and doc["kind"] == "Secret" and doc["metadata"]["name"].endswith("-env")
    }
    assert code == 0 and env == {"team-a": "sk-team-a-0123456789", "team-b": "sk-team-b-0123456789"}


def test_a_printing_command_that_cannot_print_says_so_in_one_line_without_a_traceback() -> None:
    command = [sys.executable, "-m", "agentos_operator.cli", "crd"]
    with open("/dev/full", "w") as full:
        no_space = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    closed = subprocess.run(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.close(1),
    )

    assert (no_space.returncode, no_space.stderr) == (
        1,
        "agentos crd: cannot write the output: No space left on device\n",
    )
    assert (closed.returncode, closed.stderr) == (2, "agentos crd: standard output is closed: nothing to print to\n")


def test_the_items_of_a_list_as_kubectl_prints_them_are_each_validated_and_rendered(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = load_example("minimal-sqlite")
    bad = {**good, "metadata": {"name": "broken"}, "spec": {**good["spec"], "agents": [{"id": "a", "model": "nope"}]}}
    listed = tmp_path / "list.yaml"
    listed.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [good, bad]}))

    code, out, err = run(capsys, "validate", str(listed))
    assert code == 1 and f"{listed}: AgentOSConfig/minimal: valid" in out
    assert f"{listed}: AgentOSConfig/broken: spec.agents[0].model: unknown model 'nope'" in out + err

    listed.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [good]}))
    code, out, _ = run(capsys, "render", str(listed))
    assert code == 0 and out == run(capsys, "render", str(EXAMPLES / "minimal-sqlite.yaml"))[1]


# A reviewer's file: a step without its name, authorization without a key, a duplicate id,
# unknown references, a request above its limit. It took four runs to see them all.
MANY_FAULTS = """\
apiVersion: agentos.dev/v1alpha1
kind: AgentOSConfig
metadata: {name: many}
spec:
  models: [{id: gpt, apiKeySecretRef: {name: openai, key: k}}]
  databases: [{id: pg, type: postgres, urlSecretRef: {name: pg, key: uri}}]
  authorization: {userIsolation: true}
  resources: {requests: {cpu: "2"}, limits: {cpu: "1"}}
  agents:
    - {id: a, db: nodb, knowledge: nokb, tools: [calculater]}
    - {id: a, model: nomodel}
  workflows:
    - id: w
      steps:
        - agent: ghost
"""


def test_validate_reports_independent_problems_of_a_resource_in_one_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(MANY_FAULTS)
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert [line.removeprefix(f"{path}: AgentOSConfig/many: ") for line in out.splitlines()] == [
        "spec.workflows[0].steps[0].name: required field is missing",
        "spec.jwtVerificationKeySecretRef: authorization turns on JWT access control, which needs a verification key:"
        " set jwtVerificationKeySecretRef to a Secret key holding it, or jwtJwksSecretRef to one holding a JWKS"
        " document",
        "spec.agents[1].id: duplicate id 'a': ids must be unique",
        "spec.agents[0].db: unknown database 'nodb': declare it in databases or fix the id",
        "spec.agents[1].model: unknown model 'nomodel': declare it in models or fix the id",
        "spec.agents[0].knowledge: unknown knowledge base 'nokb': declare it in knowledgeBases or fix the id",
        "spec.workflows[0].steps[0].agent: unknown agent 'ghost': declare it in agents or fix the id",
        "spec.agents[0].tools[0]: unknown tool 'calculater': known tools are calculator, current_time, http_get: fix"
        " the name, or, for a tool of your own (an agentos.tools entry point), set spec.image to the runtime image"
        " that installs it",
        "spec.resources.requests.cpu: the request 2 is above the limit 1 (spec.resources.limits.cpu), which the API"
        " server refuses: lower the request or raise the limit",
    ]


def test_validate_takes_the_image_resources_naming_none_run_as_the_operator_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    body = load_example("minimal-sqlite")
    body["spec"]["agents"][0]["tools"] = ["weather"]
    path.write_text(yaml.safe_dump(body))

    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1 and "spec.agents[0].tools[0]: unknown tool 'weather'" in out
    code, out, _ = run(capsys, "validate", "--image", "registry.example.com/team/runtime-with-tools:1.2", str(path))
    assert code == 0 and out.endswith(": valid\n")


def test_keys_left_null_are_dropped_as_the_api_server_drops_them_before_the_operator_sees_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # `teams:` with every item commented out reads as null; the API server prunes it, so the
    # operator accepts the resource: validate and render said "Input should be a valid list".
    minimal = (EXAMPLES / "minimal-sqlite.yaml").read_text()
    path = tmp_path / "cr.yaml"
    path.write_text(
        minimal.replace("spec:\n", "spec:\n  teams:\n  #  - id: crew\n  resources:\n  image: null\n", 1).replace(
            "      addHistoryToContext: true\n", "      addHistoryToContext: true\n      description: ~\n"
        )
    )

    code, out, err = run(capsys, "validate", str(path))
    assert (code, err) == (0, "") and out.endswith("AgentOSConfig/minimal: valid\n"), out
    code, rendered, err = run(capsys, "render", str(path))
    assert (code, err) == (0, "")
    assert rendered == run(capsys, "render", str(EXAMPLES / "minimal-sqlite.yaml"))[1]


@pytest.mark.parametrize(
    "argv",
    [["validate", "-", "-"], ["validate", "-f", "-", "-"], ["render", "-", "--secrets-from", "-"]],
    ids=["twice-as-files", "as-f-and-file", "as-file-and-secrets"],
)
def test_standard_input_named_twice_is_refused_as_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    # The second read got an empty stream: "missing secret values", or the input checked once.
    monkeypatch.setattr("sys.stdin", io.StringIO((EXAMPLES / "minimal-sqlite.yaml").read_text()))
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert (
        err == f"agentos {argv[0]}: '-' (standard input) is given more than once: it can be read once, give it once\n"
    )


@pytest.mark.parametrize("command", ["validate", "render"])
def test_a_closed_standard_input_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setattr("sys.stdin", None)  # what Python sets when started with standard input closed
    code, out, err = run(capsys, command, "-")
    assert code == 1
    assert "-: standard input is closed: nothing to read" in out + err and "Traceback" not in out + err


@pytest.mark.parametrize("command", ["validate", "render"])
@pytest.mark.parametrize("image", [" ghcr.io/x/y:1", "NOT VALID IMAGE", ""])
def test_an_image_option_the_operator_would_refuse_is_a_usage_error_naming_the_form(
    capsys: pytest.CaptureFixture[str], command: str, image: str
) -> None:
    code, out, err = run(capsys, command, "--image", image, str(EXAMPLES / "minimal-sqlite.yaml"))
    assert (code, out) == (2, "")
    expected = "empty: name an image" if not image else "not an image reference: [registry/]name[:tag][@digest]"
    assert err.startswith(f"agentos {command}: --image: {expected}"), err
    assert run(capsys, command, "--image", "registry.example/agentos:9", str(EXAMPLES / "minimal-sqlite.yaml"))[0] == 0


def test_render_says_the_problems_of_the_envelope_and_of_the_spec_at_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(BAD.replace("metadata: {name: demo}", "metadata: {name: demo, labelz: {a: b}}", 1))

    code, out, err = run(capsys, "render", str(path))

    assert (code, out) == (1, "")
    assert "metadata.labelz" in err and "spec.agents[2].model: unknown model 'gpt-5'" in err
    assert err.splitlines() == run(capsys, "validate", str(path))[1].splitlines(), "what validate says"


def test_an_empty_namespace_is_taken_for_none_as_kubectl_takes_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(
        (EXAMPLES / "minimal-sqlite.yaml").read_text().replace("metadata:\n", 'metadata:\n  namespace: ""\n', 1)
    )

    assert run(capsys, "validate", str(path))[0] == 0
    code, out, err = run(capsys, "render", "-n", "agents", str(path))
    assert (code, err) == (0, "")
    assert {d["metadata"]["namespace"] for d in yaml.safe_load_all(out)} == {"agents"}
