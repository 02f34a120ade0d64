"""A run's save and its history read cost the same whatever the size of its session (SQL).

Counted as the statements sent to the database (through SQLAlchemy or the run path's own
executor), which do not depend on timing: saving a
run into a session of 40 runs sends the same statements as into a session of one, and none
of them reads stored runs back; reading the history of a long session reads only its window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.storage.ports import Database, RecentRuns, SessionRow
from agentos_runtime.storage.sql.database import SqlDatabase
from agentos_runtime.storage.sql.executing import Step
from sqlalchemy import event

from tests.support.databases import fresh_database

NEW = SessionRow(session_id="s1", session_type="agent", created_at=1_000, agent_id="assistant")


def run(run_id: str) -> dict[str, object]:
    return {"run_id": run_id, "agent_id": "assistant", "status": "COMPLETED", "messages": [{"content": "x" * 200}]}


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database(request.param, tmp_path) as database:
        yield database


@contextmanager
def statements(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL of every statement ``database`` sends, through the engine or the run path's executor."""
    assert isinstance(database, SqlDatabase)
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split()))

    def recording(method: Callable[[Sequence[Step]], Awaitable[Any]]) -> Callable[[Sequence[Step]], Awaitable[Any]]:
        async def call(steps: Sequence[Step]) -> Any:
            sent.extend(" ".join(statement.sql.split()) for statement, _ in steps)
            return await method(steps)

        return call

    executor = database.executor
    with monkeypatch.context() as patch:
        patch.setattr(executor, "fetch", recording(executor.fetch))
        patch.setattr(executor, "write", recording(executor.write))
        engine = database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            yield sent
        finally:
            event.remove(engine, "before_cursor_execute", record)


async def test_saving_a_run_sends_the_same_statements_into_a_long_session_and_reads_no_runs(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await db.sessions.save_run(NEW, run("r0"), session_state=None)
    with statements(db, monkeypatch) as short:
        await db.sessions.save_run(NEW, run("r1"), session_state={"n": 1})
    for index in range(2, 40):
        await db.sessions.save_run(NEW, run(f"r{index}"), session_state=None)

    with statements(db, monkeypatch) as long:
        await db.sessions.save_run(NEW, run("r40"), session_state={"n": 2})

    assert long == short
    assert not [sql for sql in long if sql.startswith("SELECT") and "run_data" in sql]


async def test_reading_a_sessions_history_reads_only_its_window(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(30):
        await db.sessions.save_run(NEW, run(f"r{index}"), session_state=None)

    with statements(db, monkeypatch) as sent:
        row = await db.sessions.get_session("s1", recent_runs=RecentRuns(limit=3))

    assert row is not None and [r["run_id"] for r in row.runs or []] == ["r27", "r28", "r29"]
    reads = [sql for sql in sent if "run_data" in sql]
    assert len(reads) == 1 and "LIMIT" in reads[0]
