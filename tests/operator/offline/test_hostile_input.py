"""Hostile or mistaken input to ``agentos validate`` and ``agentos render``: one clear line, a failing exit, no hang."""

import base64
import io
import os
import time
from pathlib import Path
from typing import Any

import pytest
from agentos_operator.cli import main
from agentos_operator.resources import validate_resource
from agentos_operator.settings import OperatorSettings
from agentos_runtime.config import parse_config, reading

from tests.operator.offline.inputs import resource_body

HEADER = "apiVersion: agentos.dev/v1alpha1\nkind: AgentOSConfig\nmetadata: {name: demo}\n"


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """Nine anchors, each naming the previous one nine times: 9^9 (387 million) nodes once expanded."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return HEADER + "\n".join(lines) + f"\nspec:\n  agents: [{{id: a, metadata: {{bomb: *a{levels - 1}}}}}]\n"


def quadratic_aliases(items: int = 1000) -> str:
    """One list of a thousand items, named a thousand times: a million nodes from a 10 kB file."""
    return HEADER + f"x: &x [{', '.join(['1'] * items)}]\ny: [{', '.join(['*x'] * items)}]\nspec: {{}}\n"


# (what the file is, its bytes, words of the one line each command prints)
HOSTILE: list[tuple[str, bytes, str]] = [
    (
        "a Latin-1 file",
        (HEADER + "spec:\n  agents: [{id: a, description: café}]\n").encode("latin-1"),
        "not UTF-8: byte 0xe9 at line 5, column 36 is not valid UTF-8 (invalid continuation byte); save the file as UTF-8",
    ),
    (
        "a UTF-16 file",
        (HEADER + "spec: {}\n").encode("utf-16"),
        "not UTF-8: it starts with a UTF-16 or UTF-32 byte-order mark; save it as UTF-8",
    ),
    (
        "a billion laughs",
        billion_laughs().encode(),
        "refused: line 1, column 1: aliases expand this document by more than 100000 nodes (a YAML alias bomb?)",
    ),
    (
        "a million nodes from a thousand aliases",
        quadratic_aliases().encode(),
        "aliases expand this document by more than 100000 nodes",
    ),
    (
        "an alias inside its own anchor",
        (HEADER + "spec: &s {agents: [*s]}\n").encode(),
        "refused: line 4, column 7: an alias refers to the node that contains it",
    ),
    (
        "a hundred thousand open brackets",
        (HEADER + "spec: " + "[" * 100_000 + "]" * 100_000 + "\n").encode(),
        "refused: line 4, column 107: nested deeper than 100 levels: flatten the document",
    ),
    (
        "two hundred nested mappings",
        (HEADER + "spec:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(200))).encode(),
        "nested deeper than 100 levels",
    ),
    (
        "nesting made deep by aliases",
        (HEADER + "d: &d " + "[" * 60 + "]" * 60 + "\nspec: " + "[" * 60 + "*d" + "]" * 60 + "\n").encode(),
        "nested deeper than 100 levels: flatten the document (aliases included)",
    ),
    (
        "a control character",
        (HEADER + "spec: {image: \x1b[31m}\n").encode(),
        "not valid YAML: line 4, column 15: character #x001b is not allowed in YAML",
    ),
    (
        "a number of five thousand digits",
        (HEADER + "spec: {replicas: 1" + "0" * 5000 + "}\n").encode(),
        "refused: line 4, column 18: a number of 5001 characters: far too large for any field",
    ),
    (
        "a key written twice, which would drop the first block",
        (HEADER + "spec:\n  agents: [{id: a}]\n  models: [{id: m}]\n  agents: [{id: b}]\n").encode(),
        "not valid YAML: line 7, column 3: the key 'agents' is written twice in one mapping (first on line 5)",
    ),
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], float]:
    """Exit code, every line printed (stdout and stderr), and the CPU seconds it took.

    CPU time, not the wall clock: what a hostile document costs is work, and a loaded machine
    that leaves this process waiting for a core does not add to it."""
    started = time.process_time()
    code = main(list(argv))
    cpu_seconds = time.process_time() - started
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).splitlines(), cpu_seconds


@pytest.mark.parametrize("command", ["validate", "render"])
@pytest.mark.parametrize(("content", "words"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_input_fails_in_one_line_naming_the_file_well_under_a_second(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, content: bytes, words: str
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_bytes(content)
    code, lines, cpu_seconds = run(capsys, command, "-f", str(path))
    assert code == 1
    [line] = lines
    assert line.startswith(f"{path}: ") and words in line, line
    assert cpu_seconds < 1.0, f"{cpu_seconds:.2f}s"


def test_the_table_covers_encoding_aliases_nesting_characters_and_repeated_keys() -> None:
    assert len({c[0] for c in HOSTILE}) == len(HOSTILE) >= 9


def test_standard_input_that_is_not_utf8_is_named_as_such(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(HEADER.encode() + b"spec: {image: \xff}\n")))
    code, lines, _ = run(capsys, "validate", "-f", "-")
    assert code == 1
    assert lines == [
        "-: not UTF-8: byte 0xff at line 4, column 15 is not valid UTF-8 (invalid start byte); save the file as UTF-8"
    ]


def test_a_secrets_file_that_is_an_alias_bomb_is_refused_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = tmp_path / "cr.yaml"
    good.write_text(HEADER + "spec: {}\n")
    bomb = tmp_path / "secrets.yaml"
    bomb.write_text(billion_laughs())
    code, lines, cpu_seconds = run(capsys, "render", "-f", str(good), "--secrets-from", str(bomb))
    assert code == 1 and cpu_seconds < 1.0
    assert f"{bomb}: refused: line 1, column 1: aliases expand this document by more than 100000 nodes" in lines[0]


def test_aliases_in_moderation_still_work(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(
        HEADER
        + "spec:\n"
        + "  models: [{id: m}]\n"
        + "  agents:\n"
        + "    - {id: a, instructions: &house [Be brief., Cite sources.]}\n"
        + "    - {id: b, instructions: *house}\n"
        + "    - &c {id: c, markdown: true}\n"
        + "    - {<<: *c, id: d}\n"
    )
    code, lines, _ = run(capsys, "validate", "-f", str(path))
    assert code == 0 and lines == [f"{path}: AgentOSConfig/demo: valid"]


def test_reading_refuses_a_bomb_before_expanding_it() -> None:
    # Nine more levels would be 9^18 nodes: the check measures the graph, never the expansion.
    started = time.process_time()
    with pytest.raises(reading.InputError, match="alias bomb"):
        reading.load_documents(billion_laughs(levels=18))
    assert time.process_time() - started < 0.5


def test_a_document_that_is_not_a_mapping_is_one_problem_saying_what_was_expected(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text("42\n---\n- a\n- b\n")
    code, lines, _ = run(capsys, "validate", str(path))
    expected = "where an AgentOSConfig resource or a runtime config (a mapping) was expected: write the document as key: value pairs"
    assert code == 1
    assert lines == [f"{path}: document 1: a number {expected}", f"{path}: document 2: a list {expected}"]


def test_each_document_of_a_runtime_config_split_in_two_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("agents: []\n---\nteams: []\n")
    code, lines, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert [line.split(": the file holds")[0] for line in lines] == [
        f"{path}: runtime config (document 1)",
        f"{path}: runtime config (document 2)",
    ]


def test_nesting_up_to_the_limit_is_read() -> None:
    depth = reading.MAX_DEPTH
    [document] = reading.load_documents("[" * depth + "]" * depth)
    for _ in range(depth - 1):
        [document] = document
    assert document == []
    with pytest.raises(reading.InputError, match="nested deeper than 100 levels"):
        reading.load_documents("[" * (depth + 1) + "]" * (depth + 1))


# (the field, what the file says, the path reported, words of the message)
STRINGS_FOR_NUMBERS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "replicas",
        {"replicas": "2"},
        "spec.replicas",
        'must be an integer, not a string: write 2 without quotes, not "2"',
    ),
    ("paused", {"paused": "true"}, "spec.paused", "must be a boolean (true or false), not a string: write true"),
    ("paused as yes", {"paused": "yes"}, "spec.paused", "must be a boolean (true or false), not a string"),
    ("paused as a number", {"paused": 1}, "spec.paused", "must be a boolean (true or false), not 1"),
    ("replicas as a boolean", {"replicas": True}, "spec.replicas", "must be an integer, not true"),
    ("replicas with a fraction", {"replicas": 1.5}, "spec.replicas", "must be an integer, not 1.5"),
    ("the metrics port", {"prometheus": {"port": "9100"}}, "spec.prometheus.port", "must be an integer, not a string"),
    ("the service port", {"service": {"port": "80"}}, "spec.service.port", "write 80 without quotes"),
    (
        "a history length",
        {"agents": [{"id": "a", "numHistoryRuns": "3"}]},
        "spec.agents[0].numHistoryRuns",
        "must be an integer, not a string",
    ),
    (
        "a temperature",
        {"models": [{"id": "m", "temperature": "0.7"}]},
        "spec.models[0].temperature",
        "must be a number, not a string: write 0.7 without quotes",
    ),
    (
        "a flag of an agent",
        {"agents": [{"id": "a", "markdown": "false"}]},
        "spec.agents[0].markdown",
        'write false without quotes, not "false"',
    ),
    (
        "autoscaling bounds",
        {
            "databases": [{"id": "p", "type": "postgres", "urlSecretRef": {"name": "pg", "key": "uri"}}],
            "autoscaling": {"enabled": "true", "minReplicas": "2"},
        },
        "spec.autoscaling.minReplicas",
        "must be an integer",
    ),
]


@pytest.mark.parametrize(
    ("spec", "path", "words"), [c[1:] for c in STRINGS_FOR_NUMBERS], ids=[c[0] for c in STRINGS_FOR_NUMBERS]
)
def test_a_string_where_the_crd_wants_a_number_or_boolean_is_refused_as_the_api_server_would(
    spec: dict[str, Any], path: str, words: str
) -> None:
    reported = [str(p) for p in validate_resource(resource_body(spec))]
    assert any(line.startswith(f"{path}: ") and words in line for line in reported), reported


# (the field, what the file says, the path reported, words of the message)
NUMBERS_FOR_STRINGS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "a cpu request",
        {"resources": {"requests": {"cpu": 1}}},
        "spec.resources.requests.cpu",
        'must be a string, not the number 1: write it in quotes as meant, e.g. "1"',
    ),
    (
        "a cpu limit with a fraction",
        {"resources": {"limits": {"cpu": 0.5}}},
        "spec.resources.limits.cpu",
        'not the number 0.5: write it in quotes as meant, e.g. "0.5"',
    ),
    (
        "an instruction read as a boolean",
        {"agents": [{"id": "a", "instructions": [True]}]},
        "spec.agents[0].instructions[0]",
        'must be a string, not the boolean true: write it in quotes as meant, e.g. "true"',
    ),
]


@pytest.mark.parametrize(
    ("spec", "path", "words"), [c[1:] for c in NUMBERS_FOR_STRINGS], ids=[c[0] for c in NUMBERS_FOR_STRINGS]
)
def test_a_number_or_boolean_where_the_crd_wants_a_string_says_to_quote_it(
    spec: dict[str, Any], path: str, words: str
) -> None:
    # YAML reads `cpu: 1` as a number: the message said "Input should be a valid string".
    reported = [str(p) for p in validate_resource(resource_body(spec))]
    assert any(line.startswith(f"{path}: ") and words in line for line in reported), reported


def test_validate_names_the_file_resource_and_field_of_a_quoted_number(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(HEADER + 'spec:\n  replicas: "1"\n  paused: "false"\n')
    code, lines, _ = run(capsys, "validate", "-f", str(path))
    assert code == 1
    assert lines == [
        f'{path}: AgentOSConfig/demo: spec.replicas: must be an integer, not a string: write 1 without quotes, not "1"',
        f"{path}: AgentOSConfig/demo: spec.paused: must be a boolean (true or false), not a string:"
        ' write false without quotes, not "false"',
    ]


def test_a_whole_number_written_with_a_fraction_is_an_integer_as_for_the_api_server() -> None:
    assert validate_resource(resource_body({"replicas": 1.0, "service": {"port": 8080.0}})) == []


def test_strictness_is_the_resources_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # The runtime's own file and the operator's environment settings keep reading strings as numbers.
    config = parse_config(
        {"models": [{"id": "m"}], "agents": [{"id": "a", "num_history_runs": "3", "markdown": "true"}]}
    )
    assert (config.agents[0].num_history_runs, config.agents[0].markdown) == (3, True)
    monkeypatch.setenv("AGENTOS_METRICS_PORT", "9100")
    monkeypatch.setenv("AGENTOS_LEADER_ELECTION", "true")
    settings = OperatorSettings()
    assert (settings.metrics_port, settings.leader_election) == (9100, True)


GOOD = (
    HEADER
    + "spec:\n  models: [{id: m, apiKeySecretRef: {name: openai, key: api-key}}]\n  agents: [{id: a, model: m}]\n"
)


@pytest.mark.parametrize("command", ["validate", "render"])
def test_a_pipe_is_refused_at_once_not_waited_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    fifo = tmp_path / "cr.yaml"
    os.mkfifo(fifo)  # nobody ever writes to it

    started = time.monotonic()
    code, lines, _ = run(capsys, command, str(fifo))

    assert code == 1 and time.monotonic() - started < 5.0  # waiting on a pipe costs no CPU: the wall clock
    assert lines == [f"{fifo}: not a regular file (a directory, pipe or device): give a YAML file"]


def test_a_file_larger_than_any_resource_is_refused_unread(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(GOOD + "#" * (9 * 2**20) + "\n")

    code, lines, _ = run(capsys, "validate", str(path))

    assert code == 1
    assert lines == [
        f"{path}: larger than 8 MiB: an AgentOSConfig must fit the API server's request limit (3 MiB),"
        " a runtime config its 1 MiB ConfigMap; split the file"
    ]


@pytest.mark.parametrize(
    ("secret", "said"),
    [
        ("metadata: [a]", "a Secret without metadata.name"),
        ("metadata: {name: openai}\ndata: [a, b]", "Secret/openai: data must be a mapping of keys to values"),
        ("metadata: {name: openai}\nstringData: x", "Secret/openai: stringData must be a mapping of keys to values"),
        ("metadata: {name: openai}\nstringData: {api-key: null}", "Secret/openai: stringData.api-key must be a string"),
        (
            "metadata: {name: openai}\nstringData: {api-key: [a, b]}",
            "Secret/openai: stringData.api-key must be a string",
        ),
        ("metadata: {name: openai}\ndata: {1: eA==, b: eA==}", "Secret/openai: data.1 must be a string key"),
    ],
)
def test_a_secrets_file_of_the_wrong_shape_is_named_never_stringified(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, secret: str, said: str
) -> None:
    resource = tmp_path / "cr.yaml"
    resource.write_text(GOOD)
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("apiVersion: v1\nkind: Secret\n" + secret + "\n")

    code, lines, _ = run(capsys, "render", str(resource), "--secrets-from", str(secrets))

    assert code == 1
    assert [line for line in lines if said in line] and all(line.startswith(f"{secrets}: ") for line in lines[:1])
    assert not any("Traceback" in line for line in lines)


def test_a_list_whose_items_are_no_list_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    resource = tmp_path / "cr.yaml"
    resource.write_text(GOOD)
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("apiVersion: v1\nkind: List\nitems: 5\n")

    code, lines, _ = run(capsys, "render", str(resource), "--secrets-from", str(secrets))

    assert code == 1
    assert lines[0] == f"{secrets}: document 1: a List's items must be a list"


def test_secret_values_too_large_for_one_secret_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    resource = tmp_path / "cr.yaml"
    resource.write_text(GOOD)
    secrets = tmp_path / "secrets.yaml"
    value = base64.b64encode(b"k" * (1100 * 1024)).decode()
    secrets.write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: openai}}\ndata: {{api-key: {value}}}\n---\n"
        "apiVersion: v1\nkind: Secret\nmetadata: {name: demo-security-key}\nstringData: {security-key: s}\n"
    )

    code, lines, _ = run(capsys, "render", str(resource), "--secrets-from", str(secrets))

    assert code == 1
    [line] = lines
    assert (
        line.startswith(f"{resource}: AgentOSConfig/demo: the values copied from the referenced Secrets take")
        and "k" * 20 not in line
    )


@pytest.mark.parametrize("command", ["validate", "render"])
def test_the_same_resource_given_twice_is_a_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(GOOD)

    code, lines, _ = run(capsys, command, str(path), str(path))

    assert code == 1
    assert (
        f"{path}: AgentOSConfig/demo: metadata.name: the same resource is given twice (first in {path}, document 1): keep one"
        in lines
    )


def test_a_namespace_the_api_server_would_refuse_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(GOOD.replace("metadata: {name: demo}", "metadata: {name: demo, namespace: Team_A}"))

    code, lines, _ = run(capsys, "validate", str(path))

    assert code == 1
    assert lines == [
        f"{path}: AgentOSConfig/demo: metadata.namespace: 'Team_A' is not a valid namespace: lowercase letters,"
        " digits and '-', starting and ending with a letter or digit, at most 63 characters"
    ]
    code, lines, _ = run(capsys, "render", str(path.with_name("absent.yaml")), "-n", "Bad_NS!")
    assert code == 2 and lines[0].startswith("agentos render: -n: 'Bad_NS!' is not a valid namespace")


def test_unprintable_characters_are_escaped_in_what_is_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(GOOD.replace("{name: demo}", '{name: "de\\ud800mo\\e[2J"}'))

    code, lines, _ = run(capsys, "validate", str(path))

    assert code == 1
    assert lines and all(line.isprintable() for line in lines)
    assert "'de\\ud800mo\\x1b[2J' is not a valid name" in lines[0]


def test_a_name_that_is_not_text_is_said_to_be_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(GOOD.replace("{name: demo}", "{name: 20240101}"))

    code, lines, _ = run(capsys, "validate", str(path))

    assert code == 1
    assert "metadata.name: must be a string: write the name in quotes" in lines[0]


@pytest.mark.parametrize("command", ["validate", "render"])
def test_fields_kubectl_would_refuse_as_unknown_are_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(GOOD.replace("metadata: {name: demo}", "foo: 1\nmetadata: {name: demo, bogus: 2}"))

    code, lines, _ = run(capsys, command, str(path))

    assert code == 1
    assert lines == [
        f"{path}: AgentOSConfig/demo: foo: unknown field: an object has apiVersion, kind, metadata and spec",
        f"{path}: AgentOSConfig/demo: metadata.bogus: unknown field of metadata: check its spelling",
    ]


def test_a_number_with_an_exponent_is_a_number_as_kubernetes_reads_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(
        GOOD.replace("{id: m,", "{id: m, temperature: 5e-1,").replace("spec:\n", "spec:\n  replicas: 1e0\n")
    )

    code, lines, _ = run(capsys, "validate", str(path))

    assert (code, lines) == (0, [f"{path}: AgentOSConfig/demo: valid"])
    assert reading.load_documents("a: 5e-1\nb: 2.5E6\nc: '5e-1'\nd: 0x1e5\ne: e5\n") == [
        {"a": 0.5, "b": 2.5e6, "c": "5e-1", "d": 485, "e": "e5"}
    ]


def test_labels_node_selectors_and_pod_labels_the_api_server_would_refuse_are_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    labels = '{"app.kubernetes.io/name": ok, tier: "v v", "Example.com/x": y}'
    body = GOOD.replace("metadata: {name: demo}", f"metadata: {{name: demo, labels: {labels}}}")
    selector = 'nodeSelector: {"kubernetes.io/os": linux, "bad key!": v}'
    pod_labels = 'podLabels: {team: search, "Example.com/team": x, tier: "-v"}'
    path.write_text(body.replace("spec:\n", f"spec:\n  {selector}\n  {pod_labels}\n"))

    code, lines, _ = run(capsys, "validate", str(path))

    assert code == 1
    assert [line.split(": ", 3)[2] for line in lines] == [
        "metadata.labels.tier",
        "metadata.labels.Example.com/x",
        "spec.nodeSelector.bad key!",
        "spec.podLabels.Example.com/team",
        "spec.podLabels.tier",
    ]
    assert "'v v' is not a valid label value" in lines[0]


def test_annotation_keys_and_source_ranges_the_api_server_would_refuse_are_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    service = 'service: {type: LoadBalancer, annotations: {"Bad_Prefix/x": y, ok: z}, loadBalancerSourceRanges: [10.0.0.0/8, 10.0.0.1, "::1/200"]}'
    pod_annotations = 'podAnnotations: {"example.com/fine": "any value at all", "-bad": v}'
    path.write_text(GOOD.replace("spec:\n", f"spec:\n  {service}\n  {pod_annotations}\n"))

    code, lines, _ = run(capsys, "validate", str(path))

    assert code == 1
    assert sorted(line.split(": ", 3)[2] for line in lines) == [
        "spec.podAnnotations.-bad",
        "spec.service.annotations.Bad_Prefix/x",
        "spec.service.loadBalancerSourceRanges[1]",
        "spec.service.loadBalancerSourceRanges[2]",
    ]
    said = "\n".join(lines)
    assert "'-bad' is not a valid annotation key" in said
    assert "'10.0.0.1' is not a CIDR" in said


def test_a_huge_source_range_is_named_briefly(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "cr.yaml"
    huge = "1" * 100_000
    path.write_text(
        GOOD.replace("spec:\n", f"spec:\n  service: {{type: LoadBalancer, loadBalancerSourceRanges: ['{huge}']}}\n")
    )

    code, lines, _ = run(capsys, "validate", str(path))

    assert code == 1
    [line] = lines
    assert "spec.service.loadBalancerSourceRanges[0]: '111" in line and "is not a CIDR" in line
    assert len(line) < 400


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("app", True),
        ("app.kubernetes.io/name", True),
        ("a_b.c-d", True),
        ("x" * 63, True),
        ("x" * 64, False),
        ("-app", False),
        ("app-", False),
        ("/app", False),
        ("Example.com/app", False),
        ("example.com/", False),
        ("a b", False),
        ("app\n", False),
    ],
)
def test_label_keys_follow_kubernetes_rules(key: str, valid: bool) -> None:
    from agentos_operator.render.labels import label_key_problem

    assert (label_key_problem(key) == "") is valid


def test_a_resource_without_a_namespace_and_the_same_in_default_are_the_same_resource(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(GOOD)
    second.write_text(GOOD.replace("metadata: {name: demo}", "metadata: {name: demo, namespace: default}"))

    code, lines, _ = run(capsys, "validate", str(first), str(second))

    assert code == 1
    assert lines[-1].endswith(f"the same resource is given twice (first in {first}, document 1): keep one")


def test_a_nul_in_a_resources_text_is_refused_naming_the_field() -> None:
    # JSON, and so the API server, carries "\u0000"; no answer of the runtime naming it could be stored.
    body = resource_body({"agents": [{"id": "a", "instructions": ["fine", "bad \x00 one"]}]})

    assert [str(p) for p in validate_resource(body)] == [
        "spec.agents[0].instructions: at [1]: Text may not contain a NUL character (\\u0000): remove it"
    ]
