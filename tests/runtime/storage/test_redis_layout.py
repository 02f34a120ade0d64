"""Our Redis records sit under Agno's keys, index SETs stay exact, and deletes leave nothing behind."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from agentos_runtime.storage.ports import Database, EvalQuery, MemoryQuery, MemoryRow, SessionQuery, SessionRow
from agentos_runtime.storage.redis import keys
from redis.asyncio import Redis

from tests.support.databases import IsolatedStorage, delete_redis_keys, isolated_storage, redis_url


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[IsolatedStorage]:
    async with isolated_storage("redis", tmp_path) as isolated:
        yield isolated


@pytest.fixture
async def client() -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_url(), decode_responses=True)
    yield redis
    await redis.aclose()


async def stored_keys(client: Redis, prefix: str) -> set[str]:
    return {key async for key in client.scan_iter(match=f"{prefix}:*")} - {
        keys.schema_version_key(prefix, table)
        for table in ("agno_sessions", "agno_runs", "agno_memories", "agno_metrics", "agno_eval_runs")
    }


async def write_session(database: Database) -> None:
    new = SessionRow(session_id="s1", session_type="agent", created_at=1, agent_id="helper", user_id="ana")
    await database.sessions.save_run(
        new, {"run_id": "r1", "agent_id": "helper", "status": "COMPLETED"}, session_state=None
    )


async def test_a_session_with_a_run_uses_agnos_keys(storage: IsolatedStorage, client: Redis) -> None:
    database = await storage.open()
    await write_session(database)
    p = storage.config.key_prefix

    assert await stored_keys(client, p) == {
        f"{p}:sessions:s1",
        f"{p}:sessions:index:user_id:ana",
        f"{p}:sessions:index:agent_id:helper",
        f"{p}:sessions:index:session_type:agent",
        f"{p}:runs:r1",
        f"{p}:runs:by_session:s1",
        f"{p}:runs:index:session_id:s1",
        f"{p}:runs:index:user_id:ana",
        f"{p}:runs:index:agent_id:helper",
        f"{p}:runs:index:run_type:agent",
        f"{p}:runs:index:status:COMPLETED",
    }
    session = json.loads(await client.get(f"{p}:sessions:s1") or "{}")
    run = json.loads(await client.get(f"{p}:runs:r1") or "{}")
    assert "runs" not in session and session["user_id"] == "ana"
    assert (run["session_id"], run["run_index"], run["run_data"]["run_id"]) == ("s1", 0, "r1")
    assert await client.smembers(f"{p}:sessions:index:user_id:ana") == {"s1"}


async def test_deleting_sessions_and_memories_leaves_no_key_behind(storage: IsolatedStorage, client: Redis) -> None:
    database = await storage.open()
    await write_session(database)
    await database.memories.upsert_memory(MemoryRow(memory_id="m1", memory="x", user_id="ana", agent_id="helper"))

    await database.sessions.delete_sessions(["s1"])
    await database.memories.delete_memories(["m1"])

    assert await stored_keys(client, storage.config.key_prefix) == set()


async def test_moving_a_session_to_another_user_moves_its_index_entry(storage: IsolatedStorage, client: Redis) -> None:
    database = await storage.open()
    await write_session(database)
    stored = await database.sessions.get_session("s1")
    assert stored is not None

    await database.sessions.upsert_session(replace(stored, user_id="bob"))

    p = storage.config.key_prefix
    assert await client.smembers(f"{p}:sessions:index:user_id:ana") == set()
    assert await client.smembers(f"{p}:sessions:index:user_id:bob") == {"s1"}
    assert [row.session_id for row in (await database.sessions.list_sessions(SessionQuery(user_id="bob"))).items] == [
        "s1"
    ]


async def test_a_prefix_with_glob_characters_lists_only_its_own_keys(tmp_path: Path, client: Redis) -> None:
    async with isolated_storage("redis", tmp_path) as plain:
        await write_session(await plain.open())
        starred_prefix = f"{plain.config.key_prefix[:-1]}*"
        starred = IsolatedStorage(
            "redis", plain.config.model_copy(update={"key_prefix": starred_prefix}), plain.environ, tmp_path
        )
        try:
            other = await starred.open()
            assert (await other.sessions.list_sessions(SessionQuery())).total == 0
        finally:
            for database in starred.opened:
                await database.close()
            await delete_redis_keys(starred_prefix)


async def test_a_record_is_the_one_its_key_names_whatever_its_id_field_says(
    storage: IsolatedStorage, client: Redis
) -> None:
    """Records another writer left (or damaged): an eval run and a memory without an id field,
    or with another record's id, and a session without its id."""
    database = await storage.open()
    p = storage.config.key_prefix
    evaluated = {"eval_type": "accuracy", "eval_data": {}, "created_at": 1}
    await client.set(f"{p}:evals:nameless", json.dumps(evaluated))
    await client.set(f"{p}:evals:a", json.dumps({**evaluated, "run_id": "b"}))
    await client.set(f"{p}:evals:b", json.dumps({**evaluated, "run_id": "b"}))
    remembered = {"memory": "likes tea", "user_id": "ana", "topics": [], "created_at": 1, "updated_at": 1}
    await client.set(f"{p}:memories:nameless", json.dumps(remembered))
    await client.set(f"{p}:memories:a", json.dumps({**remembered, "memory_id": "b"}))
    await client.set(f"{p}:memories:b", json.dumps({**remembered, "memory_id": "b"}))
    await client.set(f"{p}:sessions:s9", json.dumps({"session_type": "agent", "created_at": 1}))

    listed = await database.evals.list_evals(EvalQuery())
    assert sorted(row.run_id for row in listed.items) == ["a", "b", "nameless"]
    assert (await database.evals.delete_evals(["nameless"]), await database.evals.delete_evals(["a"])) == (1, 1)
    assert {key async for key in client.scan_iter(match=f"{p}:evals:*")} == {f"{p}:evals:b"}
    memories = await database.memories.list_memories(MemoryQuery())
    assert sorted(row.memory_id for row in memories.items) == ["a", "b", "nameless"]
    assert await database.memories.delete_memories(["nameless", "a"]) == 2
    assert {key async for key in client.scan_iter(match=f"{p}:memories:*")} - {
        key async for key in client.scan_iter(match=f"{p}:memories:index:*")
    } == {f"{p}:memories:b"}
    session = await database.sessions.get_session("s9")
    assert session is not None and session.session_id == "s9"
