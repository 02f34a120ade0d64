"""A served resource's generated security key deleted, on a real control plane.

The operator makes a new key, hands it to the pods (the env Secret, a rollout) and says so in
exactly one Warning ``SecurityKeyRegenerated``: clients sending the old key are refused from
then on. Neither key appears in the status, the events or the operator's log, even at DEBUG.
A resource's first key is no regeneration: no Warning.
"""

from __future__ import annotations

import base64
import json

from tests.cluster.conftest import (
    ControlPlane,
    InstallOperator,
    agentos_body,
    eventually,
    operator_running,
    settled,
    wait_quiet,
    wait_settled,
    warnings_about,
)
from tests.cluster.test_competing_writers import troubles

KEY = "demo-security-key"
REGENERATED = "SecurityKeyRegenerated"


def stored_key(cluster: ControlPlane, namespace: str) -> tuple[str, str] | None:
    """(uid, key) of the generated key's Secret, None while there is none."""
    secret = cluster.get("secret", KEY, namespace)
    if secret is None:
        return None
    return secret["metadata"]["uid"], base64.b64decode(secret["data"]["security-key"]).decode()


def pods_key(cluster: ControlPlane, namespace: str) -> str:
    env = cluster.get("secret", "demo-env", namespace) or {}
    return base64.b64decode(env["data"]["OS_SECURITY_KEY"]).decode()


def test_a_deleted_generated_key_is_made_anew_handed_to_the_pods_and_told_once_never_shown(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, operator = operator_running(control_plane, namespace, install_operator, "--log-level=DEBUG")
    control_plane.apply(agentos_body("demo"), namespace)
    wait_settled(control_plane, namespace, "demo")
    first = stored_key(control_plane, namespace)
    assert first is not None and pods_key(control_plane, namespace) == first[1]
    hash_before = (control_plane.get("agentosconfig", "demo", namespace) or {})["status"]["configHash"]
    assert warnings_about(control_plane, namespace, "demo") == [], "its first key is no regeneration"

    control_plane.run("delete", "secret", KEY, "-n", namespace)

    second = eventually(
        lambda: (found := stored_key(control_plane, namespace)) and found[0] != first[0] and found,
        what="a new key Secret",
    )
    assert second[1] != first[1], "a new key, not the old one again"
    body = eventually(
        lambda: (b := settled(control_plane, namespace, "demo")) and b["status"]["configHash"] != hash_before and b,
        timeout=60,
        what="the pods rolled to the new key",
    )
    assert pods_key(control_plane, namespace) == second[1]
    wait_quiet(installed, operator, 1)
    warnings = warnings_about(control_plane, namespace, "demo")
    assert [reason for reason, _ in warnings] == [REGENERATED], warnings
    assert warnings[0][1].startswith(f"Secret '{KEY}' holding the generated security key was gone, so a new key")
    assert "spec.securityKeySecretRef" in warnings[0][1]

    log = operator.output()
    assert '"severity": "debug"' in log, "the DEBUG lines were written"
    shown = json.dumps([body["status"], control_plane.items("events", namespace)]) + log
    for key in (first[1], second[1]):
        for form in (key, base64.b64encode(key.encode()).decode()):
            assert form not in shown
    assert troubles(operator, 0) == [f"{namespace}/demo {REGENERATED}: {warnings[0][1]}"], "logged once, as told"
    assert installed.refused() == []
