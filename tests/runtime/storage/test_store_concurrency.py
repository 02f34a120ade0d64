"""Concurrent writers, as two replicas of the runtime sharing one database produce them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from agentos_runtime.storage.ports import MemoryQuery, MemoryRow, SessionChanges, SessionQuery, SessionRow
from agentos_runtime.storage.sql.database import SqlDatabase
from redis.asyncio import Redis
from sqlalchemy import text

from tests.support.databases import SERVER_BACKENDS, IsolatedStorage, isolated_storage, redis_url

RUNS = 20


def new_session() -> SessionRow:
    return SessionRow(session_id="shared", session_type="agent", created_at=1_000, agent_id="assistant", user_id="ana")


def run(index: int) -> dict[str, object]:
    return {"run_id": f"run-{index:02d}", "agent_id": "assistant", "content": f"answer {index}"}


async def stored_run_positions(storage: IsolatedStorage) -> list[float]:
    """Each stored run's position in the session (``run_index``, or its score on Redis)."""
    if storage.kind == "redis":
        client = Redis.from_url(redis_url(), decode_responses=True)
        try:
            scored = await client.zrange(f"{storage.config.key_prefix}:runs:by_session:shared", 0, -1, withscores=True)
        finally:
            await client.aclose()
        return [score for _, score in scored]
    database = storage.opened[0]
    assert isinstance(database, SqlDatabase)
    table = "agno_runs" if storage.kind == "sqlite" else f"{storage.config.db_schema}.agno_runs"
    async with database.engine.connect() as connection:
        found = await connection.execute(text(f"SELECT run_index FROM {table} WHERE session_id = 'shared'"))
        return [float(index) for (index,) in found.all()]


@pytest.mark.parametrize("kind", SERVER_BACKENDS)
async def test_twenty_concurrent_runs_on_a_new_session_through_two_databases_all_survive(
    kind: str, tmp_path: Path
) -> None:
    async with isolated_storage(kind, tmp_path) as storage:
        replicas = [await storage.open(), await storage.open()]

        await asyncio.gather(
            *(
                replicas[index % 2].sessions.save_run(new_session(), run(index), session_state={"last": index})
                for index in range(RUNS)
            )
        )

        stored = await replicas[0].sessions.get_session("shared")
        assert stored is not None
        assert sorted(r["run_id"] for r in stored.runs or []) == [f"run-{index:02d}" for index in range(RUNS)]
        assert stored.session_data is not None and stored.session_data["session_state"]["last"] in range(RUNS)
        assert sorted(await stored_run_positions(storage)) == list(range(RUNS))
        assert (await replicas[1].sessions.list_sessions(SessionQuery())).total == 1


@pytest.mark.parametrize("kind", SERVER_BACKENDS)
async def test_concurrent_runs_and_rewrites_on_an_existing_session_keep_every_run_once(
    kind: str, tmp_path: Path
) -> None:
    async with isolated_storage(kind, tmp_path) as storage:
        first, second = await storage.open(), await storage.open()
        await first.sessions.save_run(new_session(), run(0), session_state=None)

        appends = [second.sessions.save_run(new_session(), run(index), session_state=None) for index in range(1, RUNS)]
        rewrites = [first.sessions.save_run(new_session(), run(0) | {"content": "edited"}, session_state=None)]
        await asyncio.gather(*appends, *rewrites)

        stored = await second.sessions.get_session("shared")
        assert stored is not None and stored.runs is not None
        assert len(stored.runs) == RUNS
        assert stored.runs[0] == run(0) | {"content": "edited"}
        assert sorted(r["run_id"] for r in stored.runs) == [f"run-{index:02d}" for index in range(RUNS)]
        assert sorted(await stored_run_positions(storage)) == list(range(RUNS))


@pytest.mark.parametrize("kind", SERVER_BACKENDS)
async def test_concurrent_memory_upserts_through_two_databases_are_all_kept(kind: str, tmp_path: Path) -> None:
    async with isolated_storage(kind, tmp_path) as storage:
        replicas = [await storage.open(), await storage.open()]

        await asyncio.gather(
            *(
                replicas[index % 2].memories.upsert_memory(MemoryRow(memory_id=f"m{index}", memory="x", user_id="ana"))
                for index in range(RUNS)
            )
        )

        assert (await replicas[0].memories.list_memories(MemoryQuery(user_id="ana"))).total == RUNS


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_replicas_starting_together_create_the_tables_once_without_failing(kind: str, tmp_path: Path) -> None:
    async with isolated_storage(kind, tmp_path) as storage:
        replicas = await asyncio.gather(*(storage.open() for _ in range(4)))

        await replicas[0].sessions.save_run(new_session(), run(1), session_state=None)
        stored = await replicas[3].sessions.get_session("shared")
        assert stored is not None and [r["run_id"] for r in stored.runs or []] == ["run-01"]


@pytest.mark.parametrize("kind", SERVER_BACKENDS)
async def test_a_rename_racing_concurrent_runs_is_never_lost(kind: str, tmp_path: Path) -> None:
    async with isolated_storage(kind, tmp_path) as storage:
        first, second = await storage.open(), await storage.open()
        await first.sessions.save_run(new_session(), run(0), session_state={"n": 0})

        runs = [first.sessions.save_run(new_session(), run(i), session_state={"n": i}) for i in range(1, RUNS)]
        renames = [second.sessions.update_session("shared", SessionChanges(session_name=f"name-{i}")) for i in range(5)]
        await asyncio.gather(*runs[:10], *renames, *runs[10:])

        stored = await second.sessions.get_session("shared")
        assert stored is not None and stored.session_data is not None
        assert stored.session_data["session_name"].startswith("name-")
        assert len(stored.runs or []) == RUNS


@pytest.mark.parametrize("kind", SERVER_BACKENDS)
async def test_a_paused_run_taken_up_through_two_databases_at_once_is_taken_by_one_only(
    kind: str, tmp_path: Path
) -> None:
    async with isolated_storage(kind, tmp_path) as storage:
        replicas = [await storage.open(), await storage.open()]
        paused = [run(index) | {"status": "PAUSED"} for index in range(RUNS)]
        for stored in paused:
            await replicas[0].sessions.save_run(new_session(), stored, session_state=None)

        taken = await asyncio.gather(
            *(
                replicas[attempt % 2].sessions.replace_run(
                    "shared", paused[attempt // 2] | {"status": "RUNNING", "by": attempt % 2}, status="PAUSED"
                )
                for attempt in range(2 * RUNS)
            )
        )

        stored = await replicas[1].sessions.get_session("shared")
        assert stored is not None and stored.runs is not None
        for index, found in enumerate(stored.runs):
            first, second = taken[2 * index], taken[2 * index + 1]
            assert [first, second].count(True) == 1
            assert found["status"] == "RUNNING" and found["by"] == (0 if first else 1)
