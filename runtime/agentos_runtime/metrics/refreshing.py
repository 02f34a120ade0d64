"""Recomputing the daily metrics of one database, and keeping track of each refresh.

``refresh_metrics`` reads where the stored rows stand, recomputes every day from there to
today out of the stored sessions, upserts the rows and returns what is stored for those days.
``RefreshTracker`` holds, per database id, the latest refresh's status (Agno's ``idle``,
``running``, ``completed``, ``failed``) and when metrics were last refreshed, so a read
refreshes lazily at most once a minute and concurrent refreshes of one database do not pile up.

The rows are built in a worker thread: a first refresh over a year of sessions is CPU work
(about 0.2 s for 20,000 sessions, mostly summing tokens) that would otherwise stall every other
request meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from agentos_runtime.errors import AgentOSError, StorageUnavailable
from agentos_runtime.metrics import aggregating
from agentos_runtime.storage.ports import MetricsRow, MetricsStore

RefreshState = Literal["idle", "running", "completed", "failed"]

# A read refreshes the metrics first when the last refresh is older than this: recomputing
# today scans all of today's sessions, too costly for every read (Agno's interval).
LAZY_REFRESH_SECONDS = 60.0


async def refresh_metrics(store: MetricsStore, *, now: float) -> list[MetricsRow]:
    """Recompute the days not yet final; the stored rows of those days (none: nothing to do)."""
    today = aggregating.utc_day(now)
    days = await store.metrics_days()
    first_session_at = None
    if days.latest_completed is None and days.earliest_incomplete is None:
        first_session_at = await store.first_session_at()
    first_day = aggregating.resume_day(days, first_session_at, today=today)
    if first_day is None:
        return []
    activity = await store.session_activity(
        start=aggregating.day_start(first_day), end=aggregating.day_start(today + timedelta(days=1))
    )
    rows = await asyncio.to_thread(aggregating.daily_rows, activity, first=first_day, now=int(now), today=today)
    await store.write_metrics(rows)
    return await store.list_metrics(starting_date=first_day, ending_date=today)


@dataclass(frozen=True)
class RefreshStatus:
    status: RefreshState = "idle"
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None


class RefreshTracker:
    """Per database id: the latest refresh's status and when the metrics were last refreshed."""

    def __init__(self, *, clock: Callable[[], float] = time.time, lazy_interval: float = LAZY_REFRESH_SECONDS) -> None:
        self._clock = clock
        self._lazy_interval = lazy_interval
        self._statuses: dict[str, RefreshStatus] = {}
        self._refreshed_at: dict[str, float] = {}
        self._ended: dict[str, asyncio.Event] = {}  # set when the refresh running ends
        self._rows: dict[str, list[MetricsRow]] = {}  # what the last successful refresh computed

    def status(self, db_id: str) -> RefreshStatus:
        return self._statuses.get(db_id, RefreshStatus())

    def is_running(self, db_id: str) -> bool:
        return self.status(db_id).status == "running"

    def is_due(self, db_id: str) -> bool:
        """Whether a read should refresh first: never refreshed, or not in the last interval."""
        last = self._refreshed_at.get(db_id)
        return not self.is_running(db_id) and (last is None or self._clock() - last >= self._lazy_interval)

    def start(self, db_id: str) -> None:
        """Mark a refresh of ``db_id`` as running (before its task is even scheduled)."""
        self._statuses[db_id] = RefreshStatus(status="running", started_at=self._clock())
        self._ended[db_id] = asyncio.Event()

    async def outcome(self, db_id: str) -> list[MetricsRow]:
        """The rows of the refresh of ``db_id`` running now (or last), once it has ended; raises
        ``StorageUnavailable`` saying why when it failed."""
        ended = self._ended.get(db_id)
        if ended is not None:
            await ended.wait()
        status = self.status(db_id)
        if status.status == "failed":
            raise StorageUnavailable(f"the metrics refresh under way failed: {status.error}")
        return list(self._rows.get(db_id, []))

    async def run(self, db_id: str, store: MetricsStore) -> list[MetricsRow]:
        """Refresh ``db_id`` (already marked by ``start``) and record the outcome.

        A failure is recorded (its detail, never a URL: storage errors carry none) and re-raised.
        """
        started = self.status(db_id).started_at
        self._refreshed_at[db_id] = self._clock()
        try:
            rows = await refresh_metrics(store, now=self._clock())
        except asyncio.CancelledError:
            # Cancelled (a shutdown): recorded too, or the status would stay "running" for good, with
            # no lazy refresh ever again and every waiting POST /metrics/refresh waiting forever.
            self._finish(db_id, started, error="the refresh was cancelled")
            raise
        except Exception as error:
            detail = error.detail if isinstance(error, AgentOSError) else type(error).__name__
            self._finish(db_id, started, error=detail)
            raise
        self._rows[db_id] = rows
        self._finish(db_id, started, error=None)
        return rows

    def _finish(self, db_id: str, started: float | None, *, error: str | None) -> None:
        self._statuses[db_id] = RefreshStatus(
            status="failed" if error is not None else "completed",
            started_at=started,
            finished_at=self._clock(),
            error=error,
        )
        ended = self._ended.get(db_id)
        if ended is not None:
            ended.set()
