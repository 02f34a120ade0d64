"""With --leader-election, one replica holds the Lease and writes; the others wait their turn."""

from __future__ import annotations

import datetime
import logging
from collections.abc import AsyncIterator
from typing import Any

import kopf
import pytest
from agentos_operator.kube.client import ApiClient
from agentos_operator.kube.kinds import Kind
from agentos_operator.kube.leasing import LeaseElector, LeaseView, decide, format_micro_time

from tests.operator.kopf.conftest import AGENTOS, Cluster, StartOperator, eventually

LEASES = "coordination.k8s.io/v1/leases"
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def lease(holder: str | None, *, renewed_ago: float, duration: int = 10) -> LeaseView:
    return LeaseView(holder, NOW - datetime.timedelta(seconds=renewed_ago), duration, 0, "1")


def test_a_replica_creates_a_missing_lease() -> None:
    assert decide(None, "a", NOW) == "create"


def test_the_holder_renews_its_lease() -> None:
    assert decide(lease("a", renewed_ago=9), "a", NOW) == "renew"


def test_a_fresh_lease_of_another_replica_is_waited_for() -> None:
    assert decide(lease("b", renewed_ago=9), "a", NOW) == "wait"


def test_an_expired_or_released_lease_is_taken() -> None:
    assert decide(lease("b", renewed_ago=10), "a", NOW) == "take"
    assert decide(lease(None, renewed_ago=0), "a", NOW) == "take"


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[ApiClient]:
    server = str(cluster.api.url).rstrip("/")
    client = ApiClient(lambda: kopf.ConnectionInfo(server=server, insecure=True), timeout=5)
    yield client
    await client.close()


def elector(api: ApiClient, identity: str, *, clock_offset: float = 0.0) -> LeaseElector:
    def clock() -> datetime.datetime:
        return datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(seconds=clock_offset)

    logger = logging.getLogger("test.leasing")
    return LeaseElector(
        api, namespace="ns1", name="op", identity=identity, duration=5, field_manager="test", logger=logger, clock=clock
    )


async def test_only_one_replica_holds_the_lease(cluster: Cluster, api: ApiClient) -> None:
    a, b = elector(api, "a"), elector(api, "b")

    assert await a.try_acquire()
    assert not await b.try_acquire()
    assert await a.try_acquire()  # renewal

    spec = cluster.api.read(LEASES, "ns1", "op")["spec"]  # type: ignore[index]
    assert (spec["holderIdentity"], spec["leaseDurationSeconds"], spec["leaseTransitions"]) == ("a", 5, 0)


async def test_a_released_lease_is_taken_over_at_once(cluster: Cluster, api: ApiClient) -> None:
    a, b = elector(api, "a"), elector(api, "b")
    assert await a.try_acquire()

    await a.release()

    assert await b.try_acquire()
    spec = cluster.api.read(LEASES, "ns1", "op")["spec"]  # type: ignore[index]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)


async def test_an_expired_lease_is_taken_over(cluster: Cluster, api: ApiClient) -> None:
    assert await elector(api, "a").try_acquire()

    assert not await elector(api, "b", clock_offset=4).try_acquire()
    assert await elector(api, "b", clock_offset=6).try_acquire()


class RacingClient(ApiClient):
    """Lets a rival replica act between this replica's read of the Lease and its write."""

    rival: LeaseElector | None = None

    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        body = await super().get(kind, namespace, name)
        rival, self.rival = self.rival, None
        if rival is not None:
            assert await rival.try_acquire()
        return body


async def test_a_replica_that_read_the_lease_before_a_rival_took_it_does_not_win(
    cluster: Cluster, api: ApiClient
) -> None:
    stale = format_micro_time(datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(minutes=1))
    body = {
        "metadata": {"name": "op"},
        "spec": {"holderIdentity": "gone", "leaseDurationSeconds": 5, "renewTime": stale},
    }
    await cluster.api.create(LEASES, body, namespace="ns1")
    server = str(cluster.api.url).rstrip("/")
    racing = RacingClient(lambda: kopf.ConnectionInfo(server=server, insecure=True), timeout=5)
    racing.rival = elector(api, "rival")

    try:
        assert not await elector(racing, "slow").try_acquire()
    finally:
        await racing.close()

    assert cluster.api.read(LEASES, "ns1", "op")["spec"]["holderIdentity"] == "rival"  # type: ignore[index]


async def test_a_standby_replica_writes_nothing_and_takes_over_when_the_leader_stops(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    election = {"leader_election": True, "lease_duration_seconds": 1, "lease_retry_seconds": 0.05}
    leader = start_operator(pod_name="leader", **election)
    await eventually(lambda: "leader" in str(cluster.api.read(LEASES, "ns1", "agentos-operator")), what="a leader")
    standby = start_operator(pod_name="standby", **election)
    await cluster.create_agentos("demo")
    await cluster.ready("demo")

    assert leader.reconciles() > 0
    assert standby.reconciles() == 0

    assert await leader.stop() == 0
    await eventually(lambda: "standby" in str(cluster.api.read(LEASES, "ns1", "agentos-operator")), what="a takeover")
    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"image": "registry.example/runtime:2"}})
    await eventually(
        lambda: cluster.agentos("demo")["status"]["observedGeneration"] == 2, what="the new leader at work"
    )
    await eventually(lambda: standby.reconciles() > 0, what="the reconcile counted")


async def test_an_operator_that_loses_its_lease_stops(cluster: Cluster, start_operator: StartOperator) -> None:
    operator = start_operator(pod_name="leader", leader_election=True, lease_duration_seconds=1)
    await eventually(lambda: "leader" in str(cluster.api.read(LEASES, "ns1", "agentos-operator")), what="a leader")

    now = format_micro_time(datetime.datetime.now(tz=datetime.UTC))
    await cluster.api.patch(
        LEASES, "ns1", "agentos-operator", {"spec": {"holderIdentity": "usurper", "renewTime": now}}
    )

    await eventually(lambda: not operator.thread.is_alive(), what="the operator stopping")
    assert operator.result["exit"] == 1
