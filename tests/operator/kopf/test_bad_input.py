"""A refusal that goes away is reported, then retried until it passes.

What a real API server refuses (tests/cluster/test_quiet_and_safe.py) it refuses every time; the
rest of bad input (an invalid spec, a missing Secret or key, a child's name taken, a paused
resource, Secret values kept out of sight) is tested against one: tests/cluster/test_ported_bad_input.py.
"""

from __future__ import annotations

from typing import Any

from agentos_operator.kube.client import ETCD_TOO_LARGE

from tests.operator.kopf.conftest import (
    DEPLOYMENTS,
    SECRETS,
    Cluster,
    StartOperator,
    eventually,
)


async def test_a_write_the_api_server_rejects_is_reported_and_retried(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """Injected: three 422s at the Deployment's write, then none: a real API server refuses the same spec every time.

    Refused at its dry run, the resource leaves nothing written, its generated security key included."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    cluster.api.fail_next(422, verb="patch", plural="deployments", times=3)
    operator = start_operator()
    await cluster.create_agentos("demo")

    # The first write judged is the dry run: refused, it stops the reconcile before any real write.
    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "ChildRejected", what="rejected")
    message = cluster.condition("demo", "Ready")["message"]
    assert message == "the API server refuses Deployment 'demo': injected fault 422: fix the spec"
    assert cluster.get(DEPLOYMENTS, "demo") is None
    assert cluster.get(SECRETS, "demo-security-key", "ns1") is None  # not even the generated key

    await cluster.ready("demo")
    assert operator.reconciles("blocked") >= 1


async def test_a_status_the_api_server_will_not_store_is_told_in_an_event_and_not_retried(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """Injected: etcd's refusal of every status write, as for a resource at its size limit."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    cluster.api.fail_next(500, verb="patch", plural="agentosconfigs", times=100, message=ETCD_TOO_LARGE)
    operator = start_operator()
    await cluster.create_agentos("demo")

    def refused() -> list[dict[str, Any]]:
        return [e for e in cluster.events_about("demo") if e["reason"] == "StatusRefused"]

    told = await eventually(refused, what="the StatusRefused event")
    assert told[0]["type"] == "Warning"
    assert told[0]["message"] == f"the status cannot be written: {ETCD_TOO_LARGE}: make the spec smaller"
    assert operator.reconciles("invalid") >= 1, "waits for an edit instead of retrying"
