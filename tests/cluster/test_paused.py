"""A paused resource on a real control plane: ``kubectl wait --for=condition=Ready`` does not
succeed for an edit made while paused (nor after a child is scaled by hand), and does once
unpausing has applied it. kstatus' ``Stalled`` says the same to GitOps health checks."""

from __future__ import annotations

import json

from tests.cluster.conftest import (
    TROUBLE,
    ControlPlane,
    InstallOperator,
    agentos_body,
    condition,
    running_and_ready,
    wait_for_condition,
    wait_until_condition,
)

EDITED = [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Changed while paused."]}]


def ready_within(cluster: ControlPlane, namespace: str, timeout: str) -> bool:
    """Whether ``kubectl wait --for=condition=Ready`` succeeds within ``timeout``."""
    result = cluster.run(
        "wait", "--for=condition=Ready", f"--timeout={timeout}", "-n", namespace, "agentosconfig/demo", check=False
    )
    assert result.returncode == 0 or "timed out" in result.stderr, result.stderr
    return result.returncode == 0


def test_kubectl_wait_for_ready_waits_for_an_edit_made_while_paused_until_unpausing_applies_it(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator, _ = running_and_ready(control_plane, namespace, install_operator)
    config_map = control_plane.get("configmap", "demo-config", namespace)

    control_plane.apply(agentos_body("demo", paused=True, agents=EDITED), namespace)

    stalled = wait_until_condition(control_plane, namespace, "Stalled", status="True", reason="Paused")
    assert stalled["observedGeneration"] == 2
    assert "generation 2 of the spec" in stalled["message"] and "ConfigMap 'demo-config'" in stalled["message"]
    body = control_plane.get("agentosconfig", "demo", namespace)
    assert (condition(body, "Ready")["status"], condition(body, "Reconciling")["status"]) == ("False", "False")
    assert not ready_within(control_plane, namespace, "3s")
    assert control_plane.get("configmap", "demo-config", namespace) == config_map

    control_plane.apply(agentos_body("demo", paused=False, agents=EDITED), namespace)

    wait_for_condition(control_plane, "Ready", "agentosconfig/demo", timeout="60s", namespace=namespace)
    assert "Changed while paused." in str(control_plane.get("configmap", "demo-config", namespace))
    body = control_plane.get("agentosconfig", "demo", namespace)
    assert condition(body, "Stalled")["status"] == "False"
    lines = [json.loads(line) for line in operator.output().splitlines() if line.startswith("{")]
    assert [line["message"] for line in lines if line.get("severity") in TROUBLE] == []


def test_pausing_alone_stays_ready_and_a_deployment_scaled_to_zero_by_hand_is_not(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    running_and_ready(control_plane, namespace, install_operator)

    control_plane.apply(agentos_body("demo", paused=True), namespace)
    wait_until_condition(control_plane, namespace, "Ready", status="True", reason="Paused")
    assert ready_within(control_plane, namespace, "3s")
    assert condition(control_plane.get("agentosconfig", "demo", namespace), "Stalled")["status"] == "False"

    control_plane.run("scale", "deploy", "demo", "-n", namespace, "--replicas=0")

    ready = wait_until_condition(control_plane, namespace, "Ready", status="False", reason="Paused")
    assert "(Deployment 'demo' differs from it)" in ready["message"]
    assert not ready_within(control_plane, namespace, "3s")
    assert condition(control_plane.get("agentosconfig", "demo", namespace), "Stalled")["status"] == "True"
    assert control_plane.get("deployment", "demo", namespace)["spec"]["replicas"] == 0  # type: ignore[index]

    control_plane.apply(agentos_body("demo", paused=False), namespace)

    wait_for_condition(control_plane, "Ready", "agentosconfig/demo", timeout="60s", namespace=namespace)
    assert control_plane.get("deployment", "demo", namespace)["spec"]["replicas"] == 1  # type: ignore[index]
