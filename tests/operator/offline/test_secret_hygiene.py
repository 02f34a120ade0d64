"""Secret values appear in exactly one place: base64-encoded in the ``<name>-env`` Secret."""

import base64
import json
from typing import Any

import pytest
from agentos_operator import conditions, render, status
from agentos_operator.errors import MissingSecretsError, SecretsTooLargeError
from agentos_operator.kube.secrets import UnresolvedSecretsError, read_secret_values
from agentos_operator.resources import parse_resource, validate_resource

from tests.operator.offline.inputs import Secrets, load_example, resource_body

SETTINGS = render.RenderSettings(default_image="img:1")
# Distinctive fake values, so any appearance of one (or of a recognisable part) is a leak.
FAKE_VALUES = {
    ("openai", "api-key"): "sk-LEAKCHECK-openai-7f3a9c",
    ("research-db", "uri"): "postgres://research:PW-LEAKCHECK-41d2@postgres.agents.svc:5432/research",
    ("research-desk-auth", "security-key"): "SECKEY-LEAKCHECK-88b1",
}
TELLTALES = ("LEAKCHECK", "7f3a9c", "41d2", "88b1")


def everything_but_the_env_secret(manifests: list[dict[str, Any]]) -> str:
    others = [m for m in manifests if not (m["kind"] == "Secret" and m["metadata"]["name"].endswith("-env"))]
    return json.dumps(others, ensure_ascii=False) + render.dump_manifests(others)


def test_no_secret_value_appears_outside_the_env_secret_data() -> None:
    manifests = render.render(parse_resource(load_example("team-workflow")), FAKE_VALUES, settings=SETTINGS)
    leaked = [t for t in TELLTALES if t in everything_but_the_env_secret(manifests)]
    assert leaked == []
    (secret,) = [m for m in manifests if m["kind"] == "Secret"]
    assert "stringData" not in secret
    assert not [t for t in TELLTALES if t in render.dump_manifests([secret])], "values must be base64-encoded"
    decoded = {base64.b64decode(v).decode() for v in secret["data"].values()}
    assert "sk-LEAKCHECK-openai-7f3a9c" in decoded and "SECKEY-LEAKCHECK-88b1" in decoded


def test_the_missing_secrets_error_names_refs_but_no_value() -> None:
    partial = {k: v for k, v in FAKE_VALUES.items() if k[0] != "research-db"}
    with pytest.raises(MissingSecretsError) as caught:
        render.render(parse_resource(load_example("team-workflow")), partial, settings=SETTINGS)
    message = str(caught.value)
    assert "Secret 'research-db' key 'uri'" in message
    assert not [t for t in TELLTALES if t in message]


async def test_an_unresolved_reference_names_fields_and_keys_but_no_value() -> None:
    """Every way a reference fails at once: a key under another name (the Secret's keys are
    listed), a value that is no text, a Secret missing; the values there are never said."""
    resource = parse_resource(load_example("team-workflow"))
    store = Secrets(
        openai={"api_key": FAKE_VALUES[("openai", "api-key")].encode(), "LEAKCHECK-7f3a9c": b"x"},
        **{"research-db": {"uri": b"\xff" + FAKE_VALUES[("research-db", "uri")].encode()}},
    )

    with pytest.raises(UnresolvedSecretsError) as caught:
        await read_secret_values(
            store,  # type: ignore[arg-type]
            "agents",
            render.required_secret_refs(resource),
            named_by=render.secret_referrers(resource),
        )

    message = str(caught.value)
    assert "Secret 'research-desk-auth' not found (spec.securityKeySecretRef)" in message
    assert "(spec.models[0].apiKeySecretRef, spec.models[1].apiKeySecretRef); its keys: 'LEAKCHECK-7f3a9c'," in message
    assert "of Secret 'research-db' (spec.databases[0].urlSecretRef) is not UTF-8 text" in message
    # The one telltale said is a key's name, which the test made look like a value: names are said.
    assert [t for t in TELLTALES if t in message.replace("'LEAKCHECK-7f3a9c'", "")] == []


def test_an_empty_value_refused_is_named_and_the_others_are_not_shown() -> None:
    empty = {**FAKE_VALUES, ("research-db", "uri"): "  "}
    with pytest.raises(MissingSecretsError) as caught:
        render.render(parse_resource(load_example("team-workflow")), empty, settings=SETTINGS)

    assert (
        str(caught.value)
        == "key 'uri' of Secret 'research-db' (spec.databases[0].urlSecretRef) holds only whitespace: set it"
    )


def test_values_too_large_for_one_secret_are_named_by_reference_largest_first_never_shown() -> None:
    huge = {**FAKE_VALUES, ("openai", "api-key"): "sk-LEAKCHECK-" + "k" * 700_000}
    huge[("research-db", "uri")] = "postgres://PW-LEAKCHECK-41d2@db/" + "u" * 400_000
    with pytest.raises(SecretsTooLargeError) as caught:
        render.render(parse_resource(load_example("team-workflow")), huge, settings=SETTINGS)

    message = str(caught.value)
    assert message.startswith("the values copied from the referenced Secrets take ")
    assert (
        "over the 1048576 (1 MiB) the API server accepts in one Secret; the largest: Secret 'openai' key 'api-key' as OPENAI_API_KEY (700013 bytes), Secret 'research-db' key 'uri' as "
        in message
    )
    assert message.endswith(": store smaller values")
    assert not [t for t in TELLTALES if t in message]


def test_values_just_within_one_secret_render() -> None:
    others = sum(len(v) for k, v in FAKE_VALUES.items() if k != ("openai", "api-key"))
    fitting = {**FAKE_VALUES, ("openai", "api-key"): "k" * (1024 * 1024 - others - 200)}
    manifests = render.render(parse_resource(load_example("team-workflow")), fitting, settings=SETTINGS)
    assert [m for m in manifests if m["kind"] == "Secret"]


@pytest.mark.parametrize(
    "misplaced",
    [
        {"models": [{"id": "m", "apiKeySecretRef": "sk-LEAKCHECK-openai-7f3a9c"}]},
        {"models": [{"id": "m", "apiKey": "sk-LEAKCHECK-openai-7f3a9c"}]},
        {"env": [{"name": "OPENAI_API_KEY", "valu": "sk-LEAKCHECK-openai-7f3a9c"}]},
        {"databases": [{"id": "d", "type": "postgres", "urlSecretRef": {"name": "x", "key": "PW-LEAKCHECK-41d2 @"}}]},
        {"securityKeySecretRef": {"name": "SECKEY-LEAKCHECK-88b1", "key": "k"}},
    ],
)
def test_validation_problems_never_echo_a_value_pasted_in_the_wrong_place(misplaced: dict[str, Any]) -> None:
    problems = validate_resource(resource_body({"agents": [], **misplaced}))
    assert problems, "the misplaced value should be rejected"
    assert not [t for t in TELLTALES if t in "\n".join(str(p) for p in problems)]


def test_a_refused_pod_quoted_in_the_status_quotes_no_secret_value() -> None:
    """Ready quotes why the cluster refused the runtime's pods. Whatever refuses them (a webhook
    may quote all it was sent) sees the pod template, which holds no value, only the Secret's name."""
    manifests = render.render(parse_resource(load_example("team-workflow")), FAKE_VALUES, settings=SETTINGS)
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    pod = json.dumps(deployment["spec"]["template"])
    for at in range(0, len(pod), conditions.QUOTE_MAX_LENGTH // 2):  # every part of it quoted in turn
        refusal = f'pods "x" is forbidden: admission webhook "w" denied the request: {pod[at:]}'
        deployment["status"] = {
            "observedGeneration": 0,
            "conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": refusal}],
        }

        said = [c.message for c in conditions.applied(status.rollout_of(deployment))]

        assert "denied the request" in said[0]
        assert not [t for t in TELLTALES if t in " ".join(said)]
