"""Level-triggered: a Deployment's progress, and what stops it, reach the status without any edit of the resource.

The rest of drift (children restored, pruned, held to the spec, no write on a no-op resync) is
tested against a real API server: tests/cluster/test_lifecycle.py, test_quiet_and_safe.py and
test_ported_drift.py.
"""

from __future__ import annotations

import datetime

from tests.operator.kopf.conftest import (
    AGENTOS,
    DEPLOYMENTS,
    Cluster,
    StartOperator,
    eventually,
)


async def test_deployment_progress_reaches_the_status_without_any_edit(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """Injected: the Deployment's status, written at chosen moments as its controller would (1 of 3 pods
    ready, then 3): real controllers pass through a partial rollout too fast to hold it and look."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    await cluster.create_secret("redis", url="redis://redis.ns1.svc:6379/0")
    start_operator()
    redis = {"id": "redis-db", "type": "redis", "urlSecretRef": {"name": "redis", "key": "url"}}
    await cluster.create_agentos("demo", replicas=3, databases=[redis])
    await eventually(lambda: cluster.get(DEPLOYMENTS, "demo"))
    generation = cluster.get(DEPLOYMENTS, "demo")["metadata"]["generation"]  # type: ignore[index]
    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "DeploymentUnavailable")

    status = {
        "replicas": 3,
        "readyReplicas": 1,
        "availableReplicas": 1,
        "updatedReplicas": 3,
        "observedGeneration": generation,
    }
    await cluster.api.patch(DEPLOYMENTS, "ns1", "demo", {"status": status}, subresource="status")

    await eventually(lambda: cluster.agentos("demo")["status"].get("readyReplicas") == 1, what="1 ready replica")
    ready = cluster.condition("demo", "Ready")
    assert (ready["status"], ready["message"]) == ("False", "1 of 3 pods ready")
    assert cluster.condition("demo", "Progressing")["reason"] == "RolloutInProgress"
    await cluster.roll_out("demo")
    await eventually(lambda: cluster.condition("demo", "Ready").get("status") == "True")
    assert cluster.agentos("demo")["status"]["readyReplicas"] == 3
    assert cluster.get(AGENTOS, "demo")["metadata"]["generation"] == 1  # type: ignore[index]


QUOTA = 'pods "demo-6f769fbb96-zxw22" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0'


async def test_pods_the_cluster_refuses_are_said_once_and_resyncs_write_nothing_until_they_come(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """Injected: the Deployment's status as its controller writes it when a ResourceQuota refuses
    every pod (tests/cluster/test_pods_refused.py has the real controller do it)."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    operator = start_operator(resync_seconds=0.2)
    await cluster.create_agentos("demo")
    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "DeploymentUnavailable")
    generation = cluster.get(DEPLOYMENTS, "demo")["metadata"]["generation"]  # type: ignore[index]
    refused = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": QUOTA}
    status = {"observedGeneration": generation, "conditions": [refused]}

    await cluster.api.patch(DEPLOYMENTS, "ns1", "demo", {"status": status}, subresource="status")

    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "PodsNotCreated")
    assert "exceeded quota: q" in cluster.condition("demo", "Ready")["message"]
    assert cluster.condition("demo", "Degraded")["reason"] == "PodsNotCreated"

    def warnings() -> list[str]:
        return [e["reason"] for e in cluster.events_about("demo") if e["type"] == "Warning"]

    await eventually(lambda: warnings() == ["PodsNotCreated"], what="one PodsNotCreated warning")
    mark, before = cluster.api.mark(), operator.reconciles()
    await eventually(lambda: operator.reconciles() >= before + 3, what="three resyncs")
    assert cluster.api.writes_since(mark) == []
    assert warnings() == ["PodsNotCreated"]

    await cluster.api.patch(DEPLOYMENTS, "ns1", "demo", {"status": {"conditions": []}}, subresource="status")
    await cluster.roll_out("demo")

    await eventually(lambda: cluster.condition("demo", "Ready").get("status") == "True")
    assert cluster.condition("demo", "Degraded")["status"] == "False"
    assert cluster.get(AGENTOS, "demo")["metadata"]["generation"] == 1  # type: ignore[index]


NO_DEFAULT_ACCOUNT = (
    'pods "demo-6f769fbb96-ll2mz" is forbidden: error looking up service account ns1/default: '
    'serviceaccount "default" not found'
)


async def refuse_pods_since_now(cluster: Cluster, message: str) -> None:
    """The Deployment's status as its controller writes it when the cluster refuses its pods, from now."""
    generation = cluster.get(DEPLOYMENTS, "demo")["metadata"]["generation"]  # type: ignore[index]
    now = datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    refused = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": message}
    refused |= {"lastUpdateTime": now, "lastTransitionTime": now}
    status = {"observedGeneration": generation, "conditions": [refused]}
    await cluster.api.patch(DEPLOYMENTS, "ns1", "demo", {"status": status}, subresource="status")


async def test_a_resource_applied_with_its_namespace_waits_for_the_default_service_account_without_a_warning(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """The ServiceAccount controller makes a namespace's default ServiceAccount a moment after the
    namespace; pods refused meanwhile are a rollout in progress, not a Warning."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    operator = start_operator(pods_grace_seconds=30)
    await cluster.create_agentos("demo")
    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "DeploymentUnavailable")
    before = operator.reconciles()

    await refuse_pods_since_now(cluster, NO_DEFAULT_ACCOUNT)

    await eventually(lambda: operator.reconciles() > before, what="a reconcile of the refused rollout")
    assert cluster.condition("demo", "Ready")["reason"] == "DeploymentUnavailable"
    assert cluster.condition("demo", "Degraded")["status"] == "False"
    await cluster.api.patch(DEPLOYMENTS, "ns1", "demo", {"status": {"conditions": []}}, subresource="status")
    await cluster.roll_out("demo")
    await eventually(lambda: cluster.condition("demo", "Ready").get("status") == "True")
    assert [e["reason"] for e in cluster.events_about("demo") if e["type"] == "Warning"] == []


async def test_a_default_service_account_kubernetes_does_not_make_is_said_once_the_grace_period_is_over(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator(pods_grace_seconds=1.0)  # resyncs (60 s) play no part: the operator looks again itself
    await cluster.create_agentos("demo")
    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "DeploymentUnavailable")

    await refuse_pods_since_now(cluster, NO_DEFAULT_ACCOUNT)

    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "PodsNotCreated", what="the refusal")
    assert (
        "wait for Kubernetes to make the namespace's default ServiceAccount"
        in cluster.condition("demo", "Ready")["message"]
    )
    await eventually(
        lambda: [e["reason"] for e in cluster.events_about("demo") if e["type"] == "Warning"] == ["PodsNotCreated"],
        what="one Warning",
    )


async def test_a_hand_scale_put_back_says_the_pods_ready_of_those_desired(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """Injected: the Deployment's status as its controller writes it when it made the pods of a
    ``kubectl scale deploy demo --replicas=3`` before it saw the operator put one back."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    was_ready = cluster.condition("demo", "Ready")

    await cluster.api.patch(DEPLOYMENTS, "ns1", "demo", {"spec": {"replicas": 3}})
    await eventually(lambda: cluster.get(DEPLOYMENTS, "demo")["spec"]["replicas"] == 1, what="put back")  # type: ignore[index]
    deployment = cluster.get(DEPLOYMENTS, "demo")
    assert deployment is not None
    counts = dict.fromkeys(("replicas", "readyReplicas", "availableReplicas", "updatedReplicas"), 3)
    status = {**counts, "observedGeneration": deployment["metadata"]["generation"]}
    await cluster.api.patch(DEPLOYMENTS, "ns1", "demo", {"status": status}, subresource="status")

    await eventually(lambda: cluster.agentos("demo")["status"].get("readyReplicas") == 3, what="3 pods seen")
    ready = cluster.condition("demo", "Ready")
    assert (ready["status"], ready["message"]) == ("True", "1 of 1 pods ready, and 2 more to be removed")
    # Ready stayed true throughout (no rollout: the same pods' template), so no new Available Event.
    assert ready["lastTransitionTime"] == was_ready["lastTransitionTime"]
    told = [e["message"] for e in cluster.events_about("demo") if e["reason"] == "Available"]
    assert told == ["1 of 1 pods ready"]
