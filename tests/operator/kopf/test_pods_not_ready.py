"""Pods that exist but do not become ready: the operator looks at them, without watching them,
once they could have been ready, and looks again later, as nothing it watches tells when a pod
starts crashing; a ready resource, and one whose pods are simply starting, are never looked at.

The pods' and the Deployment's statuses are injected as the kubelet and the Deployment
controller write them (tests/cluster/test_pods_not_ready.py has the real scheduler do it).
"""

from __future__ import annotations

import datetime
from typing import Any

from tests.operator.kopf.conftest import DEPLOYMENTS, Cluster, StartOperator, eventually

PODS = "v1/pods"


def stamp(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


async def stuck_rollout(cluster: Cluster, name: str, *, progressed: datetime.datetime) -> None:
    """The Deployment as its controller reports one pod updated and not ready, progress last made at ``progressed``."""
    deployment = cluster.get(DEPLOYMENTS, name)
    assert deployment is not None
    moved = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
    moved |= {"lastUpdateTime": stamp(progressed), "lastTransitionTime": stamp(progressed)}
    status = {"observedGeneration": deployment["metadata"]["generation"], "replicas": 1, "updatedReplicas": 1}
    await cluster.api.patch(
        DEPLOYMENTS, "ns1", name, {"status": {**status, "conditions": [moved]}}, subresource="status"
    )


async def stuck_beside_previous_pods(
    cluster: Cluster, name: str, *, serving: int, progressed: datetime.datetime
) -> None:
    """The Deployment as its controller reports a rollout of one replica: its pod of the latest
    spec not ready, beside ``serving`` available pods of the previous spec; progress last made at ``progressed``."""
    deployment = cluster.get(DEPLOYMENTS, name)
    assert deployment is not None
    moved = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
    moved |= {"lastUpdateTime": stamp(progressed), "lastTransitionTime": stamp(progressed)}
    counts = {"replicas": 2, "updatedReplicas": 1, "readyReplicas": serving, "availableReplicas": serving}
    status = {"observedGeneration": deployment["metadata"]["generation"], **counts, "conditions": [moved]}
    await cluster.api.patch(DEPLOYMENTS, "ns1", name, {"status": status}, subresource="status")


async def pod_of(
    cluster: Cluster, name: str, pod_name: str, container: dict[str, Any], *, replica_set: str | None = None
) -> None:
    """A pod ``pod_name`` of ``name``'s Deployment, its runtime container's status as the kubelet
    writes it (``container``); the pod ready as that container is; ``replica_set``: controlling it."""
    deployment = cluster.get(DEPLOYMENTS, name)
    assert deployment is not None
    labels = deployment["spec"]["selector"]["matchLabels"]
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod_name, "labels": labels},
        "spec": {"containers": [{"name": "agentos", "image": "registry.example/agentos-runtime:test"}]},
    }
    if replica_set is not None:
        owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set, "uid": f"{replica_set}-uid"}
        body["metadata"]["ownerReferences"] = [{**owner, "controller": True, "blockOwnerDeletion": True}]
    await cluster.api.create(PODS, body, namespace="ns1")
    ready = {"type": "Ready", "status": "True" if container["ready"] else "False"}
    status = {"phase": "Running", "conditions": [ready], "containerStatuses": [{"name": "agentos", **container}]}
    await cluster.api.patch(PODS, "ns1", pod_name, {"status": status}, subresource="status")


async def crashing_pod(cluster: Cluster, name: str, *, replica_set: str | None = None) -> None:
    """A pod of ``name``'s Deployment whose runtime container keeps being killed for memory
    (``replica_set``: controlling it)."""
    crash = {
        "image": "registry.example/agentos-runtime:test",
        "ready": False,
        "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s restarting failed container"}},
        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
    }
    await pod_of(cluster, name, f"{name}-5d8f7-k2x9q", crash, replica_set=replica_set)


async def ready_pods(cluster: Cluster, name: str, count: int) -> None:
    """``count`` ready pods of ``name``'s Deployment (created before any other, they are listed first)."""
    for number in range(count):
        running = {"ready": True, "restartCount": 0, "state": {"running": {}}}
        await pod_of(cluster, name, f"{name}-5d8f7-ready{number:03d}", running)


async def unready_pod(cluster: Cluster, name: str, pod_name: str) -> None:
    """A pod of ``name``'s Deployment whose runtime container runs but fails its readiness probe."""
    await pod_of(cluster, name, pod_name, {"ready": False, "restartCount": 0, "state": {"running": {}}})


def pod_lists(cluster: Cluster, mark: int) -> int:
    return sum(1 for r in cluster.api.requests_since(mark) if r.url.path.endswith("/pods"))


async def test_a_crash_loop_nothing_announces_is_found_by_a_later_look_told_once_and_not_written_again(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator(pods_grace_seconds=0.5)  # resyncs (60 s) play no part
    await cluster.create_agentos("demo")
    await eventually(lambda: cluster.get(DEPLOYMENTS, "demo"), what="the Deployment")
    await crashing_pod(cluster, "demo")

    # The last event the resource gets: its rollout progressing just now, pods not ready yet.
    await stuck_rollout(cluster, "demo", progressed=now())

    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "CrashLoopBackOff", what="the look")
    ready = cluster.condition("demo", "Ready")
    assert ready["status"] == "False"
    assert ready["message"] == (
        "container 'agentos' keeps crashing (CrashLoopBackOff; it last ended OOMKilled, exit code 137): "
        "it needs more memory than its limit: raise spec.resources.limits.memory"
    )
    assert cluster.condition("demo", "Degraded")["reason"] == "CrashLoopBackOff"
    assert cluster.condition("demo", "Stalled")["status"] == "False"

    def warnings() -> list[tuple[str, str]]:
        return [(e["reason"], e["message"]) for e in cluster.events_about("demo") if e["type"] == "Warning"]

    await eventually(lambda: warnings() == [("CrashLoopBackOff", ready["message"])], what="one Warning")
    # Looked at again and again (up to error_retry_max_seconds apart), each look writing nothing.
    # (Counted by the LISTs themselves: a reconcile under way when the mark is taken may have listed before it.)
    mark = cluster.api.mark()
    await eventually(lambda: pod_lists(cluster, mark) >= 3, what="three more looks")
    assert cluster.api.writes_since(mark) == []
    assert warnings() == [("CrashLoopBackOff", ready["message"])]

    await cluster.roll_out("demo")

    await eventually(lambda: cluster.condition("demo", "Ready").get("status") == "True", what="Ready")
    assert cluster.condition("demo", "Degraded")["status"] == "False"


async def test_a_crashing_pod_listed_after_many_ready_ones_is_found_in_a_later_page(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator(pods_grace_seconds=0.5)
    await cluster.create_agentos("demo")
    await eventually(lambda: cluster.get(DEPLOYMENTS, "demo"), what="the Deployment")
    await ready_pods(cluster, "demo", 45)  # more than two pages of ready pods before it
    await crashing_pod(cluster, "demo")
    mark = cluster.api.mark()

    await stuck_rollout(cluster, "demo", progressed=now())

    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "CrashLoopBackOff", what="the look")
    pages = [r for r in cluster.api.requests_since(mark) if r.url.path.endswith("/pods")]
    assert len(pages) >= 3
    assert all(r.params.get("limit") == "20" for r in pages)
    assert any(r.params.get("continue") for r in pages)


async def test_a_look_reads_at_most_ten_pages_of_pods(cluster: Cluster, start_operator: StartOperator) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator(pods_grace_seconds=0.5)
    await cluster.create_agentos("demo")
    await eventually(lambda: cluster.get(DEPLOYMENTS, "demo"), what="the Deployment")
    await ready_pods(cluster, "demo", 230)  # eleven pages and a half
    await crashing_pod(cluster, "demo")  # beyond what a look reads
    mark = cluster.api.mark()

    await stuck_rollout(cluster, "demo", progressed=now())

    def looks() -> list[int]:
        """Pages read by each look begun since the mark (a look's first page has no ``continue``)."""
        counted: list[int] = []
        for request in cluster.api.requests_since(mark):
            if request.url.path.endswith("/pods"):
                if not request.params.get("continue"):
                    counted.append(0)
                if counted:
                    counted[-1] += 1
        return counted

    await eventually(lambda: len(looks()) >= 2, what="two looks")
    assert looks()[0] == 10
    assert cluster.condition("demo", "Ready")["reason"] == "DeploymentUnavailable"


async def test_a_pod_failing_its_probe_replaced_by_a_young_one_keeps_the_status_and_its_one_warning(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator(pods_grace_seconds=4)  # the first pod must age past it; looks come every second
    await cluster.create_agentos("demo")
    await eventually(lambda: cluster.get(DEPLOYMENTS, "demo"), what="the Deployment")
    await unready_pod(cluster, "demo", "demo-5d8f7-first")
    await stuck_rollout(cluster, "demo", progressed=now() - datetime.timedelta(hours=1))
    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "PodsNotReady", what="the look")
    said = cluster.condition("demo", "Ready")["message"]

    def warnings() -> list[str]:
        return [e["reason"] for e in cluster.events_about("demo") if e["type"] == "Warning"]

    await eventually(lambda: warnings() == ["PodsNotReady"], what="one Warning")

    # The pod is evicted and replaced: the new one, younger than the grace period, fails alike.
    # (Two looks: the status the first one wrote is in before the second begins.)
    await cluster.api.delete(PODS, "ns1", "demo-5d8f7-first")
    await unready_pod(cluster, "demo", "demo-5d8f7-second")
    mark = cluster.api.mark()
    await eventually(lambda: pod_lists(cluster, mark) >= 2, what="two more looks")

    assert cluster.condition("demo", "Ready")["message"] == said
    assert [r for r in cluster.api.writes_since(mark) if "agentosconfigs" in r.url.path] == []
    assert warnings() == ["PodsNotReady"]


async def test_pods_simply_starting_and_a_ready_resource_cost_no_pod_list(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    operator = start_operator(resync_seconds=0.2)  # the default grace period: 60 s
    await cluster.create_agentos("ready")
    await cluster.ready("ready")
    await cluster.create_agentos("starting")
    await eventually(lambda: cluster.get(DEPLOYMENTS, "starting"), what="the Deployment")
    await crashing_pod(cluster, "starting")  # not looked at before the grace period, whatever it says
    mark = cluster.api.mark()

    await stuck_rollout(cluster, "starting", progressed=now())

    before = operator.reconciles()
    await eventually(lambda: operator.reconciles() >= before + 6, what="three resyncs of both")
    assert cluster.condition("starting", "Ready")["reason"] == "DeploymentUnavailable"
    assert cluster.condition("ready", "Ready")["reason"] == "Available"
    assert pod_lists(cluster, mark) == 0


async def test_a_stuck_rollout_whose_previous_pods_come_and_go_is_told_once_and_its_status_follows_them(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator(pods_grace_seconds=30)  # far longer than the test: only a rollout stuck before it is looked at
    await cluster.create_agentos("demo")
    await eventually(lambda: cluster.get(DEPLOYMENTS, "demo"), what="the Deployment")
    await crashing_pod(cluster, "demo")
    long_ago = now() - datetime.timedelta(hours=1)

    def ready() -> tuple[str, str]:
        found = cluster.condition("demo", "Ready")
        return found.get("reason", ""), found.get("message", "")

    def warnings() -> list[str]:
        return [e["reason"] for e in cluster.events_about("demo") if e["type"] == "Warning"]

    await stuck_beside_previous_pods(cluster, "demo", serving=1, progressed=long_ago)
    cause = await eventually(lambda: ready()[0] == "CrashLoopBackOff" and ready()[1], what="the look")
    assert cause.endswith("; the previous pods serve meanwhile")
    cause = cause.removesuffix("; the previous pods serve meanwhile")
    await eventually(lambda: warnings() == ["CrashLoopBackOff"], what="one Warning")

    # The previous pod goes (evicted): no progress; the status says the previous pods serve no more.
    await stuck_beside_previous_pods(cluster, "demo", serving=0, progressed=long_ago)
    await eventually(lambda: ready() == ("CrashLoopBackOff", cause), what="the previous pods no longer serving")

    # Its replacement is available: progress to the Deployment controller, made within the grace
    # period; the status, which said why, is looked at again at once and keeps saying it.
    await stuck_beside_previous_pods(cluster, "demo", serving=1, progressed=now())
    await eventually(
        lambda: ready() == ("CrashLoopBackOff", f"{cause}; the previous pods serve meanwhile"),
        what="the previous pods serving again",
    )
    # The Event goes out beside the status write: the next look begins once that reconcile ended.
    mark = cluster.api.mark()
    await eventually(lambda: pod_lists(cluster, mark) >= 1, what="the next look")

    assert warnings() == ["CrashLoopBackOff"]


async def test_the_previous_replica_sets_crashing_pod_is_not_blamed_on_the_latest_spec(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """A rollout that mends a crash (more memory): the previous spec's pod crashes on beside the
    new one that starts; the status says the rollout goes on, not that the new spec crashes."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator(pods_grace_seconds=5)  # the new pod, just made, is still being created
    await cluster.create_agentos("demo")
    await eventually(lambda: cluster.get(DEPLOYMENTS, "demo"), what="the Deployment")
    await crashing_pod(cluster, "demo", replica_set="demo-5d8f7")
    starting = {"ready": False, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}
    await pod_of(cluster, "demo", "demo-6c4b9-p7z2m", starting, replica_set="demo-6c4b9")
    deployment = cluster.get(DEPLOYMENTS, "demo")
    assert deployment is not None
    moved = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
    progressed = now() - datetime.timedelta(minutes=1)  # past the grace: looked at now
    moved |= {"message": 'ReplicaSet "demo-6c4b9" is progressing.', "lastUpdateTime": stamp(progressed)}
    counts = {"replicas": 2, "updatedReplicas": 1, "readyReplicas": 0, "availableReplicas": 0}
    status = {"observedGeneration": deployment["metadata"]["generation"], **counts, "conditions": [moved]}
    mark = cluster.api.mark()

    await cluster.api.patch(DEPLOYMENTS, "ns1", "demo", {"status": status}, subresource="status")

    await eventually(lambda: pod_lists(cluster, mark) >= 2, what="two looks at the pods")
    assert cluster.condition("demo", "Ready")["reason"] == "DeploymentUnavailable"
    assert [e for e in cluster.events_about("demo") if e["type"] == "Warning"] == []
