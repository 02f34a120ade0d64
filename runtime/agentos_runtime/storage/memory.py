"""An in-process ``Database``: the storage contract held in dicts, for tests and database-less runs.

It keeps the same semantics as the real backends (filters, order, pagination, ``save_run``
replacing a run by ``run_id``, user-scoped deletes) and stores JSON copies, so a caller never
aliases stored data and a value that is not JSON fails here as it would in a real database.
Nothing survives the process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from agentos_runtime.storage import querying, records
from agentos_runtime.storage.memory_evals import InMemoryEvalStore
from agentos_runtime.storage.memory_metrics import InMemoryMetricsStore
from agentos_runtime.storage.ports import (
    JSON,
    EvalStore,
    MemoryQuery,
    MemoryRow,
    MemoryStore,
    MetricsStore,
    Page,
    RecentRuns,
    SessionChanges,
    SessionQuery,
    SessionRow,
    SessionStore,
    SessionType,
    UserMemoryStats,
)

Clock = Callable[[], float]


def _copy_session(row: SessionRow) -> SessionRow:
    return records.session_from_columns(
        records.copy_json(records.session_columns(row)), records.copy_json(row.runs or [])
    )


def _copy_memory(row: MemoryRow) -> MemoryRow:
    return records.memory_from_columns(records.copy_json(records.memory_columns(row)))


class InMemorySessionStore:
    def __init__(self, *, clock: Clock) -> None:
        self._rows: dict[str, SessionRow] = {}
        self._cancels: dict[str, int] = {}
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    async def request_cancel(self, run_id: str, *, seconds: int) -> None:
        now = self._now()
        for expired in [stored for stored, until in self._cancels.items() if until <= now]:
            del self._cancels[expired]
        self._cancels[run_id] = now + seconds

    async def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        now = self._now()
        return {run_id for run_id in run_ids if self._cancels.get(run_id, now) > now}

    async def get_session(
        self,
        session_id: str,
        *,
        session_type: SessionType | None = None,
        user_id: str | None = None,
        recent_runs: RecentRuns | None = None,
    ) -> SessionRow | None:
        row = self._rows.get(session_id)
        if row is None or (session_type is not None and row.session_type != session_type):
            return None
        if user_id is not None and row.user_id != user_id:
            return None
        if recent_runs is not None:
            row = replace(row, runs=records.select_recent(row.runs or [], recent_runs))
        return _copy_session(row)

    async def list_sessions(self, query: SessionQuery) -> Page[SessionRow]:
        page = querying.list_sessions(self._rows.values(), query)
        items = [_copy_session(row) for row in page.items]
        if not query.include_runs:
            items = [replace(row, runs=None) for row in items]
        return Page(items=items, total=page.total)

    async def create_session(self, row: SessionRow) -> SessionRow | None:
        if row.session_id in self._rows:
            return None
        stored = _copy_session(records.stamp_session(replace(row, runs=[]), now=self._now()))
        self._rows[row.session_id] = stored
        return _copy_session(stored)

    async def upsert_session(self, row: SessionRow) -> SessionRow:
        stored = _copy_session(records.stamp_session(row, now=self._now()))
        self._rows[row.session_id] = stored
        return _copy_session(stored)

    async def save_run(self, new: SessionRow, run: JSON, *, session_state: JSON | None) -> SessionRow:
        stored = self._rows.get(new.session_id)
        if records.owned_by_another(stored, new):
            raise records.another_users_session(new.session_id)
        updated = records.apply_run(stored, new, run, state=session_state, now=self._now())
        stored = _copy_session(updated)
        self._rows[new.session_id] = stored
        return replace(_copy_session(replace(stored, runs=[])), runs=None)

    async def replace_run(self, session_id: str, run: JSON, *, status: str, events: int | None = None) -> bool:
        run_id = records.run_id_of(run)
        row = self._rows.get(session_id)
        runs = (row.runs or []) if row is not None else []
        if row is None or not any(
            r.get("run_id") == run_id and records.stored_with(r, status=status, events=events) for r in runs
        ):
            return False
        self._rows[session_id] = _copy_session(replace(row, runs=records.merge_run(runs, run)))
        return True

    async def update_session(
        self, session_id: str, changes: SessionChanges, *, user_id: str | None = None
    ) -> SessionRow | None:
        row = self._rows.get(session_id)
        if row is None or (user_id is not None and row.user_id != user_id):
            return None
        stored = _copy_session(records.apply_changes(row, changes, now=self._now()))
        self._rows[session_id] = stored
        return _copy_session(stored)

    async def delete_sessions(self, session_ids: Sequence[str], *, user_id: str | None = None) -> int:
        doomed = {
            session_id
            for session_id in session_ids
            if session_id in self._rows and (user_id is None or self._rows[session_id].user_id == user_id)
        }
        for session_id in doomed:
            del self._rows[session_id]
        return len(doomed)


class InMemoryMemoryStore:
    def __init__(self, *, clock: Clock) -> None:
        self._rows: dict[str, MemoryRow] = {}
        self._clock = clock

    async def get_memory(self, memory_id: str, *, user_id: str | None = None) -> MemoryRow | None:
        row = self._rows.get(memory_id)
        if row is None or (user_id is not None and row.user_id != user_id):
            return None
        return _copy_memory(row)

    async def list_memories(self, query: MemoryQuery) -> Page[MemoryRow]:
        page = querying.list_memories(self._rows.values(), query)
        return Page(items=[_copy_memory(row) for row in page.items], total=page.total)

    async def upsert_memory(self, row: MemoryRow) -> MemoryRow:
        stamped = records.stamp_memory(row, self._rows.get(row.memory_id), now=int(self._clock()))
        stored = _copy_memory(stamped)
        self._rows[row.memory_id] = stored
        return _copy_memory(stored)

    async def update_memory(self, row: MemoryRow, *, user_id: str | None = None) -> MemoryRow | None:
        if not records.owned_memory(self._rows.get(row.memory_id), user_id):
            return None
        return await self.upsert_memory(row)

    async def delete_memories(self, memory_ids: Sequence[str], *, user_id: str | None = None) -> int:
        doomed = {
            memory_id
            for memory_id in memory_ids
            if memory_id in self._rows and (user_id is None or self._rows[memory_id].user_id == user_id)
        }
        for memory_id in doomed:
            del self._rows[memory_id]
        return len(doomed)

    async def list_topics(self, *, user_id: str | None = None) -> list[str]:
        return querying.list_topics(self._rows.values(), user_id=user_id)

    async def user_memory_stats(self, *, limit: int = 20, page: int = 1) -> Page[UserMemoryStats]:
        return querying.user_memory_stats(self._rows.values(), limit=limit, page=page)


class InMemoryDatabase:
    """A ``Database`` in process memory; ``ping`` always answers and ``close`` forgets nothing."""

    def __init__(self, *, id: str, clock: Clock = time.time) -> None:
        self.id = id
        self.sessions: SessionStore = InMemorySessionStore(clock=clock)
        self.memories: MemoryStore = InMemoryMemoryStore(clock=clock)
        self.metrics: MetricsStore = InMemoryMetricsStore(sessions=self.sessions)
        self.evals: EvalStore = InMemoryEvalStore(clock=clock)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
