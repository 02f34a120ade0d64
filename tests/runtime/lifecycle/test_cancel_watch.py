"""The registry reads cancels sent to other replicas for its runs in flight, whatever its store does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import pytest
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.runs.registry import RunRegistry
from agentos_runtime.storage.memory import InMemoryDatabase

DEADLINE = 5.0


class Outage:
    """A session store whose reads of cancels fail while ``away``, then answer from memory."""

    def __init__(self) -> None:
        self.inner = InMemoryDatabase(id="main-db").sessions
        self.away = True
        self.asked: list[list[str]] = []
        self.answered = asyncio.Event()

    async def request_cancel(self, run_id: str, *, seconds: int) -> None:
        await self.inner.request_cancel(run_id, seconds=seconds)

    async def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        self.asked.append(list(run_ids))
        if self.away:
            raise StorageUnavailable("database 'main-db' is not reachable")
        found = await self.inner.cancel_requested(run_ids)
        self.answered.set()
        return found


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition``, a step of the event loop at a time, at most ``DEADLINE`` seconds."""
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"not within {DEADLINE} s: {what}"
        await asyncio.sleep(0.005)


async def held_run(registry: RunRegistry, run_id: str, store: Outage, cancelled: asyncio.Event) -> None:
    """A run that waits until the registry cancels it."""
    handle = registry.start(run_id, sessions=store)  # type: ignore[arg-type]
    try:
        await until(lambda: handle.cancel_requested, "the run cancelled")
        cancelled.set()
    finally:
        registry.finish(handle)


async def test_a_store_that_cannot_be_read_is_told_once_and_its_cancels_are_read_once_it_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = RunRegistry(cancel_poll_seconds=0.01)
    store, cancelled = Outage(), asyncio.Event()
    await store.request_cancel("r1", seconds=60)
    with caplog.at_level(logging.INFO, logger="agentos_runtime.runs.registry"):
        running = asyncio.create_task(held_run(registry, "r1", store, cancelled))
        await until(lambda: len(store.asked) >= 3, "three reads refused")
        assert not cancelled.is_set()
        store.away = False
        await asyncio.wait_for(cancelled.wait(), DEADLINE)
        await running

    messages = [record.getMessage() for record in caplog.records]
    assert (
        messages.count(
            "cancels sent to other replicas cannot be read now (database 'main-db' is not reachable): asking again"
        )
        == 1
    )
    assert "cancels sent to other replicas are read again" in messages
    assert "run 'r1' cancelled on another replica" in messages
    assert await registry.shutdown(timeout=DEADLINE)


async def test_runs_of_one_store_are_asked_about_in_one_read_and_none_once_they_ended() -> None:
    registry = RunRegistry(cancel_poll_seconds=0.01)
    store = Outage()
    store.away = False
    first, second = registry.start("r1", sessions=store), registry.start("r2", sessions=store)  # type: ignore[arg-type]
    await asyncio.wait_for(store.answered.wait(), DEADLINE)
    assert sorted(store.asked[0]) == ["r1", "r2"]
    registry.finish(first)
    registry.finish(second)
    asked = len(store.asked)
    # Nothing in flight: the watcher waits for the next run rather than polling.
    await registry.pause(0.1)
    assert len(store.asked) <= asked + 1
    assert await registry.shutdown(timeout=DEADLINE)


async def test_a_registry_told_not_to_poll_never_reads_cancels() -> None:
    registry = RunRegistry()
    store = Outage()
    handle = registry.start("r1", sessions=store)  # type: ignore[arg-type]
    await registry.pause(0.05)
    registry.finish(handle)
    assert store.asked == []


class Hung:
    """A session store whose reads of cancels never answer."""

    def __init__(self) -> None:
        self.asked = 0

    async def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        self.asked += 1
        await asyncio.Event().wait()
        return set()


async def test_a_hung_store_never_holds_back_the_cancels_another_store_holds(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agentos_runtime.runs.registry.CANCEL_READ_SECONDS", 0.2)
    registry = RunRegistry(cancel_poll_seconds=0.01)
    hung, healthy, cancelled = Hung(), Outage(), asyncio.Event()
    healthy.away = False
    held = registry.start("on-the-hung-store", sessions=hung)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="agentos_runtime.runs.registry"):
        running = asyncio.create_task(held_run(registry, "r1", healthy, cancelled))
        # The hung store's first read is over: bounded, not waited for ever.
        await until(lambda: hung.asked >= 2, "a second read of the hung store")
        await healthy.request_cancel("r1", seconds=60)
        await asyncio.wait_for(cancelled.wait(), DEADLINE)
        await running

    warnings = [record.getMessage() for record in caplog.records]
    assert warnings == ["cancels sent to other replicas cannot be read now (no answer within 0.2 s): asking again"]
    registry.finish(held)
    assert await registry.shutdown(timeout=DEADLINE)
