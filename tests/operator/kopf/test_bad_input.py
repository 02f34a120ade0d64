"""A refusal that goes away is reported, then retried until it passes.

What a real API server refuses (tests/cluster/test_quiet_and_safe.py) it refuses every time; the
rest of bad input (an invalid spec, a missing Secret or key, a child's name taken, a paused
resource, Secret values kept out of sight) is tested against one: tests/cluster/test_ported_bad_input.py.
"""

from __future__ import annotations

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
