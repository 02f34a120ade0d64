"""Level-triggered: a Deployment's progress reaches the status without any edit of the resource.

The rest of drift (children restored, pruned, held to the spec, no write on a no-op resync) is
tested against a real API server: tests/cluster/test_lifecycle.py, test_quiet_and_safe.py and
test_ported_drift.py.
"""

from __future__ import annotations

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
