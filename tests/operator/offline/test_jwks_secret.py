"""``spec.jwtJwksSecretRef``: a JWKS mounted from the user's Secret, rotated without restarting the pods."""

from __future__ import annotations

import base64
import json
from typing import Any

import kubernetes_validate
import pytest
from agentos_operator import render
from agentos_operator.kube.secrets import UnresolvedSecretsError, read_secret_values
from agentos_operator.resources import AgentOSResource, parse_resource, validate_resource
from agentos_operator.watching import referenced_secrets

from tests.operator.offline.inputs import Secrets, resource_body

SETTINGS = render.RenderSettings(default_image="registry.example/agentos:1")
JWKS_REF = {"name": "idp-keys", "key": "jwks.json"}
JWKS_FILE = "/var/run/secrets/agentos-jwks/jwks.json"
# A distinctive value: any appearance of it in the operator's output is a leak.
JWKS_VALUE = '{"keys": [{"kty": "oct", "kid": "k1", "k": "LEAKCHECK-jwks-5e1f"}]}'


def spec(**changes: Any) -> dict[str, Any]:
    return {
        "models": [{"id": "gpt-4o-mini", "apiKeySecretRef": {"name": "openai", "key": "api-key"}}],
        "agents": [{"id": "a"}],
        "authorization": {"userIsolation": True},
        "jwtJwksSecretRef": JWKS_REF,
        **changes,
    }


def resource(**changes: Any) -> AgentOSResource:
    body = resource_body(spec(**changes))
    body["metadata"]["uid"] = "uid-1"
    return parse_resource(body)


def rendered(res: AgentOSResource, extra: dict[tuple[str, str], str] | None = None) -> dict[str, dict[str, Any]]:
    values = {**render.placeholder_secrets(res), **(extra or {})}
    return {m["kind"]: m for m in render.render(res, values, settings=SETTINGS)}


def runtime_container(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def test_the_jwks_is_a_read_only_volume_of_only_its_key_named_by_jwt_jwks_file() -> None:
    manifests = rendered(resource())
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    assert {"name": "jwt-jwks", "secret": {"secretName": "idp-keys", "items": [{"key": "jwks.json", "path": "jwks.json"}], "defaultMode": 0o440}} in pod["volumes"]  # fmt: skip
    container = runtime_container(manifests)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "jwt-jwks"]
    # The whole volume, never a subPath: the kubelet does not refresh a subPath file.
    assert mount == {"name": "jwt-jwks", "mountPath": "/var/run/secrets/agentos-jwks", "readOnly": True}
    assert {"name": "JWT_JWKS_FILE", "value": JWKS_FILE} in container["env"]
    assert "JWT_VERIFICATION_KEY" not in {e["name"] for e in container["env"]}
    for manifest in manifests.values():
        kubernetes_validate.validate(manifest, "1.35.0", strict=True)
    assert render.check_manifests(resource(), list(manifests.values())) == []


def test_without_a_jwks_nothing_is_mounted_or_named() -> None:
    res = resource(jwtJwksSecretRef=None, jwtVerificationKeySecretRef={"name": "jwt", "key": "pub"})
    container = runtime_container(rendered(res))
    assert "jwt-jwks" not in {m["name"] for m in container["volumeMounts"]}
    assert "JWT_JWKS_FILE" not in {e["name"] for e in container["env"]}
    assert render.mounted_secret_refs(res) == []


def test_the_operator_never_takes_the_jwks_value_so_a_rotation_restarts_no_pod() -> None:
    res = resource()
    assert render.mounted_secret_refs(res) == [("idp-keys", "jwks.json")]
    assert ("idp-keys", "jwks.json") not in render.required_secret_refs(res)
    before = rendered(res, {("idp-keys", "jwks.json"): JWKS_VALUE})
    after = rendered(res, {("idp-keys", "jwks.json"): JWKS_VALUE.replace("k1", "k2")})
    assert before == after  # the config hash, the pod template: the same
    text = json.dumps(list(before.values())) + render.dump_manifests(list(before.values()))
    decoded = [base64.b64decode(v).decode() for v in before["Secret"]["data"].values()]
    assert "LEAKCHECK" not in text + "".join(decoded)


def test_a_user_variable_named_jwt_jwks_file_is_refused_while_the_spec_mounts_one() -> None:
    problems = validate_resource(resource_body(spec(env=[{"name": "JWT_JWKS_FILE", "value": "/elsewhere/jwks.json"}])))
    assert [str(p) for p in problems] == [
        "spec.env[0].name: 'JWT_JWKS_FILE' is set by the operator: it is the JWKS mounted from spec.jwtJwksSecretRef: remove it"
    ]


def test_a_resource_reading_a_jwks_is_woken_by_its_secret() -> None:
    assert "idp-keys" in referenced_secrets(resource_body(spec()))


def test_the_jwks_alone_satisfies_authorization() -> None:
    assert validate_resource(resource_body(spec())) == []


def test_both_jwt_key_sources_are_refused_naming_the_field_and_the_fix() -> None:
    body = resource_body(spec(jwtVerificationKeySecretRef={"name": "jwt", "key": "pub"}))
    (problem,) = [str(p) for p in validate_resource(body)]
    assert problem.startswith(
        "spec.jwtJwksSecretRef: jwtJwksSecretRef and jwtVerificationKeySecretRef are mutually exclusive"
    )
    assert "remove the other" in problem


def test_authorization_without_either_names_both_fixes() -> None:
    (problem,) = [str(p) for p in validate_resource(resource_body(spec(jwtJwksSecretRef=None)))]
    assert problem.startswith("spec.jwtVerificationKeySecretRef: authorization turns on JWT access control")
    assert "or jwtJwksSecretRef to one holding a JWKS document" in problem


async def test_a_mounted_secret_is_checked_to_exist_but_its_value_is_neither_decoded_nor_returned() -> None:
    store = Secrets(openai={"api-key": b"sk-1"}, **{"idp-keys": {"jwks.json": b"\xff not text LEAKCHECK"}})
    values = await read_secret_values(store, "ns", [("openai", "api-key")], mounted=[("idp-keys", "jwks.json")])  # type: ignore[arg-type]
    assert values == {("openai", "api-key"): "sk-1"}


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        ({}, "Secret 'idp-keys' not found (spec.jwtJwksSecretRef): create it in the resource's namespace"),
        (
            {"idp-keys": {"other": b"x"}},
            "Secret 'idp-keys' has no key 'jwks.json' (spec.jwtJwksSecretRef); its keys: 'other': add it, or name one it has",
        ),
    ],
    ids=["no-secret", "no-key"],
)
async def test_a_missing_jwks_secret_or_key_stops_the_reconcile_naming_it(
    secrets: dict[str, dict[str, bytes]], message: str
) -> None:
    store = Secrets(openai={"api-key": b"sk-1"}, **secrets)
    with pytest.raises(UnresolvedSecretsError) as caught:
        await read_secret_values(
            store,  # type: ignore[arg-type]
            "ns",
            [("openai", "api-key")],
            mounted=[("idp-keys", "jwks.json")],
            named_by=render.secret_referrers(resource()),
        )
    assert str(caught.value) == message
