"""The operator survives a misbehaving API server and restarts, with no lost and no duplicate child.

The faults are injected by the emulator, at chosen requests: error statuses, 429 with
``Retry-After``, connections closed before or after a write took effect, requests never
answered, answers that are not JSON, the whole server going down and coming back. A real
API server produces each of these only by chance.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tests.operator.kopf.conftest import (
    AGENTOS,
    CONFIGMAPS,
    DEPLOYMENTS,
    SECRETS,
    SERVICES,
    Cluster,
    RunningOperator,
    StartOperator,
    eventually,
)


def assert_children_exactly_once(cluster: Cluster, name: str, namespace: str = "ns1") -> None:
    """Each child exists once, owned once, by the current resource."""
    uid = cluster.agentos(name, namespace)["metadata"]["uid"]
    expected = {
        CONFIGMAPS: [f"{name}-config"],
        SECRETS: sorted([f"{name}-env", f"{name}-security-key"]),
        SERVICES: [name],
        DEPLOYMENTS: [name],
    }
    for resource, names in expected.items():
        owned = [o for o in cluster.api.list_objects(resource, namespace) if o["metadata"].get("ownerReferences")]
        owned = [o for o in owned if o["metadata"]["ownerReferences"][0]["name"] == name]
        assert sorted(o["metadata"]["name"] for o in owned) == names, resource
        for child in owned:
            assert [ref["uid"] for ref in child["metadata"]["ownerReferences"]] == [uid]


async def test_server_errors_on_writes_are_retried_until_every_child_exists(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """Injected: 500s at the Deployment's and the generated Secret's writes, 503s at the ConfigMaps' reads."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    cluster.api.fail_next(500, verb="patch", plural="deployments", times=3)
    cluster.api.fail_next(500, verb="create", plural="secrets", times=1)
    cluster.api.fail_next(503, verb="get", plural="configmaps", times=2)
    operator = start_operator()

    await cluster.create_agentos("demo")

    await cluster.ready("demo")
    assert_children_exactly_once(cluster, "demo")
    assert operator.reconciles("error") >= 1

    def created() -> list[str]:
        return cluster.children_told("demo", "Created")

    # Writes made before a failure are told once, like the ones after it.
    await eventually(lambda: "Deployment 'demo'" in created())
    assert "ConfigMap 'demo-config'" in created()
    assert sorted(created()) == sorted(set(created()))


async def test_conflicts_are_retried(cluster: Cluster, start_operator: StartOperator) -> None:
    """Injected: 409s at the ConfigMap's write and at the status write."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    cluster.api.fail_next(409, verb="patch", plural="configmaps", times=2)
    cluster.api.fail_next(409, verb="patch", plural="agentosconfigs", times=2)
    start_operator()

    await cluster.create_agentos("demo")

    await cluster.ready("demo")
    assert_children_exactly_once(cluster, "demo")


async def test_changes_made_while_the_watches_are_dropped_are_not_lost(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """Injected: every watch stream ended at once, with a Deployment deleted and the spec edited before they reopen."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")

    def watches() -> int:
        return sum(1 for r in cluster.api.requests_since(0) if r.params.get("watch") == "true")

    opened = watches()
    await cluster.api.drop_watches()
    await cluster.api.delete(DEPLOYMENTS, "ns1", "demo")
    patch = {"spec": {"agents": [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["After the drop."]}]}}
    await cluster.api.patch(AGENTOS, "ns1", "demo", patch)

    await eventually(lambda: cluster.get(DEPLOYMENTS, "demo"), what="the deleted Deployment back")
    await eventually(lambda: "After the drop." in str(cluster.get(CONFIGMAPS, "demo-config")), what="the edit applied")
    await cluster.ready("demo")
    assert_children_exactly_once(cluster, "demo")
    assert watches() > opened  # the streams really were reopened


async def test_an_operator_restarted_mid_reconcile_converges(cluster: Cluster, start_operator: StartOperator) -> None:
    """Injected: a 500 at every Deployment write, which holds the first process in the middle of its reconcile."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    cluster.api.fail_next(500, verb="patch", plural="deployments", times=10_000, dry_run=False)
    first = start_operator()
    await cluster.create_agentos("demo")
    await eventually(lambda: cluster.get(SERVICES, "demo"), what="the children before the Deployment")
    await eventually(lambda: first.reconciles("error") >= 2, what="the Deployment failing")
    assert cluster.get(DEPLOYMENTS, "demo") is None

    await first.stop()
    cluster.api.clear_faults()
    start_operator()

    await cluster.ready("demo")
    assert_children_exactly_once(cluster, "demo")


def unanswered(operator: RunningOperator) -> float:
    """How many of the operator's own requests got no usable answer (code 0), from its metrics."""
    return sum(
        sample.value
        for metric in operator.metrics.api_errors.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["code"] == "0"
    )


async def test_dropped_connections_lost_answers_timeouts_and_garbage_are_retried_until_every_child_exists_once(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """Injected: connections closed before and after a write took effect, a write never answered, a non-JSON answer."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    faults = [
        cluster.api.disconnect_next(verb="patch", plural="deployments", times=2),
        cluster.api.disconnect_next(verb="create", plural="secrets", after_write=True),  # the generated key: a POST
        cluster.api.disconnect_next(verb="patch", plural="configmaps", after_write=True),
        cluster.api.stall_next(verb="patch", plural="services"),
        cluster.api.garble_next(verb="patch", plural="agentosconfigs"),
    ]
    operator = start_operator(api_timeout_seconds=0.5)

    await cluster.create_agentos("demo")

    await cluster.ready("demo")
    assert_children_exactly_once(cluster, "demo")
    assert [len(fault.fired) for fault in faults] == [2, 1, 1, 1, 1]
    # Requests of one wave fail together (a child's dry run beside another's), so a failed
    # reconcile may hold more than one fault: fewer failed reconciles than faults.
    assert operator.reconciles("error") >= 3
    assert unanswered(operator) >= 5
    assert operator.thread.is_alive()


async def test_a_throttled_write_is_retried_no_sooner_than_the_server_asked(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """Injected: a 429 with ``Retry-After`` at the Deployment's write."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    throttled = cluster.api.fail_next(429, verb="patch", plural="deployments", retry_after=1)
    created: list[float] = []
    cluster.api.listen(
        lambda resource, event: (
            created.append(time.monotonic()) if resource.plural == "deployments" and event["type"] == "ADDED" else None
        )
    )
    start_operator(error_retry_max_seconds=5)  # the backoff alone would retry after 0.05 s
    await cluster.watched("agentosconfigs")

    await cluster.create_agentos("demo")

    await cluster.ready("demo")
    assert len(throttled.fired) == 1
    assert created[0] - throttled.fired[0] >= 1


async def test_an_api_server_restart_in_the_middle_of_reconciles_ends_with_every_resource_reconciled(
    cluster: Cluster, start_operator: StartOperator, caplog: pytest.LogCaptureFixture
) -> None:
    """Injected: the whole API server down at the first Deployment write (every connection dropped, new ones
    refused, watch streams included), long enough for kopf to retry with backoff, then back on its port."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    cluster.api.crash_on_next(verb="patch", plural="deployments")
    operator = start_operator()
    await cluster.watched("agentosconfigs")
    names = [f"restart-{i}" for i in range(5)]

    await asyncio.gather(*(cluster.create_agentos(name) for name in names))

    await eventually(lambda: cluster.api.down, what="the API server down")
    edit = {"spec": {"agents": [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["While down."]}]}}
    async with cluster.api.outage():
        await cluster.api.patch(AGENTOS, "ns1", names[0], edit)  # only the watch, resumed, can tell

        def kopf_retried() -> bool:
            return any(
                r.name.startswith("kopf") and "Request attempt #2" in r.getMessage() and "will retry" in r.getMessage()
                for r in caplog.records
            )

        await eventually(kopf_retried, what="kopf's watches retrying with backoff")
        await eventually(lambda: unanswered(operator) >= 3, what="reconciles failing for want of an answer")

    for name in names:
        await cluster.ready(name)
        assert_children_exactly_once(cluster, name)
    assert "While down." in str(cluster.get(CONFIGMAPS, f"{names[0]}-config"))
    assert operator.thread.is_alive()


async def test_a_write_refused_as_the_object_changed_meanwhile_is_retried_without_a_warning(
    cluster: Cluster, start_operator: StartOperator, caplog: pytest.LogCaptureFixture
) -> None:
    """409: a guarded write (the version it read) lost a race with another writer: normal."""
    caplog.set_level(logging.INFO)
    await cluster.create_secret("openai", api_key="sk-test-1")
    conflict = cluster.api.fail_next(409, verb="patch", plural="deployments", dry_run=False)
    start_operator()

    await cluster.create_agentos("demo")

    await cluster.ready("demo")
    assert len(conflict.fired) == 1
    retried = [r for r in caplog.records if "will retry" in r.getMessage() and "ns1/demo" in r.getMessage()]
    assert [(r.levelname, "met a change made meanwhile" in r.getMessage()) for r in retried] == [("INFO", True)]
