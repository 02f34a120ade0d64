"""Sessions on SQL: the session row in ``agno_sessions``, its runs as rows of ``agno_runs``.

``get_session`` and ``save_run``, which every run calls, go to the database through the
``Executor`` with statements compiled ahead of time (``statements``), without SQLAlchemy: a
save upserts the session row and the run row only, in one transaction, so two runs saved at
once on one session, even from two replicas, both end up stored, and its cost does not grow
with the session. Listings and edits are ``session_edits``' (SQLAlchemy), built on first use.
Runs Agno 2 left in the session row (its ``runs`` column, when present) are merged in on
reads, as Agno 3 does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from agentos_runtime.storage import records
from agentos_runtime.storage.ports import (
    JSON,
    Page,
    RecentRuns,
    SessionChanges,
    SessionQuery,
    SessionRow,
    SessionType,
)
from agentos_runtime.storage.sql.executing import Executor, Rows, Step
from agentos_runtime.storage.sql.statements import (
    SqlText,
    cancel_params,
    replace_params,
    run_params,
    session_params,
    window_params,
)


class SessionEdits(Protocol):
    """The session operations besides a run's read and save (``session_edits.SqlSessionEdits``)."""

    async def list_sessions(self, query: SessionQuery) -> Page[SessionRow]: ...
    async def create_session(self, row: SessionRow) -> SessionRow | None: ...
    async def upsert_session(self, row: SessionRow) -> SessionRow: ...
    async def update_session(
        self, session_id: str, changes: SessionChanges, *, user_id: str | None = None
    ) -> SessionRow | None: ...
    async def delete_sessions(self, session_ids: Sequence[str], *, user_id: str | None = None) -> int: ...


class SqlSessionStore:
    def __init__(
        self,
        executor: Executor,
        text: SqlText,
        *,
        legacy_runs: bool,
        clock: Callable[[], float],
        edits: Callable[[], SessionEdits],
    ) -> None:
        """``legacy_runs``: the sessions table has Agno 2's ``runs`` column; ``edits`` builds the
        listings and edits on first use."""
        self._executor = executor
        self._text = text
        self._legacy = legacy_runs
        self._columns = text.legacy_session_columns if legacy_runs else text.session_columns
        self._clock = clock
        self._build_edits = edits
        self._edits: SessionEdits | None = None

    async def get_session(
        self,
        session_id: str,
        *,
        session_type: SessionType | None = None,
        user_id: str | None = None,
        recent_runs: RecentRuns | None = None,
    ) -> SessionRow | None:
        text = self._text
        select_session = text.select_session(
            by_type=session_type is not None, by_user=user_id is not None, legacy=self._legacy
        )
        steps: list[Step] = [
            (select_session, {"session_id": session_id, "session_type": session_type, "user_id": user_id})
        ]
        if recent_runs is None:
            steps.append((text.all_runs, {"session_id": session_id}))
        elif recent_runs.limit > 0:
            steps.append((text.recent_runs, window_params(session_id, recent_runs)))
        found = await self._executor.fetch(steps)
        if not found[0]:
            return None
        columns = dict(zip(self._columns, found[0][0], strict=True))
        runs = _decoded(found[1] if len(found) > 1 else [], session_id)
        if recent_runs is not None:
            runs.reverse()  # read newest first
        if columns.get("runs"):
            # Agno 2 left runs in the session row: merged with every stored run, then picked.
            if recent_runs is not None:
                stored = await self._executor.fetch([(text.all_runs, {"session_id": session_id})])
                runs = _decoded(stored[0], session_id)
            runs = records.merge_legacy_runs(runs, columns["runs"])
            if recent_runs is not None:
                runs = records.select_recent(runs, recent_runs)
        return records.session_from_columns(columns, runs)

    async def save_run(self, new: SessionRow, run: JSON, *, session_state: JSON | None) -> SessionRow:
        now = int(self._clock())
        run_values = run_params(run, session_id=new.session_id, owner=new.user_id, now=now)
        created = records.saved_session(None, new, state=session_state, now=now)
        session_values = session_params(created, now=now, state=session_state)
        upsert = self._text.upsert_session(with_state=session_state is not None)
        written = await self._executor.write([(upsert, session_values), (self._text.upsert_run, run_values)])
        if not written[0]:  # another user's session: neither statement wrote anything
            raise records.another_users_session(new.session_id)
        return records.session_from_columns(dict(zip(self._text.session_columns, written[0][0], strict=True)), None)

    async def replace_run(self, session_id: str, run: JSON, *, status: str, events: int | None = None) -> bool:
        params = replace_params(
            run, session_id=session_id, expected_status=status, expected_events=events, now=int(self._clock())
        )
        written = await self._executor.write([(self._text.replace_run, params)])
        return bool(written[0])

    async def request_cancel(self, run_id: str, *, seconds: int) -> None:
        now = int(self._clock())
        text = self._text
        await self._executor.write(
            [
                (text.forget_cancels, {"now": now}),
                (text.request_cancel, {"run_id": run_id, "expires_at": now + seconds}),
            ]
        )

    async def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        if not run_ids:
            return set()
        statement = self._text.cancel_requested
        found = await self._executor.fetch(
            [(statement, params) for params in cancel_params(run_ids, now=int(self._clock()))]
        )
        return {str(run_id) for rows in found for (run_id,) in rows}

    async def list_sessions(self, query: SessionQuery) -> Page[SessionRow]:
        return await self._edit().list_sessions(query)

    async def create_session(self, row: SessionRow) -> SessionRow | None:
        return await self._edit().create_session(row)

    async def upsert_session(self, row: SessionRow) -> SessionRow:
        return await self._edit().upsert_session(row)

    async def update_session(
        self, session_id: str, changes: SessionChanges, *, user_id: str | None = None
    ) -> SessionRow | None:
        return await self._edit().update_session(session_id, changes, user_id=user_id)

    async def delete_sessions(self, session_ids: Sequence[str], *, user_id: str | None = None) -> int:
        return await self._edit().delete_sessions(session_ids, user_id=user_id)

    def _edit(self) -> SessionEdits:
        if self._edits is None:
            self._edits = self._build_edits()
        return self._edits


def _decoded(rows: Rows, session_id: str) -> list[JSON]:
    return [records.stored_run(run_data, session_id=session_id) for (run_data,) in rows]
