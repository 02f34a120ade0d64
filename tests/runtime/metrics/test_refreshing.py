"""Refreshing one database's daily metrics from its stored sessions, and tracking refreshes."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.metrics.refreshing import RefreshStatus, RefreshTracker, refresh_metrics
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import MetricsDays, SessionRow

# 2026-03-01T00:00:00Z
MARCH_1 = 1_772_323_200
DAY = 86_400
NOW = MARCH_1 + 2 * DAY + 3_600  # 2026-03-03T01:00Z


def session(session_id: str, created_at: int, runs: int = 1, user_id: str = "ana") -> SessionRow:
    listed = [
        {"run_id": f"{session_id}-{i}", "agent_id": "helper", "model": "m", "model_provider": "p"} for i in range(runs)
    ]
    return SessionRow(
        session_id=session_id,
        session_type="agent",
        created_at=created_at,
        agent_id="helper",
        user_id=user_id,
        runs=listed,
    )


def by_day(rows: list[Any]) -> dict[date, int]:
    return {row.date: row.agent_runs_count for row in rows}


async def test_nothing_is_computed_without_sessions() -> None:
    assert await refresh_metrics(InMemoryDatabase(id="db").metrics, now=NOW) == []


async def test_a_refresh_writes_a_row_per_day_with_sessions_and_finalises_past_days() -> None:
    db = InMemoryDatabase(id="db")
    await db.sessions.upsert_session(session("first", MARCH_1 + 10, runs=2))
    await db.sessions.upsert_session(session("today", NOW - 60))

    rows = await refresh_metrics(db.metrics, now=NOW)

    assert by_day(rows) == {date(2026, 3, 1): 2, date(2026, 3, 3): 1}
    assert [row.completed for row in rows] == [True, False]
    assert by_day(await db.metrics.list_metrics()) == by_day(rows)


async def test_a_session_at_epoch_zero_adds_its_day_and_no_rows_for_the_empty_days_since() -> None:
    db = InMemoryDatabase(id="db")
    await db.sessions.upsert_session(session("epoch", 0))
    await db.sessions.upsert_session(session("today", NOW - 60, runs=2))

    rows = await refresh_metrics(db.metrics, now=NOW)

    assert by_day(rows) == {date(1970, 1, 1): 1, date(2026, 3, 3): 2}
    assert by_day(await db.metrics.list_metrics()) == by_day(rows)


async def test_final_days_are_not_recomputed_but_today_is() -> None:
    db = InMemoryDatabase(id="db")
    await db.sessions.upsert_session(session("first", MARCH_1 + 10))
    await db.sessions.upsert_session(session("today", NOW - 60))
    await refresh_metrics(db.metrics, now=NOW)

    await db.sessions.upsert_session(session("late-import", MARCH_1 + 20, runs=5))
    await db.sessions.upsert_session(session("today-2", NOW - 30, runs=3))
    rows = await refresh_metrics(db.metrics, now=NOW + 60)

    assert by_day(rows) == {date(2026, 3, 3): 4}
    assert by_day(await db.metrics.list_metrics()) == {date(2026, 3, 1): 1, date(2026, 3, 3): 4}


async def test_the_tracker_records_a_successful_refresh_and_throttles_lazy_ones() -> None:
    clock = [1_000.0]
    tracker = RefreshTracker(clock=lambda: clock[0], lazy_interval=60)
    db = InMemoryDatabase(id="db")
    assert tracker.status("db") == RefreshStatus() and tracker.is_due("db")

    tracker.start("db")
    assert tracker.is_running("db") and not tracker.is_due("db")
    clock[0] = 1_002.0
    await tracker.run("db", db.metrics)

    assert tracker.status("db") == RefreshStatus("completed", started_at=1_000.0, finished_at=1_002.0)
    clock[0] = 1_061.0
    assert not tracker.is_due("db")
    clock[0] = 1_062.0
    assert tracker.is_due("db")


class BrokenMetrics:
    async def metrics_days(self) -> MetricsDays:
        raise StorageUnavailable("database 'db' is unavailable: connection refused")


async def test_a_failed_refresh_is_recorded_with_its_detail_and_raised() -> None:
    tracker = RefreshTracker(clock=lambda: 5.0)
    tracker.start("db")

    with pytest.raises(StorageUnavailable):
        await tracker.run("db", BrokenMetrics())  # type: ignore[arg-type]

    status = tracker.status("db")
    assert (status.status, status.error) == ("failed", "database 'db' is unavailable: connection refused")


class HangingMetrics:
    """A metrics store whose first read never answers."""

    def __init__(self) -> None:
        self.reading = asyncio.Event()

    async def metrics_days(self) -> MetricsDays:
        self.reading.set()
        await asyncio.Event().wait()
        raise AssertionError("never answers")


async def test_a_cancelled_refresh_is_recorded_so_refreshes_and_their_waiters_go_on() -> None:
    tracker, store = RefreshTracker(clock=lambda: 5.0, lazy_interval=0.0), HangingMetrics()
    tracker.start("db")
    running = asyncio.create_task(tracker.run("db", store))  # type: ignore[arg-type]
    await asyncio.wait_for(store.reading.wait(), 5)
    waiting = asyncio.create_task(tracker.outcome("db"))

    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    # Before, the status stayed "running": no lazy refresh again, every waiter waited forever.
    with pytest.raises(StorageUnavailable, match="the refresh was cancelled"):
        await asyncio.wait_for(waiting, 5)
    assert (tracker.status("db").status, tracker.is_running("db"), tracker.is_due("db")) == ("failed", False, True)
