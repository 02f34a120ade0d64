"""An edit rolled out by the real Deployment and ReplicaSet controllers: the pods of the new spec
start beside the old one (maxSurge 1, maxUnavailable 0), which serves until they are ready.

The pure rules (tests/operator/kopf/test_conditions.py) say Ready is never True in the middle of
a rolling update; here the controllers write the Deployment's status in their own order, and
every version of the resource the API server stored is read back from a watch, so a Ready=True
for the new generation that lasted only until the next write is seen too. kwok leaves the status
of pods annotated ``kwok.x-k8s.io/status=custom`` to the test: the new pod stays unready until
the test writes it ready, as its kubelet would.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.cluster.conftest import (
    BIN,
    POSTGRES,
    ControlPlane,
    InstallOperator,
    agentos_body,
    condition,
    eventually,
    operator_running,
    wait_settled,
    wait_until_condition,
    warnings_about,
)
from tests.cluster.test_pods_not_ready import write_pod_status

KUBELET_WRITTEN = {"kwok.x-k8s.io/status": "custom"}


@contextmanager
def versions_of(cluster: ControlPlane, namespace: str, name: str, sink: Path) -> Iterator[list[dict[str, Any]]]:
    """Every version of the AgentOSConfig ``name`` the API server stores while the block runs,
    from a ``kubectl get --watch`` (filled in when the block ends)."""
    seen: list[dict[str, Any]] = []
    with sink.open("wb") as out:
        watch = subprocess.Popen(
            [str(BIN / "kubectl"), "--kubeconfig", str(cluster.kubeconfig), "get", "agentosconfig", name]
            + ["-n", namespace, "--watch", "--output-watch-events", "-o", "json"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # The watch's first event is the resource as it is now: from then on, nothing is missed.
        eventually(lambda: sink.stat().st_size > 0, what="the watch started")
        yield seen
    finally:
        watch.terminate()
        watch.wait(timeout=10)
        text, decoder, at = sink.read_text(), json.JSONDecoder(), 0
        while text[at:].strip():
            at += len(text[at:]) - len(text[at:].lstrip())
            event, at = decoder.raw_decode(text, at)
            seen.append(event["object"])


def ready_for(body: dict[str, Any], generation: int) -> bool:
    """Whether this version of the resource says Ready=True of ``generation``."""
    status = body.get("status") or {}
    return status.get("observedGeneration") == generation and condition(body, "Ready").get("status") == "True"


def runtime_pods(cluster: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    pods = cluster.items("pods", namespace, "-l", "app.kubernetes.io/instance=demo")
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def ready_status(pod: dict[str, Any]) -> dict[str, Any]:
    """The status a kubelet writes once the runtime container runs and passes its readiness probe."""
    started = pod["metadata"]["creationTimestamp"]
    running = {
        "name": "agentos",
        "ready": True,
        "started": True,
        "restartCount": 0,
        "image": pod["spec"]["containers"][0]["image"],
        "imageID": "",
        "state": {"running": {"startedAt": started}},
    }
    ready = [{"type": t, "status": "True", "lastTransitionTime": started} for t in ("Ready", "ContainersReady")]
    return {"phase": "Running", "conditions": ready, "containerStatuses": [running], "startTime": started}


def test_an_edit_is_not_ready_until_its_new_pod_is_and_the_old_one_serves_meanwhile(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator, tmp_path: Path
) -> None:
    installed, operator = operator_running(
        control_plane, namespace, install_operator, postgres=True, env={"AGENTOS_PODS_GRACE_SECONDS": "1"}
    )
    control_plane.apply(agentos_body("demo", databases=POSTGRES), namespace)
    wait_settled(control_plane, namespace, "demo")
    [old] = runtime_pods(control_plane, namespace)

    with versions_of(control_plane, namespace, "demo", tmp_path / "rolling.json") as rolling:
        # The edit's pod is written ready by the test only (below): until then the rollout goes on.
        control_plane.apply(agentos_body("demo", databases=POSTGRES, podAnnotations=KUBELET_WRITTEN), namespace)

        def new_pod() -> dict[str, Any] | None:
            found = [
                p for p in runtime_pods(control_plane, namespace) if p["metadata"]["name"] != old["metadata"]["name"]
            ]
            return found[0] if found and found[0]["spec"].get("nodeName") else None

        new = eventually(new_pod, timeout=60, what="the new spec's pod, scheduled beside the old one")
        wait_until_condition(control_plane, namespace, "Ready", reason="RolloutInProgress", status="False", timeout=60)

        def counted_by_the_controller() -> dict[str, Any]:
            # Said first, before the Deployment controller saw the edit: "the latest spec not yet seen";
            # then "0 of 1 on the latest spec" until its status counts the new pod (which already exists).
            ready = condition(control_plane.get("agentosconfig", "demo", namespace), "Ready")
            return ready if "1 of 1 on the latest spec" in str(ready.get("message")) else {}

        progressing = eventually(counted_by_the_controller, what="the new pod counted by the Deployment controller")
        assert progressing["reason"] == "RolloutInProgress"
        body = control_plane.get("agentosconfig", "demo", namespace)
        assert body is not None and body["status"]["observedGeneration"] == 2
        assert condition(body, "Progressing")["status"] == "True"
        assert (
            progressing["message"] == "1 of 1 pods ready, 1 of 1 on the latest spec: the previous pods serve meanwhile"
        )
        # Looked at again and again while the new pod starts (its pods are listed past the grace period).
        for _ in range(3):
            operator.resynced(1)
        assert control_plane.get("pod", old["metadata"]["name"], namespace) is not None, "the old pod serves"

    assert rolling, "the watch saw the resource"
    assert not [v["metadata"]["resourceVersion"] for v in rolling if ready_for(v, 2)], (
        "Ready=True for the edit while its pod had not even started"
    )
    assert condition(control_plane.get("agentosconfig", "demo", namespace), "Ready") == progressing
    assert warnings_about(control_plane, namespace, "demo") == [], "a rollout under way is no trouble"

    with versions_of(control_plane, namespace, "demo", tmp_path / "done.json") as done:
        write_pod_status(control_plane, namespace, new["metadata"]["name"], ready_status(new))
        after = wait_settled(control_plane, namespace, "demo", timeout=90)
        pods = runtime_pods(control_plane, namespace)

    assert [p["metadata"]["name"] for p in pods] == [new["metadata"]["name"]], "the old pod is gone"
    assert after["status"]["observedGeneration"] == 2
    first_ready = next(v for v in done if ready_for(v, 2))
    assert (first_ready["status"]["replicas"], first_ready["status"]["readyReplicas"]) == (1, 1), (
        "Ready only once the old pod left: a rolling update is done when no pod of the old spec is left"
    )
    assert condition(after, "Ready")["reason"] == "Available"
    assert installed.refused() == []
