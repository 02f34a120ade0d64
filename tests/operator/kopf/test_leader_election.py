"""With --leader-election, one replica holds the Lease and writes; the others wait their turn.

The rules are pure and take the local monotonic time (``decide``, ``observe``); the elector
is tested against the emulator with an injected monotonic clock. The emulator's faults (a
connection closed unanswered, a request never answered, an answer that is not JSON, an
outage of the whole server at a chosen moment) are what a real API server cannot be made to
produce on demand. Replicas electing a leader on a real API server with the chart's Lease (one
leads, a clean stop hands over at once, a taken Lease stops every write, a killed leader is
waited out) are tested in tests/cluster/test_ported_leader_election.py and test_high_availability.py.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import kopf
import pytest
from agentos_operator.kube.client import ApiClient
from agentos_operator.kube.kinds import Kind
from agentos_operator.kube.leasing import (
    LeaseElector,
    LeaseLostError,
    LeaseView,
    Observation,
    decide,
    format_micro_time,
    observe,
)
from agentos_operator.settings import OperatorSettings

from tests.operator.kopf.conftest import AGENTOS, Cluster, RunningOperator, StartOperator, eventually

LEASES = "coordination.k8s.io/v1/leases"
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)


def lease(holder: str | None, *, renewed: datetime.datetime = NOW, duration: int = 10) -> LeaseView:
    return LeaseView(holder, renewed, duration, 0, "1")


def seen(view: LeaseView, at: float) -> Observation:
    return Observation(view.record, at)


def test_a_replica_creates_a_missing_lease() -> None:
    assert decide(None, "a", None, 0.0) == "create"


def test_the_holder_renews_its_lease() -> None:
    view = lease("a")
    assert decide(view, "a", seen(view, 0.0), 100.0) == "renew"


def test_a_released_lease_is_taken_at_once() -> None:
    view = lease(None)
    assert decide(view, "a", seen(view, 0.0), 0.0) == "take"


def test_another_replicas_lease_is_waited_for_until_its_record_stood_still_for_its_duration() -> None:
    view = lease("b", duration=10)

    assert decide(view, "a", seen(view, 100.0), 109.9) == "wait"
    assert decide(view, "a", seen(view, 100.0), 110.0) == "take"


def test_a_lease_is_judged_by_when_this_replica_first_saw_it_never_by_its_renew_time() -> None:
    behind, ahead = lease("b", renewed=NOW - HOUR), lease("b", renewed=NOW + HOUR)

    # A holder whose clock is an hour behind still holds; one whose clock is ahead does not forever.
    assert decide(behind, "a", seen(behind, 0.0), 5.0) == "wait"
    assert decide(ahead, "a", seen(ahead, 0.0), 10.0) == "take"


def test_a_lease_first_read_now_is_fresh_whatever_it_says() -> None:
    view = lease("b", renewed=NOW - 24 * HOUR)

    assert decide(view, "a", None, 50.0) == "wait"
    assert decide(view, "a", seen(lease("c"), 0.0), 50.0) == "wait"  # an observation of another record


def test_an_unchanged_record_keeps_the_time_it_was_first_seen_and_a_renewal_restarts_it() -> None:
    first = observe(None, lease("b"), 1.0)
    again = observe(first, lease("b"), 5.0)
    renewed = observe(again, lease("b", renewed=NOW + datetime.timedelta(seconds=3)), 7.0)

    assert first is not None and again is not None and renewed is not None
    assert (first.seen_at, again.seen_at, renewed.seen_at) == (1.0, 1.0, 7.0)
    assert observe(renewed, None, 8.0) is None


def test_the_leader_elections_requests_time_out_within_a_third_of_the_lease() -> None:
    assert OperatorSettings(lease_duration_seconds=15, api_timeout_seconds=30).lease_request_timeout_seconds == 5
    assert OperatorSettings(lease_duration_seconds=15, api_timeout_seconds=2).lease_request_timeout_seconds == 2


class FakeMonotonic:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_of(cluster: Cluster, *, timeout: float) -> ApiClient:
    server = str(cluster.api.url).rstrip("/")
    return ApiClient(lambda: kopf.ConnectionInfo(server=server, insecure=True), timeout=timeout)


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[ApiClient]:
    # A budget no pause of a loaded machine runs out: the emulator answers in the test's own event
    # loop, and a request timed out makes ``try_acquire`` raise where a test expects an answer.
    client = client_of(cluster, timeout=30)
    yield client
    await client.close()


def elector(api: ApiClient, identity: str, *, monotonic: Any = time.monotonic, duration: int = 5) -> LeaseElector:
    logger = logging.getLogger("test.leasing")
    return LeaseElector(
        api,
        namespace="ns1",
        name="op",
        identity=identity,
        duration=duration,
        field_manager="test",
        logger=logger,
        monotonic=monotonic,
    )


async def test_a_lease_left_unrenewed_for_its_duration_by_the_local_clock_is_taken_over(
    cluster: Cluster, api: ApiClient
) -> None:
    """Injected: the standby's monotonic clock, moved by the test to a tenth of a second before and at the duration."""
    clock = FakeMonotonic()
    assert await elector(api, "a").try_acquire()
    b = elector(api, "b", monotonic=clock)

    assert not await b.try_acquire()
    clock.now += 4.9
    assert not await b.try_acquire()
    clock.now += 0.1
    assert await b.try_acquire()


async def test_a_holder_whose_clock_is_an_hour_behind_keeps_its_lease_while_it_renews(
    cluster: Cluster, api: ApiClient
) -> None:
    """Injected: the standby's monotonic clock, moved by the test, and a holder's renewTime an hour behind."""
    body = {
        "metadata": {"name": "op"},
        "spec": {"holderIdentity": "behind", "leaseDurationSeconds": 5, "renewTime": format_micro_time(NOW - HOUR)},
    }
    await cluster.api.create(LEASES, body, namespace="ns1")
    clock = FakeMonotonic()
    b = elector(api, "b", monotonic=clock)
    assert not await b.try_acquire()

    clock.now += 4
    renewal = format_micro_time(NOW - HOUR + datetime.timedelta(seconds=4))
    await cluster.api.patch(LEASES, "ns1", "op", {"spec": {"renewTime": renewal}})
    assert not await b.try_acquire()
    clock.now += 4.9
    assert not await b.try_acquire()  # 8.9 s since b first saw it, 4.9 s since the renewal

    clock.now += 0.1
    assert await b.try_acquire()


async def test_a_holder_whose_clock_is_an_hour_ahead_loses_its_lease_when_it_stops_renewing(
    cluster: Cluster, api: ApiClient
) -> None:
    """Injected: the standby's monotonic clock, moved by the test, and a holder's renewTime an hour ahead."""
    body = {
        "metadata": {"name": "op"},
        "spec": {"holderIdentity": "ahead", "leaseDurationSeconds": 5, "renewTime": format_micro_time(NOW + HOUR)},
    }
    await cluster.api.create(LEASES, body, namespace="ns1")
    clock = FakeMonotonic()
    b = elector(api, "b", monotonic=clock)
    assert not await b.try_acquire()

    clock.now += 5

    assert await b.try_acquire()


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
    """Injected: a rival's takeover between this replica's read of the Lease and its write, and the clock."""
    stale = format_micro_time(datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(minutes=1))
    body = {
        "metadata": {"name": "op"},
        "spec": {"holderIdentity": "gone", "leaseDurationSeconds": 5, "renewTime": stale},
    }
    await cluster.api.create(LEASES, body, namespace="ns1")
    server = str(cluster.api.url).rstrip("/")
    racing = RacingClient(lambda: kopf.ConnectionInfo(server=server, insecure=True), timeout=5)
    clock = FakeMonotonic()
    slow, rival = elector(racing, "slow", monotonic=clock), elector(api, "rival", monotonic=clock)
    assert not await slow.try_acquire()  # both see "gone" holding it, from now on
    assert not await rival.try_acquire()
    clock.now += 5
    racing.rival = rival

    try:
        assert not await slow.try_acquire()
    finally:
        await racing.close()

    assert cluster.api.read(LEASES, "ns1", "op")["spec"]["holderIdentity"] == "rival"  # type: ignore[index]


async def test_a_standby_keeps_waiting_through_dropped_connections_timeouts_and_garbage(
    cluster: Cluster, api: ApiClient
) -> None:
    """Injected: reads of the Lease dropped, never answered, answered with HTML, throttled."""
    hasty = client_of(cluster, timeout=0.5)  # the standby's: a read never answered is given up after 0.5 s
    leader, standby = elector(api, "leader"), elector(hasty, "standby")
    assert await leader.try_acquire()
    faults = [
        cluster.api.disconnect_next(verb="get", plural="leases", times=2),  # aiohttp itself retries a GET once
        cluster.api.stall_next(verb="get", plural="leases"),
        cluster.api.garble_next(verb="get", plural="leases"),
        cluster.api.fail_next(429, verb="get", plural="leases", retry_after=1),
    ]
    waiting = asyncio.create_task(standby.acquire(stopped=lambda: False, retry_seconds=0.05))
    try:
        await eventually(lambda: all(fault.times == 0 for fault in faults) or waiting.done(), what="every fault")
        assert not waiting.done()
        await leader.release()

        assert await asyncio.wait_for(waiting, timeout=30)
    finally:
        waiting.cancel()
        await hasty.close()
    assert cluster.api.read(LEASES, "ns1", "op")["spec"]["holderIdentity"] == "standby"  # type: ignore[index]


async def test_a_leader_keeps_its_lease_through_a_dropped_renewal(cluster: Cluster, api: ApiClient) -> None:
    """Injected: one renewal's connection closed unanswered."""
    # Renewed every 2 s, given up 4 s after the last renewal: the retry after the dropped one has
    # ~2 s to land, which no pause of a loaded machine takes.
    leader = elector(api, "leader", duration=6)
    assert await leader.try_acquire()
    dropped = cluster.api.disconnect_next(verb="patch", plural="leases")  # a PATCH is never resent by aiohttp

    holding = asyncio.create_task(leader.hold(retry_seconds=0.05))
    try:
        await eventually(
            lambda: dropped.fired and (leader.renewed_at or 0) > dropped.fired[0] or holding.done(),
            what="a renewal after the dropped one",
        )
        assert not holding.done()
    finally:
        holding.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holding


async def test_a_leader_whose_renewals_hang_gives_up_before_another_replica_may_take_its_lease(
    cluster: Cluster,
) -> None:
    """Injected: every read of the Lease never answered, on a client whose timeout outlasts the lease."""
    slow = client_of(cluster, timeout=30)  # far longer than the lease: the renew deadline must cut it
    duration = 6  # given up after 4 s: 2 s before another replica may take over, room for a loaded machine
    leader = elector(slow, "leader", duration=duration)
    try:
        assert await leader.try_acquire()
        renewed_at = leader.renewed_at
        assert renewed_at is not None
        cluster.api.stall_next(verb="get", plural="leases", times=1_000)

        with pytest.raises(LeaseLostError):
            await asyncio.wait_for(leader.hold(retry_seconds=0.05), timeout=10)

        # Another replica takes over no sooner than a whole duration after it saw the last renewal.
        assert duration * 2 / 3 <= time.monotonic() - renewed_at < duration
    finally:
        await slow.close()


@pytest.fixture
async def leader_and_standby(
    cluster: Cluster, start_operator: StartOperator
) -> tuple[RunningOperator, RunningOperator]:
    """Two replicas on a one-second Lease, the first one leading, and one resource Ready."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    election = {"leader_election": True, "lease_duration_seconds": 1, "lease_retry_seconds": 0.05}
    leader = start_operator(pod_name="leader", **election)
    await eventually(lambda: "leader" in str(cluster.api.read(LEASES, "ns1", "agentos-operator")), what="a leader")
    standby = start_operator(pod_name="standby", **election)
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    replicas = (leader, standby)

    def one_leading() -> tuple[RunningOperator, RunningOperator] | None:
        leading = [replica for replica in replicas if replica.reconciling()]
        return (leading[0], replicas[replicas.index(leading[0]) - 1]) if len(leading) == 1 else None

    # On a loaded machine a one-second Lease may change hands before the tests begin: the
    # replica holding it then is the leader they start from.
    return await eventually(one_leading, what="one leader")


async def test_an_outage_past_the_renew_deadline_stops_the_leader_and_the_standby_takes_over_after(
    cluster: Cluster, leader_and_standby: tuple[RunningOperator, RunningOperator]
) -> None:
    """Injected: the whole API server down (connections refused and dropped), then back on its port."""
    leader, standby = leader_and_standby

    async with cluster.api.outage():
        await eventually(lambda: not leader.reconciling(), what="the leader giving up the Lease")

    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"image": "registry.example/runtime:2"}})
    await eventually(
        lambda: cluster.agentos("demo")["status"]["observedGeneration"] == 2, what="a leader at work again"
    )
    # Neither replica crashed: the one that lost the Lease stood by again.
    assert leader.thread.is_alive() and standby.thread.is_alive()


async def test_a_replica_that_lost_the_lease_counts_no_resources_and_the_new_leader_counts_them_once(
    cluster: Cluster, leader_and_standby: tuple[RunningOperator, RunningOperator]
) -> None:
    """Injected: the whole API server down past the renew deadline, then back."""
    leader, standby = leader_and_standby

    def ready_resources(replica: RunningOperator) -> float | None:
        return replica.metrics.registry.get_sample_value("agentos_operator_resources", {"ready": "True"})

    await eventually(lambda: (ready_resources(leader), ready_resources(standby)) == (1, 0), what="the leader's count")
    async with cluster.api.outage():
        await eventually(lambda: not leader.reconciling(), what="the leader giving up the Lease")
    assert ready_resources(leader) == 0, "what it knew is another replica's to count now"

    await eventually(lambda: standby.reconciling() or leader.reconciling(), what="a leader again")
    await eventually(lambda: (ready_resources(leader) or 0) + (ready_resources(standby) or 0) == 1, what="one count")
