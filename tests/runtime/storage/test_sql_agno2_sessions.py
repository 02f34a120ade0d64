"""Sessions Agno 2 wrote, with their runs inside the session row, are served with those runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agentos_runtime.storage.ports import Database, RecentRuns, SessionQuery, SessionRow
from agentos_runtime.storage.sql.database import SqlDatabase
from sqlalchemy import text

from tests.support.databases import IsolatedStorage, isolated_storage


def run(run_id: str, content: str) -> dict[str, object]:
    return {"run_id": run_id, "agent_id": "assistant", "content": content}


@pytest.fixture(params=["sqlite", "postgres"])
async def agno2(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database holding session ``s1`` as Agno 2 stored it: runs r1, r2 in the row's ``runs``."""
    async with isolated_storage(request.param, tmp_path) as storage:
        await add_agno2_session(storage)
        yield await storage.open()


async def add_agno2_session(storage: IsolatedStorage) -> None:
    database = await storage.open()
    assert isinstance(database, SqlDatabase)
    postgres = storage.kind == "postgres"
    table = f"{storage.config.db_schema}.agno_sessions" if postgres else "agno_sessions"
    blob = json.dumps([run("r1", "one"), run("r2", "two")])
    async with database.engine.begin() as connection:
        await connection.execute(text(f"ALTER TABLE {table} ADD COLUMN runs {'JSONB' if postgres else 'JSON'}"))
        await connection.execute(
            text(
                f"INSERT INTO {table} (session_id, session_type, agent_id, created_at, runs) "
                f"VALUES ('s1', 'agent', 'assistant', 1000, {'CAST(:blob AS JSONB)' if postgres else ':blob'})"
            ),
            {"blob": blob},
        )
    await database.close()
    storage.opened.remove(database)


def run_ids(row: SessionRow | None) -> list[tuple[str, object]]:
    assert row is not None
    return [(r["run_id"], r["content"]) for r in row.runs or []]


async def test_runs_in_an_agno2_session_row_are_read_and_listed(agno2: Database) -> None:
    assert run_ids(await agno2.sessions.get_session("s1")) == [("r1", "one"), ("r2", "two")]
    listed = await agno2.sessions.list_sessions(SessionQuery())
    assert run_ids(listed.items[0]) == [("r1", "one"), ("r2", "two")]


async def test_new_and_rewritten_runs_of_an_agno2_session_keep_their_order(agno2: Database) -> None:
    new = SessionRow(session_id="s1", session_type="agent", created_at=1000)

    await agno2.sessions.save_run(new, run("r3", "three"), session_state=None)
    await agno2.sessions.save_run(new, run("r1", "one, edited"), session_state=None)

    expected = [("r1", "one, edited"), ("r2", "two"), ("r3", "three")]
    assert run_ids(await agno2.sessions.get_session("s1")) == expected


async def test_the_recent_runs_of_an_agno2_session_include_those_in_its_row(agno2: Database) -> None:
    new = SessionRow(session_id="s1", session_type="agent", created_at=1000)
    await agno2.sessions.save_run(new, run("r3", "three"), session_state=None)

    recent = await agno2.sessions.get_session("s1", recent_runs=RecentRuns(limit=2))

    assert run_ids(recent) == [("r2", "two"), ("r3", "three")]


async def test_replacing_an_agno2_sessions_runs_drops_the_old_copy(agno2: Database) -> None:
    stored = await agno2.sessions.get_session("s1")
    assert stored is not None and stored.runs is not None

    await agno2.sessions.upsert_session(SessionRow("s1", "agent", 1000, runs=[stored.runs[1]]))

    assert run_ids(await agno2.sessions.get_session("s1")) == [("r2", "two")]
