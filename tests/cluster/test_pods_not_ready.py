"""Pods that exist but do not become ready, on a real control plane: the real scheduler cannot
place a runtime asking for more CPU than any node has, and the status says so in the scheduler's
words (without its node counts), with one Warning, read by one LIST of the resource's pods (the
chart's grant) once its rollout made no progress for the grace period; resyncs write nothing; lowering the request makes
it Ready with nothing else done, and a ready resource's resync lists no pod.

kwok runs no container, so it pulls no image and crashes nothing: a crash loop is written into a
pod's status here as a kubelet would (kwok leaves pods annotated ``kwok.x-k8s.io/status=custom``
alone), and every other pod status is covered by the pure rules (tests/operator/kopf/test_pod_rules.py).
"""

from __future__ import annotations

import json
from typing import Any

from tests.cluster.conftest import (
    ControlPlane,
    Installed,
    InstallOperator,
    agentos_body,
    condition,
    eventually,
    operator_running,
    wait_quiet,
    wait_settled,
    wait_until_condition,
    warnings_about,
)

# Each kwok node has 1000 CPUs (scripts/control-plane.sh): no node can hold this.
TOO_MUCH_CPU = {"requests": {"cpu": "2000", "memory": "128Mi"}}
GRACE = {"AGENTOS_PODS_GRACE_SECONDS": "1"}


def pod_lists(installed: Installed, since: int) -> int:
    """How many times the operator listed pods since ``since``, by the API server's audit log."""
    return sum(
        1
        for request in installed.requests(since)
        if request["verb"] == "list" and request.get("objectRef", {}).get("resource") == "pods"
    )


def write_pod_status(cluster: ControlPlane, namespace: str, pod: str, status: dict[str, Any]) -> None:
    """Write ``status`` into the pod's status as its kubelet would (kwok leaves ``custom`` pods alone)."""
    patch = json.dumps({"status": status})
    cluster.run("patch", "pod", pod, "-n", namespace, "--subresource=status", "--type=merge", "-p", patch)


def test_an_unschedulable_runtime_is_said_in_the_schedulers_words_and_ready_follows_a_lower_request(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, operator = operator_running(control_plane, namespace, install_operator, env=GRACE)
    mark = control_plane.audit_mark()

    control_plane.apply(agentos_body("demo", resources=TOO_MUCH_CPU), namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", reason="Unschedulable", timeout=120)
    assert ready["status"] == "False"
    assert "the scheduler finds no node for the pods (Insufficient cpu):" in ready["message"]
    assert "0/2" not in ready["message"], "no node count: it changes as nodes come and go while the cause stays"
    assert "lower spec.resources.requests (cpu)" in ready["message"]
    assert "preemption" not in ready["message"]
    body = control_plane.get("agentosconfig", "demo", namespace)
    assert (condition(body, "Degraded")["status"], condition(body, "Degraded")["reason"]) == ("True", "Unschedulable")
    assert condition(body, "Stalled")["status"] == "False", "the scheduler retries: not a failure before the deadline"
    warned = eventually(lambda: warnings_about(control_plane, namespace, "demo"), timeout=60, what="a Warning")
    assert warned == [("Unschedulable", ready["message"])]
    assert pod_lists(installed, mark) >= 1

    # Resyncs while the pods stay unschedulable list them again, and write and tell nothing.
    wait_quiet(installed, operator, 1, timeout=120)
    assert warnings_about(control_plane, namespace, "demo") == warned

    lower = {"spec": {"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}}
    control_plane.run("patch", "agentosconfig", "demo", "-n", namespace, "--type=merge", "-p", json.dumps(lower))

    body = wait_settled(control_plane, namespace, "demo", timeout=180)
    assert condition(body, "Ready")["reason"] == "Available"
    assert condition(body, "Degraded")["status"] == "False"
    assert warnings_about(control_plane, namespace, "demo") == warned
    # Ready: a resync lists no pod. The chart's grants were enough for everything.
    wait_quiet(installed, operator, 1, timeout=120)
    mark = control_plane.audit_mark()
    operator.resynced(1)
    assert pod_lists(installed, mark) == 0
    assert installed.refused() == []


def test_a_crash_loop_that_wakes_nothing_is_found_by_a_later_look_and_readiness_follows_the_pod(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, _ = operator_running(control_plane, namespace, install_operator, env=GRACE)
    kubelet_written = {"kwok.x-k8s.io/status": "custom"}  # kwok leaves these pods' status to the test

    control_plane.apply(agentos_body("demo", podAnnotations=kubelet_written), namespace)

    selector = "app.kubernetes.io/instance=demo"
    [pod] = eventually(
        lambda: [p for p in control_plane.items("pods", namespace, "-l", selector) if p["spec"].get("nodeName")],
        timeout=60,
        what="the pod, scheduled",
    )
    name = pod["metadata"]["name"]
    crash = {
        "name": "agentos",
        "image": pod["spec"]["containers"][0]["image"],
        "imageID": "",
        "ready": False,
        "restartCount": 3,
        "state": {
            "waiting": {"reason": "CrashLoopBackOff", "message": f"back-off 40s restarting failed container {name}"}
        },
        "lastState": {"terminated": {"reason": "Error", "exitCode": 3}},
    }
    crashing = {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}], "containerStatuses": [crash]}
    write_pod_status(control_plane, namespace, name, crashing)

    ready = wait_until_condition(control_plane, namespace, "Ready", reason="CrashLoopBackOff", timeout=120)
    assert ready["message"] == (
        "container 'agentos' keeps crashing (CrashLoopBackOff; it last ended Error, exit code 3): "
        f"`kubectl logs -l {condition_selector(control_plane, namespace)} -c agentos --previous` shows why"
    )
    assert name not in ready["message"]
    assert eventually(lambda: warnings_about(control_plane, namespace, "demo"), timeout=60) == [
        ("CrashLoopBackOff", ready["message"])
    ]

    running = {
        **crash,
        "ready": True,
        "started": True,
        "state": {"running": {"startedAt": pod["metadata"]["creationTimestamp"]}},
    }
    now_ready = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}],
        "containerStatuses": [running],
    }
    write_pod_status(control_plane, namespace, name, now_ready)

    body = wait_settled(control_plane, namespace, "demo", timeout=120)
    assert condition(body, "Degraded")["status"] == "False"
    assert body["metadata"]["generation"] == 1, "no edit of the resource was needed"
    assert installed.refused() == []


def condition_selector(cluster: ControlPlane, namespace: str) -> str:
    """The pods' selector as the status gives it (``status.selector``)."""
    body = cluster.get("agentosconfig", "demo", namespace) or {}
    selector: str = body["status"]["selector"]
    return selector
