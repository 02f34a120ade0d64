"""Daily metrics on Redis, in Agno's layout: one JSON record per row at
``{prefix}:metrics:{date}_{user_id}_{period}``, that key's tail being the row's ``id`` (Agno
derives it from what the row is unique on, so a recalculated row lands on the same key),
``date`` kept as ISO text.

Session activity is read by scanning the session records, then loading the runs of the
sessions in range through their runs-by-session sets.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from agentos_runtime.storage import metrics_records
from agentos_runtime.storage.damage import left_out
from agentos_runtime.storage.ports import JSON, MetricsDays, MetricsRow, SessionActivity
from agentos_runtime.storage.records import DamagedRecord, decode_json
from agentos_runtime.storage.redis import keys
from agentos_runtime.storage.redis.client import Reader, RedisBackend, Writes, encode
from agentos_runtime.storage.redis.guarded import Snapshot, WriteBatch

METRICS = "metrics"


def metrics_id(row: MetricsRow) -> str:
    return f"{row.date.isoformat()}_{row.user_id}_{row.aggregation_period}"


def _record(row: MetricsRow) -> JSON:
    columns = metrics_records.metrics_columns(row)
    columns["date"] = row.date.isoformat()
    return columns


class RedisMetricsStore:
    def __init__(self, backend: RedisBackend) -> None:
        self._backend = backend

    async def session_activity(self, *, start: int, end: int) -> list[SessionActivity]:
        backend = self._backend
        with backend.errors():
            sessions = (await backend.load_readable(keys.SESSIONS, await backend.scan_ids(keys.SESSIONS)))[0]
            chosen = [r for r in sessions if (at := _created_at(r)) is not None and start <= at < end]
            runs = await self._runs_of([record["session_id"] for record in chosen])
        return [_activity(record, runs[record["session_id"]]) for record in chosen]

    async def first_session_at(self) -> int | None:
        backend = self._backend
        with backend.errors():
            sessions = (await backend.load_readable(keys.SESSIONS, await backend.scan_ids(keys.SESSIONS)))[0]
        return min((at for at in map(_created_at, sessions) if at is not None), default=None)

    async def metrics_days(self) -> MetricsDays:
        return metrics_records.metrics_days(await self._load())

    async def write_metrics(self, rows: Sequence[MetricsRow]) -> None:
        if not rows:
            return
        backend = self._backend
        ids = [metrics_id(row) for row in rows]
        record_keys = [backend.key(METRICS, record_id) for record_id in ids]

        async def attempt(snapshot: Snapshot) -> tuple[None, Writes]:
            # A stored row that cannot be read is written over: its day is recomputed from the sessions.
            stored = {metrics_id(row): row for row in await self._rows(ids, client=snapshot, listing=False)}
            texts = [
                encode(_record(metrics_records.keep_identity(replace(row, id=record_id), stored.get(record_id))))
                for record_id, row in zip(ids, rows, strict=True)
            ]

            def writes(batch: WriteBatch) -> None:
                for key, text in zip(record_keys, texts, strict=True):
                    batch.set(key, text)

            return None, writes

        with backend.errors():
            await backend.transact(attempt)

    async def list_metrics(
        self, *, starting_date: date | None = None, ending_date: date | None = None, user_id: str | None = None
    ) -> list[MetricsRow]:
        return metrics_records.select_metrics(
            await self._load(), starting_date=starting_date, ending_date=ending_date, user_id=user_id
        )

    async def _load(self) -> list[MetricsRow]:
        with self._backend.errors():
            return await self._rows(await self._backend.scan_ids(METRICS), listing=True)

    async def _rows(self, ids: list[str], *, client: Reader | None = None, listing: bool) -> list[MetricsRow]:
        """The rows stored under ``ids`` that can be read; those that cannot are left out (and
        logged when ``listing``)."""
        backend = self._backend
        identified, damaged = await backend.load_identified(METRICS, ids, client=client)
        rows: list[MetricsRow] = []
        for record_id, record in identified:
            try:
                rows.append(metrics_records.metrics_from_columns(record, record_id=record_id))
            except DamagedRecord as error:
                damaged.append(error)
        if listing:
            for damage in damaged:
                left_out(backend.db_id, damage)
        return rows

    async def _runs_of(self, session_ids: list[str]) -> dict[str, list[JSON]]:
        """Each session's run dicts, in run order (two round trips for all of them)."""
        client, prefix = self._backend.client, self._backend.prefix
        batch = client.pipeline(transaction=False)
        for session_id in session_ids:
            batch.zrange(keys.runs_by_session_key(prefix, session_id), 0, -1)
        orders = [[str(member) for member in order] for order in await batch.execute()] if session_ids else []
        loaded, _ = await self._backend.load_readable(keys.RUNS, [run_id for order in orders for run_id in order])
        # Metrics count what can be read: a record that cannot is left out (listings say which).
        by_id = {record.get("run_id"): record.get("run_data") or {} for record in loaded}
        return {
            session_id: [by_id[run_id] for run_id in order if run_id in by_id]
            for session_id, order in zip(session_ids, orders, strict=True)
        }


def _activity(record: dict[str, Any], runs: list[JSON]) -> SessionActivity:
    """A session's activity; without run records, the runs Agno 2 kept in the record count."""
    if not runs:
        legacy = decode_json(record.get("runs"))
        runs = [run for run in legacy if isinstance(run, dict)] if isinstance(legacy, list) else []
    session_data = decode_json(record.get("session_data"))
    session_metrics = session_data.get("session_metrics") if isinstance(session_data, dict) else None
    return SessionActivity(
        session_id=str(record["session_id"]),
        session_type=record["session_type"],
        created_at=_created_at(record) or 0,
        user_id=record.get("user_id"),
        session_metrics=session_metrics if isinstance(session_metrics, dict) else None,
        runs=[metrics_records.run_usage(json.loads(run) if isinstance(run, str) else run) for run in runs],
    )


def _created_at(record: dict[str, Any]) -> int | None:
    """A session record's creation time as the whole number the session store reads it as;
    ``None`` where it holds none (that store leaves such a session out as damaged)."""
    try:
        return int(record["created_at"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
