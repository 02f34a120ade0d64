"""A refusal that goes away is reported, then retried until it passes.

What a real API server refuses (tests/cluster/test_quiet_and_safe.py) it refuses every time; the
rest of bad input (an invalid spec, a missing Secret or key, a child's name taken, a paused
resource, Secret values kept out of sight) is tested against one: tests/cluster/test_ported_bad_input.py.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest
from agentos_operator.kube.client import ETCD_TOO_LARGE, ApiError
from agentos_operator.reconcile import TRANSIENT_NOTE, Context, _failing_for_now
from agentos_operator.render import DEFAULT_RUNTIME_IMAGE
from agentos_operator.settings import OperatorSettings

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
    assert (
        message
        == "the API server refuses Deployment 'demo': injected fault 422: fix the spec; until then no child is written"
    )
    assert cluster.get(DEPLOYMENTS, "demo") is None
    assert cluster.get(SECRETS, "demo-security-key", "ns1") is None  # not even the generated key

    await cluster.ready("demo")
    assert operator.reconciles("blocked") >= 1


async def test_a_refused_child_names_its_own_faulty_fields_not_those_of_other_children(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """Injected: the API server's refusal of the Service (a real one refuses a range that is no CIDR,
    tests/cluster/test_service_settings.py). The pods' bad annotation key is the Deployment's fault,
    not the Service's: it is not offered as the fix of the Service's refusal."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    cluster.api.fail_next(422, verb="patch", plural="services", times=100)
    start_operator()
    service = {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.1"]}
    await cluster.create_agentos("demo", service=service, podAnnotations={"bad key!": "x"})

    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "ChildRejected", what="rejected")
    message = cluster.condition("demo", "Ready")["message"]
    assert message.startswith("the API server refuses Service 'demo': injected fault 422: fix spec.service.")
    assert "loadBalancerSourceRanges[0]: '10.0.0.1' is not a CIDR" in message
    assert "podAnnotations" not in message


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
    await eventually(lambda: operator.reconciles("invalid") >= 1, what="the reconcile waiting for an edit")


RBAC_REFUSAL = (
    'deployments.apps "demo" is forbidden: User "system:serviceaccount:ops:agentos" cannot patch resource'
    ' "deployments" in API group "apps" in the namespace "ns1"'
)


async def test_a_few_403s_as_from_an_api_server_still_reading_its_rbac_are_retried_quietly(
    cluster: Cluster, start_operator: StartOperator, caplog: pytest.LogCaptureFixture
) -> None:
    """Injected: three 403s at the Deployment's dry run, as an API server that just restarted answers."""
    caplog.set_level(logging.INFO)
    await cluster.create_secret("openai", api_key="sk-test-1")
    cluster.api.fail_next(403, verb="patch", plural="deployments", times=3, message=RBAC_REFUSAL)
    start_operator()
    await cluster.create_agentos("demo")

    await cluster.ready("demo")
    assert [(e["reason"], e["message"]) for e in cluster.events_about("demo") if e["type"] == "Warning"] == []
    refused = [r for r in caplog.records if "reported if still so after 30 s" in r.getMessage()]
    assert len(refused) == 3 and {r.levelname for r in refused} == {"INFO"}
    assert [r for r in caplog.records if r.name.startswith("agentos") and r.levelno >= logging.WARNING] == []


def test_failures_that_may_pass_are_reported_once_they_have_lasted_the_grace_period() -> None:
    now = [100.0]
    ctx = Context(
        api=cast(Any, None),
        store=cast(Any, None),
        settings=OperatorSettings(failure_grace_seconds=30),
        logger=logging.getLogger("test"),
        monotonic=lambda: now[0],
    )
    forbidden = ApiError(verb="patch", path="/x", status=403, reason="Forbidden", message="cannot patch")
    webhook = ApiError(verb="patch", path="/x", status=500, reason="InternalError", message=WEBHOOK_DOWN)
    other = ApiError(verb="patch", path="/x", status=422, reason="Invalid", message="bad")

    assert _failing_for_now(ctx, ("ns1", "demo"), forbidden)
    assert _failing_for_now(ctx, ("ns1", "hooked"), webhook)
    now[0] += 29
    assert _failing_for_now(ctx, ("ns1", "demo"), forbidden), "still within the grace"
    assert _failing_for_now(ctx, ("ns1", "hooked"), webhook), "still within the grace"
    assert not _failing_for_now(ctx, ("ns1", "other"), other), "only failures that may pass"
    now[0] += 1
    assert not _failing_for_now(ctx, ("ns1", "demo"), forbidden), "reported once it lasts"
    assert not _failing_for_now(ctx, ("ns1", "hooked"), webhook), "reported once it lasts"


WEBHOOK_DOWN = (
    'Internal error occurred: failed calling webhook "validate.policy.example": failed to call webhook: '
    'Post "https://policy.policy-system.svc:443/validate?timeout=10s": dial tcp 10.96.0.12:443: connect: '
    "connection refused"
)


async def test_an_admission_webhook_that_keeps_failing_is_said_in_the_status_and_retried_until_it_answers(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """Injected: the API server's 500 for every write of the Deployment while a webhook it must
    call (failurePolicy Fail) does not answer."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    webhook = cluster.api.fail_next(500, verb="patch", plural="deployments", times=10_000, message=WEBHOOK_DOWN)
    start_operator(failure_grace_seconds=0.5)
    await cluster.create_agentos("demo")

    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "ApplyFailed", what="reported")
    message = cluster.condition("demo", "Ready")["message"]
    assert WEBHOOK_DOWN in message and message.endswith(TRANSIENT_NOTE)
    mark = cluster.api.mark()

    def deployment_writes() -> int:
        return sum(1 for r in cluster.api.requests_since(mark) if r.url.path.endswith("/deployments/demo"))

    await eventually(lambda: deployment_writes() >= 4, what="more retries")
    warnings = [e for e in cluster.events_about("demo") if e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == ["ApplyFailed"]  # told once, not at each retry

    webhook.times = 0  # the webhook answers again

    await cluster.ready("demo")


async def test_a_namespace_being_deleted_is_waited_out_without_a_warning_per_retry(
    cluster: Cluster, start_operator: StartOperator, caplog: pytest.LogCaptureFixture
) -> None:
    """Injected: the API server's refusal of new objects in a namespace being deleted."""
    terminating = 'configmaps "demo-config" is forbidden: unable to create new content in namespace ns1 because it is being terminated'
    caplog.set_level(logging.INFO)
    await cluster.create_secret("openai", api_key="sk-test-1")
    cluster.api.fail_next(403, verb="patch", plural="configmaps", times=3, message=terminating)
    start_operator()
    await cluster.create_agentos("demo")

    await cluster.ready("demo")
    waited = [r for r in caplog.records if "waits for its namespace to be deleted" in r.getMessage()]
    assert waited and all(r.levelname == "INFO" for r in waited)
    assert not [r for r in caplog.records if r.levelname == "WARNING" and "being terminated" in r.getMessage()]


WITH_OWN_TOOL = [{"id": "assistant", "model": "gpt-4o-mini", "tools": ["weather"]}]


@pytest.mark.parametrize(
    ("runtime_image", "reason"),
    [
        (DEFAULT_RUNTIME_IMAGE, "InvalidSpec"),
        ("registry.example.com/team/runtime-with-tools:1.2", "DeploymentUnavailable"),
    ],
    ids=["the-bundled-image", "a-team-image"],
)
async def test_a_tool_of_the_runtime_image_the_operator_defaults_to_is_no_fault(
    cluster: Cluster, start_operator: StartOperator, runtime_image: str, reason: str
) -> None:
    """The chart's runtimeImage names the image resources naming none run: its tools are its runtime's to check."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator(runtime_image=runtime_image)
    await cluster.create_agentos("demo", agents=WITH_OWN_TOOL)

    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == reason, what=reason)
    if runtime_image == DEFAULT_RUNTIME_IMAGE:
        assert "spec.agents[0].tools[0]: unknown tool 'weather'" in cluster.condition("demo", "Ready")["message"]
    else:
        deployment = cluster.get(DEPLOYMENTS, "demo")
        assert deployment is not None
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == runtime_image
