"""A look at a resource's pods reads them in pages, on a real control plane's continue tokens.

The operator lists a stuck rollout's pods 20 at a time (``pods.SAMPLE``; no setting changes it)
and reads the next page, by the API server's ``continue`` token, until it has found enough
unready pods or the list ends: a pod in trouble behind a page of ready ones is still found and
told. kwok runs no container, so the pods' statuses are written here as kubelets would (kwok
leaves pods annotated ``kwok.x-k8s.io/status=custom`` alone): all ready but the one listed last,
which crash-loops. The API server lists by name, so that one is on the second page.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.cluster.conftest import (
    POSTGRES,
    ControlPlane,
    InstallOperator,
    agentos_body,
    condition,
    eventually,
    operator_running,
    wait_until_condition,
    warnings_about,
)
from tests.cluster.test_competing_writers import admin

REPLICAS = 25  # a page of 20 and a second one
PAGE = 20


def scheduled(cluster: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    """The runtime pods of ``demo`` the scheduler placed, by name (the order the API server lists them in)."""
    pods = cluster.items("pods", namespace, "-l", "app.kubernetes.io/instance=demo")
    placed = [pod for pod in pods if pod["spec"].get("nodeName")]
    return sorted(placed, key=lambda pod: str(pod["metadata"]["name"]))


def container(pod: dict[str, Any], **fields: Any) -> dict[str, Any]:
    base = {"name": "agentos", "image": pod["spec"]["containers"][0]["image"], "imageID": "", "restartCount": 0}
    return {**base, **fields}


def ready(pod: dict[str, Any]) -> dict[str, Any]:
    running = container(
        pod, ready=True, started=True, state={"running": {"startedAt": pod["metadata"]["creationTimestamp"]}}
    )
    conditions = [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}]
    return {"phase": "Running", "conditions": conditions, "containerStatuses": [running]}


def crash_looping(pod: dict[str, Any]) -> dict[str, Any]:
    waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}}
    crash = container(
        pod, ready=False, restartCount=3, state=waiting, lastState={"terminated": {"reason": "Error", "exitCode": 3}}
    )
    return {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}], "containerStatuses": [crash]}


def test_a_crash_loop_on_the_second_page_of_pods_is_found_by_the_continue_token(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, _ = operator_running(
        control_plane, namespace, install_operator, env={"AGENTOS_PODS_GRACE_SECONDS": "1"}, postgres=True
    )
    kubelet_written = {"kwok.x-k8s.io/status": "custom"}
    control_plane.apply(
        agentos_body("demo", databases=POSTGRES, replicas=REPLICAS, podAnnotations=kubelet_written), namespace
    )
    pods = eventually(
        lambda: (found := scheduled(control_plane, namespace)) and len(found) == REPLICAS and found,
        timeout=120,
        what=f"{REPLICAS} pods scheduled",
    )
    *first, last = pods
    assert len(first) >= PAGE, "the crashing pod is listed after a whole page"

    mark = control_plane.audit_mark()
    server, context = admin(control_plane)
    for pod, status in [*((pod, ready(pod)) for pod in first), (last, crash_looping(last))]:
        url = f"{server}/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}/status"
        body = json.dumps({"status": status}).encode()
        request = urllib.request.Request(
            url, data=body, method="PATCH", headers={"Content-Type": "application/merge-patch+json"}
        )
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            response.read()

    said = wait_until_condition(control_plane, namespace, "Ready", reason="CrashLoopBackOff", timeout=120)

    assert said["status"] == "False"
    assert said["message"].startswith("container 'agentos' keeps crashing (CrashLoopBackOff; it last ended Error")
    assert last["metadata"]["name"] not in said["message"]
    body = control_plane.get("agentosconfig", "demo", namespace)
    assert condition(body, "Degraded")["reason"] == "CrashLoopBackOff"
    lists = [
        request["requestURI"]
        for request in installed.requests(mark)
        if request["verb"] == "list" and request.get("objectRef", {}).get("resource") == "pods"
    ]
    assert lists and all(f"limit={PAGE}" in uri for uri in lists), lists
    assert any("continue=" in uri for uri in lists), f"no second page was read: {lists}"
    told = eventually(lambda: warnings_about(control_plane, namespace, "demo"), timeout=60, what="a Warning")
    assert ("CrashLoopBackOff", said["message"]) in told
    assert installed.refused() == []
