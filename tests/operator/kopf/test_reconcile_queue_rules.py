"""Which reconciles the reconciler runs, in what order, and how many at once.

The reconciler is given a stand-in for ``reconcile_key`` whose every call waits until the test
finishes it, so a test sees each reconcile start and decides when it ends. Nothing waits for
time: a test awaits the next reconcile to start, and the queue is first in, first out, so a
resource asked for later shows that no earlier one is still to come.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, cast

import pytest
from agentos_operator.metrics import Metrics
from agentos_operator.queueing import Key, Reconciler
from agentos_operator.reconcile import Context, Outcome, Verdict
from agentos_operator.settings import OperatorSettings

A, B, C, D = (("ns1", name) for name in "abcd")


@dataclass
class Call:
    """One reconcile under way, with its context: ``finish`` ends it (converged unless told otherwise)."""

    key: Key
    ctx: Context
    done: asyncio.Future[Outcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    cancelled: bool = False

    def finish(self, verdict: Verdict = "converged") -> None:
        self.done.set_result(Outcome(verdict))


class HeldReconciles:
    """A stand-in for ``reconcile_key``: each call is announced on ``started`` and waits for ``finish``.

    It notes the most reconciles it saw at once, in all and of one resource.
    """

    def __init__(self) -> None:
        self.started: asyncio.Queue[Call] = asyncio.Queue()
        self.running: list[Key] = []
        self.most_at_once = 0
        self.most_of_one_key = 0

    async def __call__(self, namespace: str, name: str, ctx: Context) -> Outcome:
        call = Call((namespace, name), ctx)
        self.running.append(call.key)
        self.most_at_once = max(self.most_at_once, len(self.running))
        self.most_of_one_key = max(self.most_of_one_key, self.running.count(call.key))
        self.started.put_nowait(call)
        try:
            return await call.done
        except asyncio.CancelledError:
            call.cancelled = True
            raise
        finally:
            self.running.remove(call.key)

    async def next(self) -> Call:
        """The next reconcile to start (failing the test if none starts within seconds)."""
        return await asyncio.wait_for(self.started.get(), timeout=5)


@pytest.fixture
def held() -> HeldReconciles:
    return HeldReconciles()


class StartReconciler(Protocol):
    def __call__(self, *keys: Key, at_once: int) -> Reconciler: ...


@pytest.fixture
async def start(held: HeldReconciles) -> AsyncIterator[StartReconciler]:
    """Start a reconciler of ``at_once`` workers running ``held`` reconciles, asked for ``keys`` in
    turn. Each one started is closed after the test, its running reconciles cancelled."""
    started: list[Reconciler] = []

    def start_reconciler(*keys: Key, at_once: int) -> Reconciler:
        context = Context(
            api=cast(Any, None),
            store=cast(Any, None),
            settings=OperatorSettings(max_concurrent_reconciles=at_once),
            logger=logging.getLogger("test.queue"),
        )
        queue = Reconciler(context, metrics=Metrics(), reconcile=held)
        queue.request_all(keys)
        started.append(queue)
        return queue

    yield start_reconciler
    for queue in started:
        await queue.close()


async def test_requests_for_a_queued_resource_are_merged_into_one_reconcile(
    held: HeldReconciles, start: StartReconciler
) -> None:
    queue = start(A, at_once=1)
    first = await held.next()

    for _ in range(3):
        queue.request(B)
    queue.request(C)
    first.finish()
    second = await held.next()
    second.finish()
    third = await held.next()

    assert [first.key, second.key, third.key] == [A, B, C]


async def test_a_resource_asked_for_during_its_reconcile_is_reconciled_exactly_once_more_after_it(
    held: HeldReconciles, start: StartReconciler
) -> None:
    queue = start(A, at_once=1)
    first = await held.next()

    queue.request(A)
    queue.request(A)
    first.finish()
    again = await held.next()
    queue.request(B)  # queued while A runs again: a third run of A would be queued after it
    again.finish()
    after = await held.next()
    queue.request(C)
    after.finish()
    last = await held.next()

    assert [first.key, again.key, after.key, last.key] == [A, A, B, C]
    last.finish()


async def test_a_resource_is_never_reconciled_twice_at_a_time_even_with_free_workers(
    held: HeldReconciles, start: StartReconciler
) -> None:
    queue = start(A, at_once=3)
    first = await held.next()

    queue.request(A)
    queue.request(B)  # a second reconcile of A, were it started, would start before this one
    other = await held.next()
    assert other.key == B
    first.finish()
    again = await held.next()

    assert again.key == A
    assert held.most_of_one_key == 1
    other.finish()
    again.finish()


async def test_no_more_reconciles_run_at_once_than_the_limit(held: HeldReconciles, start: StartReconciler) -> None:
    keys = [("ns1", f"r{n}") for n in range(7)]
    start(*keys, at_once=2)

    reconciled = []
    for _ in keys:
        call = await held.next()
        reconciled.append(call.key)
        call.finish()

    assert reconciled == keys  # first asked, first reconciled
    assert held.most_at_once == 2


async def test_closing_cancels_the_running_reconciles_drops_the_queued_ones_and_leaves_no_task(
    held: HeldReconciles, start: StartReconciler
) -> None:
    queue = start(A, B, C, D, at_once=2)
    queue.request(A, delay=30)
    running = [await held.next(), await held.next()]

    await queue.close()
    queue.request(C)  # ignored once closed

    assert [call.key for call in running] == [A, B]
    assert all(call.cancelled for call in running)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert held.started.empty() and held.running == []


async def test_a_worker_outlives_a_failure_after_its_reconcile_and_retries_that_resource(
    held: HeldReconciles, start: StartReconciler, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    queue = start(at_once=1)
    planned: list[tuple[Key, float]] = []
    asked = queue.request

    def failing_once(key: Key, outcome: Outcome | None, *, retry_after: float | None = None) -> float | None:
        monkeypatch.undo()
        raise RuntimeError("a bug while planning the retry")

    def noting_delays(key: Key, *, delay: float = 0.0) -> None:
        if delay:
            planned.append((key, delay))
        asked(key, delay=delay)

    monkeypatch.setattr(queue, "retry_delay", failing_once)
    queue.request = noting_delays  # type: ignore[method-assign]
    queue.request(A)
    (await held.next()).finish()
    queue.request(B)  # the only worker must still be there to take it
    after = await held.next()

    assert after.key == B
    assert planned == [(A, OperatorSettings().error_retry_max_seconds)]
    assert "reconcile of ns1/a could not be concluded" in caplog.text
    after.finish()


def kept_of(ctx: Context, key: Key) -> set[str]:
    """The names of the context's per-resource memories (every dict and set in it) holding ``key``."""
    return {f.name for f in fields(ctx) if isinstance(kept := getattr(ctx, f.name), dict | set) and key in kept}


def keep(ctx: Context, key: Key) -> None:
    """Put ``key`` into every per-resource memory of the context."""
    for f in fields(ctx):
        kept = getattr(ctx, f.name)
        if isinstance(kept, dict):
            kept[key] = object()
        elif isinstance(kept, set):
            kept.add(key)


async def test_a_deleted_resource_leaves_nothing_in_the_context_and_others_keep_theirs(
    held: HeldReconciles, start: StartReconciler
) -> None:
    queue = start(A, at_once=1)
    first = await held.next()
    keep(first.ctx, A)
    keep(first.ctx, B)
    every = kept_of(first.ctx, A)

    first.finish("gone")
    queue.request(B)  # the only worker takes it once A's reconcile is concluded
    after = await held.next()

    assert kept_of(after.ctx, A) == set()
    assert kept_of(after.ctx, B) == every
    assert {"failing_since", "status_refused_told", "elsewhere_told"} <= every
    after.finish()
