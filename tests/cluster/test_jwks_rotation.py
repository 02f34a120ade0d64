"""A JWKS mounted from the user's Secret (``spec.jwtJwksSecretRef``) on a real control plane: the
runtime pods read it as a file of a Secret volume, so a rotated key set reaches them without a
restart, while a rotated model key still rolls them (its value is in the pods' environment)."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.cluster.conftest import (
    ControlPlane,
    InstallOperator,
    agentos_body,
    create_secret,
    eventually,
    operator_running,
    wait_ready,
)

JWKS_SPEC = {"authorization": {"userIsolation": True}, "jwtJwksSecretRef": {"name": "idp-keys", "key": "jwks-json"}}


def template(cluster: ControlPlane, namespace: str) -> dict[str, Any]:
    found = cluster.get("deployment", "demo", namespace)
    assert found is not None, "no Deployment demo"
    spec: dict[str, Any] = found["spec"]["template"]
    return spec


def pod_names(cluster: ControlPlane, namespace: str) -> set[str]:
    return {
        pod["metadata"]["name"] for pod in cluster.items("pods", namespace, "-l", "app.kubernetes.io/instance=demo")
    }


def test_a_rotated_jwks_reaches_the_pods_without_a_restart_while_a_rotated_model_key_rolls_them(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, operator = operator_running(control_plane, namespace, install_operator)
    create_secret(control_plane, namespace, "idp-keys", jwks_json='{"keys": []}')
    control_plane.apply(agentos_body("demo", **JWKS_SPEC), namespace)
    wait_ready(control_plane, namespace, "demo")

    pod = template(control_plane, namespace)["spec"]
    assert {"name": "jwt-jwks", "secret": {"secretName": "idp-keys", "items": [{"key": "jwks-json", "path": "jwks.json"}], "defaultMode": 0o440}} in pod["volumes"]  # fmt: skip
    [runtime] = pod["containers"]
    assert {"name": "jwt-jwks", "mountPath": "/var/run/secrets/agentos-jwks", "readOnly": True} in runtime[
        "volumeMounts"
    ]
    assert {"name": "JWT_JWKS_FILE", "value": "/var/run/secrets/agentos-jwks/jwks.json"} in runtime["env"]
    env_data = (control_plane.get("secret", "demo-env", namespace) or {}).get("data") or {}
    values = [base64.b64decode(value).decode() for value in env_data.values()]
    assert "sk-test-1" in values and not any('"keys"' in value for value in values), "mounted, never copied"
    pods, annotations = pod_names(control_plane, namespace), template(control_plane, namespace)["metadata"]
    mark, reconciled = control_plane.audit_mark(), operator.reconciles()

    control_plane.run(
        "patch", "secret", "idp-keys", "-n", namespace, "--type=merge",
        "-p", json.dumps({"stringData": {"jwks-json": '{"keys": [{"kty": "oct", "kid": "k2"}]}'}}),
    )  # fmt: skip

    def jwks_checked() -> bool:
        gets = [r for r in installed.requests(mark) if r.get("objectRef", {}).get("name") == "idp-keys"]
        return bool(gets) and operator.reconciles() > reconciled

    eventually(jwks_checked, what="a reconcile that read the rotated JWKS Secret")
    assert not [w for w in installed.writes(mark) if w.get("objectRef", {}).get("resource") == "deployments"]
    assert template(control_plane, namespace)["metadata"] == annotations
    assert pod_names(control_plane, namespace) == pods

    control_plane.run(
        "patch", "secret", "openai", "-n", namespace, "--type=merge",
        "-p", json.dumps({"stringData": {"api-key": "sk-test-2"}}),
    )  # fmt: skip

    eventually(
        lambda: template(control_plane, namespace)["metadata"] != annotations, what="the rotated model key rolled out"
    )
    eventually(lambda: pod_names(control_plane, namespace).isdisjoint(pods), what="the old pods replaced")
    wait_ready(control_plane, namespace, "demo")
