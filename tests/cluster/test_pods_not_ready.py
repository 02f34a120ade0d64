"""Pods that exist but do not become ready, on a real control plane: the real scheduler cannot
place a runtime asking for more CPU than any node has, and the status says so in the scheduler's
words (without its node counts), with one Warning, read by one LIST of the resource's pods (the
chart's grant) once its rollout made no progress for the grace period; resyncs write nothing; lowering the request makes
it Ready with nothing else done, and a ready resource's resync lists no pod.

kwok runs no container, so it pulls no image and crashes nothing: a crash loop is written into a
pod's status here as a kubelet would (kwok leaves pods annotated ``kwok.x-k8s.io/status=custom``
alone), and every other pod status is covered by the pure rules (tests/operator/kopf/test_pod_rules.py).
A readiness probe that keeps failing is written the same way, and so is the status of the pod its
ReplicaSet makes when that pod is evicted: once PodsNotReady was said, the replacement failing alike
should change nothing, neither the status nor the one Warning. It does not yet (see that test's mark).
"""

from __future__ import annotations

import datetime
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


def scheduled_pods(cluster: ControlPlane, namespace: str, but: str = "") -> list[dict[str, Any]]:
    """The runtime pods of ``demo`` the scheduler placed, other than ``but``, not being deleted."""
    return [
        pod
        for pod in cluster.items("pods", namespace, "-l", "app.kubernetes.io/instance=demo")
        if pod["spec"].get("nodeName")
        and pod["metadata"]["name"] != but
        and not pod["metadata"].get("deletionTimestamp")
    ]


def probe_failing(pod: dict[str, Any]) -> dict[str, Any]:
    """A pod status a kubelet writes while the container runs and its readiness probe fails."""
    running = {
        "name": "agentos",
        "image": pod["spec"]["containers"][0]["image"],
        "imageID": "",
        "ready": False,
        "started": True,
        "restartCount": 0,
        "state": {"running": {"startedAt": pod["metadata"]["creationTimestamp"]}},
    }
    unready = [{"type": "Ready", "status": "False"}, {"type": "ContainersReady", "status": "False"}]
    return {"phase": "Running", "conditions": unready, "containerStatuses": [running]}


def age(pod: dict[str, Any]) -> float:
    created = datetime.datetime.fromisoformat(pod["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    return (datetime.datetime.now(datetime.UTC) - created).total_seconds()


def test_a_pod_failing_its_probe_replaced_by_one_failing_alike_keeps_the_status_and_its_one_warning(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    # Long enough for the replacement to be looked at young several times (looks come every 2 s
    # at most once the rollout is stuck), before it is old enough to be said without the status's word.
    grace = 10.0
    installed, _ = operator_running(
        control_plane, namespace, install_operator, env={"AGENTOS_PODS_GRACE_SECONDS": str(grace)}
    )
    control_plane.apply(agentos_body("demo", podAnnotations={"kwok.x-k8s.io/status": "custom"}), namespace)
    [first] = eventually(lambda: scheduled_pods(control_plane, namespace), timeout=60, what="the pod, scheduled")
    first_name = first["metadata"]["name"]
    write_pod_status(control_plane, namespace, first_name, probe_failing(first))

    ready = wait_until_condition(control_plane, namespace, "Ready", reason="PodsNotReady", timeout=120)
    assert ready["message"].startswith("container 'agentos' runs but does not become ready: its readiness probe fails")
    said = (ready["reason"], ready["message"])
    assert eventually(lambda: warnings_about(control_plane, namespace, "demo"), timeout=60) == [said]

    # The pod is evicted (at once: kwok confirms no deletion of a pod whose status it leaves
    # alone); its ReplicaSet makes another, whose container fails its probe alike.
    mark = control_plane.audit_mark()
    control_plane.run("delete", "pod", first_name, "-n", namespace, "--grace-period=0", "--force")
    [second] = eventually(
        lambda: scheduled_pods(control_plane, namespace, but=first_name), timeout=60, what="the replacement"
    )
    write_pod_status(control_plane, namespace, second["metadata"]["name"], probe_failing(second))

    # Watched until the replacement is older than the grace period and looked at since: what the
    # status says all along, young and old, and once nothing needs the status's word any more.
    seen: set[tuple[str, str]] = set()
    old_since: list[int] = []

    def looked_at_old() -> bool:
        found = condition(control_plane.get("agentosconfig", "demo", namespace), "Ready")
        seen.add((found.get("reason", ""), found.get("message", "")))
        if not old_since and age(second) >= grace + 1:
            old_since.append(control_plane.audit_mark())
        return bool(old_since) and pod_lists(installed, old_since[0]) >= 1

    eventually(looked_at_old, timeout=grace + 60, what="a look at the replacement, older than the grace period")
    assert seen == {said}, "the status said PodsNotReady all along, never forgetting it meanwhile"
    assert condition(control_plane.get("agentosconfig", "demo", namespace), "Ready")["message"] == said[1]
    assert warnings_about(control_plane, namespace, "demo") == [said], "one Warning for the one cause"
    assert pod_lists(installed, mark) >= 3, "the replacement was looked at, young too"
    assert installed.refused() == []
