"""In-process daily metrics, for the in-memory ``Database``: rows held in a dict.

Session activity is read through the in-memory session store's own listing, so the metrics
see exactly the sessions (and runs) that store holds. Rows are stored as JSON copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from agentos_runtime.storage import metrics_records
from agentos_runtime.storage.ports import (
    MetricsDays,
    MetricsRow,
    SessionActivity,
    SessionQuery,
    SessionStore,
)
from agentos_runtime.storage.records import copy_json

# One page large enough to hold every session an in-process store can sensibly keep.
_EVERYTHING = 2**31 - 1


def _copy(row: MetricsRow) -> MetricsRow:
    columns = metrics_records.metrics_columns(row)
    columns["date"] = row.date.isoformat()
    return metrics_records.metrics_from_columns(copy_json(columns))


class InMemoryMetricsStore:
    def __init__(self, *, sessions: SessionStore) -> None:
        self._sessions = sessions
        self._rows: dict[metrics_records.MetricsKey, MetricsRow] = {}

    async def session_activity(self, *, start: int, end: int) -> list[SessionActivity]:
        found = await self._sessions.list_sessions(SessionQuery(limit=_EVERYTHING, sort_order="asc"))
        activity = [metrics_records.session_activity(row) for row in found.items]
        return metrics_records.created_between(activity, start=start, end=end)

    async def first_session_at(self) -> int | None:
        found = await self._sessions.list_sessions(SessionQuery(limit=1, sort_order="asc", include_runs=False))
        return found.items[0].created_at if found.items else None

    async def metrics_days(self) -> MetricsDays:
        return metrics_records.metrics_days(self._rows.values())

    async def write_metrics(self, rows: Sequence[MetricsRow]) -> None:
        written = {
            metrics_records.key_of(row): _copy(
                metrics_records.keep_identity(row, self._rows.get(metrics_records.key_of(row)))
            )
            for row in rows
        }
        self._rows.update(written)

    async def list_metrics(
        self, *, starting_date: date | None = None, ending_date: date | None = None, user_id: str | None = None
    ) -> list[MetricsRow]:
        chosen = metrics_records.select_metrics(
            self._rows.values(), starting_date=starting_date, ending_date=ending_date, user_id=user_id
        )
        return [_copy(row) for row in chosen]
