"""Pods the cluster refuses, on a real control plane: the real ResourceQuota admission and the
real Deployment and ReplicaSet controllers refuse the runtime's pods, the status says why in
Kubernetes' words and an Event says so once; raising the quota brings the pods, and readiness
follows without an edit of the resource. Under the restricted Pod Security level (the API
server's PodSecurity admission, on by default) the runtime's pods are admitted as rendered."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import (
    ControlPlane,
    InstallOperator,
    agentos_body,
    condition,
    events_about,
    eventually,
    operator_running,
    running_and_ready,
    wait_quiet,
    wait_ready,
    wait_until_condition,
    warnings_about,
)

QUOTA = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "pod-budget"},
    "spec": {"hard": {"pods": "0"}},
}


def test_pods_over_a_quota_are_reported_once_and_readiness_follows_the_quota_raised(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    control_plane.apply(QUOTA, namespace)
    # Until the quota controller counted the namespace, pods are refused for that ("status unknown").
    eventually(
        lambda: (control_plane.get("resourcequota", "pod-budget", namespace) or {}).get("status", {}).get("hard")
    )
    installed, operator = operator_running(control_plane, namespace, install_operator)

    control_plane.apply(agentos_body("demo"), namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", reason="PodsNotCreated", timeout=120)
    assert ready["status"] == "False"
    assert "exceeded quota: pod-budget, requested: pods=1" in ready["message"]
    assert "raise the namespace's ResourceQuota 'pod-budget'" in ready["message"]
    body = control_plane.get("agentosconfig", "demo", namespace)
    assert (condition(body, "Degraded")["status"], condition(body, "Degraded")["reason"]) == ("True", "PodsNotCreated")
    assert condition(body, "Stalled")["status"] == "False", "Kubernetes retries: not a failure before the deadline"
    assert control_plane.items("pods", namespace, "-l", "app.kubernetes.io/instance=demo") == []
    warned = eventually(lambda: warnings_about(control_plane, namespace, "demo"), timeout=60, what="a Warning")
    assert warned == [("PodsNotCreated", ready["message"])]

    # Resyncs while the pods stay refused write nothing and tell nothing again.
    wait_quiet(installed, operator, 1, timeout=120)
    assert warnings_about(control_plane, namespace, "demo") == warned

    control_plane.run("patch", "resourcequota", "pod-budget", "-n", namespace, "-p", '{"spec":{"hard":{"pods":"1"}}}')

    body = wait_ready(control_plane, namespace, "demo", timeout="180s")
    assert condition(body, "Ready")["reason"] == "Available"
    assert condition(body, "Degraded")["status"] == "False"
    assert body["metadata"]["generation"] == 1, "no edit of the resource was needed"
    told = eventually(
        lambda: [e["reason"] for e in events_about(control_plane, namespace, "demo") if e["reason"] == "Available"],
        timeout=60,
        what="the Available event",
    )
    assert told == ["Available"]
    assert warnings_about(control_plane, namespace, "demo") == warned


@pytest.mark.parametrize("fixed_user_ids", ["true", "false"], ids=["the-images-user", "ids-left-to-the-platform"])
def test_the_runtime_pods_are_admitted_under_the_restricted_pod_security_level(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator, fixed_user_ids: str
) -> None:
    control_plane.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    # The level is enforced here: a pod without the restricted settings is refused.
    plain = control_plane.run("run", "plain", "-n", namespace, "--image=busybox", "--dry-run=server", check=False)
    assert plain.returncode != 0 and 'violates PodSecurity "restricted:latest"' in plain.stderr
    sidecar = {"id": "time", "sidecar": {"image": "registry.example/mcp-time:1", "port": 8081}}
    agent = {"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Be brief."], "tools": ["mcp:time"]}

    _, body = running_and_ready(
        control_plane,
        namespace,
        install_operator,
        operator_env={"AGENTOS_RUNTIME_FIXED_USER_IDS": fixed_user_ids},
        mcpServers=[sidecar],
        agents=[agent],
    )

    assert condition(body, "Ready")["reason"] == "Available"
    pods = control_plane.items("pods", namespace, "-l", "app.kubernetes.io/instance=demo")
    assert [p["status"]["phase"] for p in pods] == ["Running"]
    assert [c["name"] for c in pods[0]["spec"]["initContainers"]] == ["mcp-time"]
    # Without fixed ids the pod names none (OpenShift's restricted SCC assigns the namespace's own).
    named = {"runAsUser", "runAsGroup", "fsGroup"} & set(pods[0]["spec"]["securityContext"])
    assert named == ({"runAsUser", "runAsGroup", "fsGroup"} if fixed_user_ids == "true" else set())
    assert warnings_about(control_plane, namespace, "demo") == []
