"""Where a run nested in another run (a team member, a workflow step) keeps its output.

A nested agent or team runs the same loop as a top-level one, which reads its session at the
start and saves its run once at the end. Nested, it must not write to the database itself:
its ``RunOutput`` travels inside the outer run (``member_responses``, ``step_executor_runs``),
so the outer run's single write stores everything or nothing. ``NestedRunStore`` is the
session store handed to the nested copy: reads give the history the outer run chose for it,
saves are kept in memory for the outer run to collect, at once even when the nested run was
cancelled under its caller (``keep``), so the outer run still gets its partial answer. A
nested run is never listed, edited or deleted on its own, so those operations are refused
with ``TypeError``. A team's member (agent or team), or a workflow step's agent or team, may pause
(``may_pause``) when the outer run may: its paused output travels in the outer run like any other, and goes on inside the team run's
continue (never taken up on its own, so ``replace_run`` is refused too).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

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


class NestedRunStore:
    """A ``SessionStore`` for nested runs: history in, saved runs kept by ``run_id``."""

    def __init__(self, *, history: Sequence[JSON] = (), may_pause: bool = False) -> None:
        """``history``: earlier runs of the nested agent or team, replayed when it asks for history;
        ``may_pause``: its run may end ``PAUSED`` (the outer run pauses with it)."""
        self._history = [dict(run) for run in history]
        self._saved: dict[str, JSON] = {}
        self.may_pause = may_pause

    def output(self, run_id: str) -> JSON | None:
        """The run saved under ``run_id``; ``None`` when the nested run never reached its save."""
        return self._saved.get(run_id)

    async def get_session(
        self,
        session_id: str,
        *,
        session_type: SessionType | None = None,
        user_id: str | None = None,
        recent_runs: RecentRuns | None = None,
    ) -> SessionRow | None:
        if not self._history:
            return None
        runs = records.select_recent(self._history, recent_runs) if recent_runs is not None else self._history
        return SessionRow(
            session_id=session_id,
            session_type=session_type or "agent",
            created_at=int(self._history[0].get("created_at") or 0),
            user_id=user_id,
            runs=copy.deepcopy(runs),
        )

    def keep(self, run: JSON) -> None:
        """Keep ``run`` at once (what ``save_run`` does, without waiting on anything)."""
        run_id = run.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise ValueError("a run must carry a non-empty string 'run_id'")
        self._saved[run_id] = copy.deepcopy(run)

    async def save_run(self, new: SessionRow, run: JSON, *, session_state: JSON | None) -> SessionRow:
        self.keep(run)
        return new

    async def replace_run(self, session_id: str, run: JSON, *, status: str, events: int | None = None) -> bool:
        raise TypeError("a nested run is never taken up on its own: the outer run's continue takes it up")

    async def list_sessions(self, query: SessionQuery) -> Page[SessionRow]:
        raise TypeError("a nested run's session is never listed: it lives in the outer run")

    async def create_session(self, row: SessionRow) -> SessionRow | None:
        raise TypeError("a nested run never writes a session: the outer run does")

    async def upsert_session(self, row: SessionRow) -> SessionRow:
        raise TypeError("a nested run never writes a session: the outer run does")

    async def update_session(
        self, session_id: str, changes: SessionChanges, *, user_id: str | None = None
    ) -> SessionRow | None:
        raise TypeError("a nested run's session is never edited: it lives in the outer run")

    async def delete_sessions(self, session_ids: Sequence[str], *, user_id: str | None = None) -> int:
        raise TypeError("a nested run's session is never deleted: it lives in the outer run")

    async def request_cancel(self, run_id: str, *, seconds: int) -> None:
        raise TypeError("a nested run is cancelled with its outer run, which its replica watches")

    async def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        return set()  # a cancel of the outer run reaches its nested runs
