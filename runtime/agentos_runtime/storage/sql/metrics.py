"""Daily metrics on SQL: rows of ``agno_metrics``, and the session activity they are built from.

Activity is read without loading a run's own messages: each session's day, owner, type and
``session_metrics``, and of each run its ids, model, provider and token counts (JSON paths
evaluated in the database), with the runs a team's or workflow's run holds (members', steps'),
read a page of runs at a time, each page a store call of its own. Runs Agno 2 left in a session row count when the runs table has none for
that session. Rows are upserted on (``user_id``, ``date``, ``aggregation_period``) in
one transaction, keeping a stored row's ``id`` and ``created_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, bindparam, cast, func, select, type_coerce
from sqlalchemy.types import NullType

from agentos_runtime.storage import metrics_records
from agentos_runtime.storage.damage import readable
from agentos_runtime.storage.ports import MetricsDays, MetricsRow, RunUsage, SessionActivity
from agentos_runtime.storage.records import decode_json
from agentos_runtime.storage.sql.connecting import SqlBackend

# Runs read at a time for the metrics: a team's run holds its members' runs, messages and all.
_PAGE = 20
# Columns an upsert never rewrites: the conflict key, and the identity of the stored row.
_KEPT = frozenset({"id", "date", "created_at", "aggregation_period", "user_id"})


class SqlMetricsStore:
    def __init__(self, backend: SqlBackend) -> None:
        self._backend = backend
        self._metrics = backend.tables.metrics

    async def session_activity(self, *, start: int, end: int) -> list[SessionActivity]:
        sessions, runs = self._backend.tables.sessions, self._backend.tables.runs
        created = [sessions.c.created_at >= start, sessions.c.created_at < end]
        legacy = [sessions.c.runs] if "runs" in sessions.c else []
        listing = select(
            sessions.c.session_id,
            sessions.c.session_type,
            sessions.c.user_id,
            sessions.c.created_at,
            sessions.c.session_data["session_metrics"].label("session_metrics"),
            *legacy,
        ).where(*created)
        data = runs.c.run_data
        usage: Select[Any] = select(
            runs.c.session_id,
            runs.c.run_id,
            runs.c.run_index,
            runs.c.parent_run_id,
            data["model"].as_string().label("model"),
            data["model_provider"].as_string().label("model_provider"),
            # As JSON text, decoded a row at a time (``run_usage``): the runs a team's or a
            # workflow's run holds come with their messages, and one nested past what a
            # decoder can follow is that run's loss alone, not the read's.
            cast(data["metrics"], Text).label("metrics"),
            cast(data["member_responses"], Text).label("member_responses"),
            cast(data["step_executor_runs"], Text).label("step_executor_runs"),
        ).where(runs.c.run_id.in_(bindparam("run_ids", expanding=True)))
        in_range = runs.c.session_id.in_(select(sessions.c.session_id).where(*created))
        async with self._backend.operation():
            async with self._backend.engine.connect() as connection:
                found = (await connection.execute(listing)).mappings().all()
                run_ids = list((await connection.execute(select(runs.c.run_id).where(in_range))).scalars())
        by_session: dict[str, list[tuple[Any, RunUsage]]] = {}
        for first in range(0, len(run_ids), _PAGE):
            # A page of runs at a time, by id, each a store call of its own (its own deadline):
            # what a page holds is turned into counts before the next is read.
            async with self._backend.operation():
                async with self._backend.engine.connect() as connection:
                    page = {"run_ids": run_ids[first : first + _PAGE]}
                    rows = (await connection.execute(usage, page)).mappings().all()
            for row in rows:
                used = metrics_records.run_usage(row)
                by_session.setdefault(str(row["session_id"]), []).append((row["run_index"], used))
        in_order = {session_id: _in_run_order(used) for session_id, used in by_session.items()}
        return [_activity(row, in_order.get(row["session_id"])) for row in found]

    async def first_session_at(self) -> int | None:
        sessions = self._backend.tables.sessions
        async with self._backend.operation():
            async with self._backend.engine.connect() as connection:
                first = await connection.scalar(select(func.min(sessions.c.created_at)))
        return None if first is None else int(first)

    async def metrics_days(self) -> MetricsDays:
        table = self._metrics
        day = _raw(table.c.date)
        async with self._backend.operation():
            async with self._backend.engine.connect() as connection:
                latest = await connection.scalar(select(func.max(day)).where(table.c.completed.is_(True)))
                pending = select(func.min(day)).where(table.c.completed.is_(False))
                if latest is not None:
                    pending = pending.where(day > latest)
                earliest = await connection.scalar(pending)
        try:
            return MetricsDays(
                latest_completed=None if latest is None else metrics_records.day_of(latest),
                earliest_incomplete=None if earliest is None else metrics_records.day_of(earliest),
            )
        except ValueError:
            # A row whose date is not a day (SQLite keeps any value) sorts among them: judged on
            # the rows that can be read, the others left out (and logged).
            return metrics_records.metrics_days(await self.list_metrics())

    async def write_metrics(self, rows: Sequence[MetricsRow]) -> None:
        if not rows:
            return
        insert = self._backend.dialect.insert(self._metrics)
        changed = {
            column.name: insert.excluded[column.name] for column in self._metrics.columns if column.name not in _KEPT
        }
        upsert = insert.on_conflict_do_update(index_elements=["user_id", "date", "aggregation_period"], set_=changed)
        async with self._backend.operation():
            async with self._backend.writer().begin() as connection:
                await connection.execute(upsert, [metrics_records.metrics_columns(row) for row in rows])

    async def list_metrics(
        self, *, starting_date: date | None = None, ending_date: date | None = None, user_id: str | None = None
    ) -> list[MetricsRow]:
        table = self._metrics
        conditions: list[ColumnElement[bool]] = []
        if starting_date is not None:
            conditions.append(table.c.date >= starting_date)
        if ending_date is not None:
            conditions.append(table.c.date <= ending_date)
        if user_id is not None:
            conditions.append(table.c.user_id == user_id)
        # Every column as the driver reads it (no SQLAlchemy parsing of dates, JSON or booleans):
        # a row holding what is no metrics row is left out, not a failure of the whole listing.
        listing = (
            select(*(_raw(column).label(column.name) for column in table.columns))
            .where(*conditions)
            .order_by(table.c.date, table.c.user_id, table.c.aggregation_period)
        )
        async with self._backend.operation():
            async with self._backend.engine.connect() as connection:
                found = (await connection.execute(listing)).mappings().all()
        return readable(self._backend.db_id, metrics_records.metrics_from_columns, found)


def _raw(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``column`` read as the driver gives it: SQLite's stored text, PostgreSQL's typed value."""
    return type_coerce(column, NullType())


def _in_run_order(used: list[tuple[Any, RunUsage]]) -> list[RunUsage]:
    """A session's runs by ``run_index`` (those without one last), then id."""
    used.sort(key=lambda item: (item[0] is None, item[0] or 0, item[1].run_id or ""))
    return [usage for _, usage in used]


def _activity(row: Any, runs: list[RunUsage] | None) -> SessionActivity:
    """A session's activity; without runs-table rows, the runs Agno 2 kept in the row count."""
    if runs is None:
        legacy = decode_json(row.get("runs"))
        listed = legacy if isinstance(legacy, list) else []
        runs = [metrics_records.run_usage(run) for run in listed if isinstance(run, dict)]
    session_metrics = decode_json(row["session_metrics"])
    return SessionActivity(
        session_id=str(row["session_id"]),
        session_type=row["session_type"],
        created_at=int(row["created_at"]),
        user_id=row["user_id"],
        session_metrics=session_metrics if isinstance(session_metrics, dict) else None,
        runs=runs,
    )
