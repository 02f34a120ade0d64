"""Redis compare-and-set: writes apply only when nothing their snapshot read has changed, never
half-apply when a key holds the wrong type, and survive Redis forgetting the scripts."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.ports import SessionRow
from agentos_runtime.storage.redis import keys
from agentos_runtime.storage.redis.client import RedisBackend, create_client
from agentos_runtime.storage.redis.database import RedisDatabase
from agentos_runtime.storage.redis.guarded import Scripts, Snapshot, WriteBatch, apply, digest_of
from redis.asyncio import Redis

from tests.support.databases import fresh_redis_database, redis_url


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[RedisDatabase]:
    async with fresh_redis_database(tmp_path) as database:
        yield database


@pytest.fixture
def client(db: RedisDatabase) -> Redis:
    return db._backend.client


@pytest.fixture
def scripts(db: RedisDatabase) -> Scripts:
    return db._backend.scripts


def key(db: RedisDatabase, name: str) -> str:
    return f"{db._backend.prefix}:test:{name}"


def writing(db: RedisDatabase, name: str, value: str) -> WriteBatch:
    batch = WriteBatch()
    batch.set(key(db, name), value)
    return batch


async def test_writes_apply_when_what_was_read_is_unchanged(db: RedisDatabase, client: Redis, scripts: Scripts) -> None:
    await client.set(key(db, "a"), "1")
    snapshot = Snapshot(scripts)
    assert await snapshot.get(key(db, "a")) == "1"
    assert await snapshot.get(key(db, "missing")) is None

    assert await apply(scripts, snapshot, writing(db, "b", "2")) is True

    assert await client.get(key(db, "b")) == "2"


@pytest.mark.parametrize(
    "change",
    ["a value rewritten", "a missing key created", "a sorted set member added", "a score moved"],
)
async def test_writes_are_refused_and_nothing_written_when_a_read_changed(
    db: RedisDatabase, client: Redis, scripts: Scripts, change: str
) -> None:
    await client.set(key(db, "a"), "1")
    await client.zadd(key(db, "order"), {"r1": 0})
    snapshot = Snapshot(scripts)
    await snapshot.read(
        [
            ("GET", key(db, "a"), ()),
            ("GET", key(db, "missing"), ()),
            ("ZRANGE", key(db, "order"), ("-1", "-1", "WITHSCORES")),
        ]
    )
    if change == "a value rewritten":
        await client.set(key(db, "a"), "2")
    elif change == "a missing key created":
        await client.set(key(db, "missing"), "")
    elif change == "a sorted set member added":
        await client.zadd(key(db, "order"), {"r2": 1})
    else:
        await client.zadd(key(db, "order"), {"r1": 5})

    assert await apply(scripts, snapshot, writing(db, "b", "2")) is False

    assert await client.exists(key(db, "b")) == 0


async def test_a_key_of_the_wrong_type_refuses_every_write_of_the_batch(
    db: RedisDatabase, client: Redis, scripts: Scripts
) -> None:
    await client.set(key(db, "set"), "not a set")
    batch = writing(db, "first", "1")
    batch.zadd(key(db, "order"), {"r1": 0})
    batch.sadd(key(db, "set"), "r1")

    with pytest.raises(Exception, match="WRONGTYPE"):
        await apply(scripts, Snapshot(scripts), batch)

    assert await client.exists(key(db, "first"), key(db, "order")) == 0


async def test_a_run_saved_into_a_corrupted_index_writes_nothing_and_says_why(db: RedisDatabase, client: Redis) -> None:
    prefix = db._backend.prefix
    await client.set(keys.index_key(prefix, keys.RUNS, "status", "COMPLETED"), "not a set")
    session = SessionRow(session_id="s1", session_type="agent", created_at=1_000, agent_id="helper")

    with pytest.raises(StorageUnavailable) as raised:
        await db.sessions.save_run(session, {"run_id": "r1", "status": "COMPLETED"}, session_state=None)

    assert raised.value.detail == f"database '{db.id}' refused the operation (WRONGTYPE)"
    assert (
        await client.exists(keys.record_key(prefix, keys.SESSIONS, "s1"), keys.record_key(prefix, keys.RUNS, "r1")) == 0
    )
    assert await db.sessions.get_session("s1") is None


async def test_saving_still_works_after_redis_forgot_its_scripts(db: RedisDatabase, client: Redis) -> None:
    session = SessionRow(session_id="s1", session_type="agent", created_at=1_000, agent_id="helper")
    await db.sessions.save_run(session, {"run_id": "r1", "status": "COMPLETED"}, session_state=None)
    await client.script_flush()

    await db.sessions.save_run(session, {"run_id": "r2", "status": "COMPLETED"}, session_state=None)

    found = await db.sessions.get_session("s1")
    assert found is not None and [run["run_id"] for run in found.runs or []] == ["r1", "r2"]


async def test_reads_answer_as_the_client_does(db: RedisDatabase, client: Redis, scripts: Scripts) -> None:
    await client.set(key(db, "a"), "héllo \u0000 wörld")
    await client.zadd(key(db, "order"), {"r1": 0, "r2": 1})
    snapshot = Snapshot(scripts)

    assert await snapshot.mget([key(db, "a"), key(db, "missing")]) == ["héllo \u0000 wörld", None]
    assert await snapshot.zrange(key(db, "order"), 0, -1) == ["r1", "r2"]
    assert await snapshot.mget([]) == []
    assert len(snapshot.guards) == 2


async def test_the_digest_computed_here_is_the_one_the_scripts_give(
    db: RedisDatabase, client: Redis, scripts: Scripts
) -> None:
    await client.set(key(db, "text"), "héllo \u0000 wörld 🦜")
    await client.set(key(db, "empty"), "")
    await client.zadd(key(db, "order"), {"r1": 0, "r2": 1.5})
    reads = [
        ("GET", key(db, "text"), ()),
        ("GET", key(db, "empty"), ()),
        ("GET", key(db, "missing"), ()),
        ("ZSCORE", key(db, "order"), ("r2",)),
        ("ZSCORE", key(db, "order"), ("r9",)),
        ("ZRANGE", key(db, "order"), ("0", "-1", "WITHSCORES")),
        ("ZRANGE", key(db, "nothing"), ("-1", "-1", "WITHSCORES")),
    ]
    snapshot = Snapshot(scripts)

    replies = await snapshot.read(reads)

    assert digest_of(replies) == snapshot.guards[0][1]
    assert digest_of([None]) != digest_of([""]) != digest_of([[]])


class CountingScript:
    def __init__(self, script: Any) -> None:
        self.script, self.calls = script, 0

    async def __call__(self, **arguments: Any) -> Any:
        self.calls += 1
        return await self.script(**arguments)


def counting_reads(db: RedisDatabase) -> CountingScript:
    backend = db._backend
    counter = CountingScript(backend.scripts.read)
    backend.__dict__["scripts"] = dataclasses.replace(backend.scripts, read=counter)
    return counter


async def test_expected_replies_cost_no_read_and_the_write_checks_them(
    db: RedisDatabase, client: Redis, scripts: Scripts
) -> None:
    reads = CountingScript(scripts.read)
    counted = dataclasses.replace(scripts, read=reads)
    absent = ("GET", key(db, "a"), ())
    holds = Snapshot(counted, {absent: None})
    wrong = Snapshot(counted, {absent: None})

    assert await holds.read([absent]) == [None] and await wrong.read([absent]) == [None]
    assert reads.calls == 0
    assert await apply(scripts, holds, writing(db, "a", "1")) is True
    assert await apply(scripts, wrong, writing(db, "a", "2")) is False
    assert await client.get(key(db, "a")) == "1"


async def test_the_first_run_of_a_session_found_missing_is_saved_without_reading_it_again(db: RedisDatabase) -> None:
    reads = counting_reads(db)
    session = SessionRow(session_id="s1", session_type="agent", created_at=1_000, agent_id="helper")
    assert await db.sessions.get_session("s1") is None

    await db.sessions.save_run(session, {"run_id": "r1", "status": "COMPLETED"}, session_state=None)
    assert reads.calls == 0
    await db.sessions.save_run(session, {"run_id": "r2", "status": "COMPLETED"}, session_state=None)
    assert reads.calls == 1  # the second run reads as any save does

    found = await db.sessions.get_session("s1")
    assert found is not None and [run["run_id"] for run in found.runs or []] == ["r1", "r2"]


async def test_a_session_another_replica_created_after_the_read_keeps_its_run(db: RedisDatabase) -> None:
    backend = db._backend
    other = RedisDatabase(RedisBackend("other", create_client(redis_url()), backend.prefix, backend.clock))
    session = SessionRow(session_id="s1", session_type="agent", created_at=1_000, agent_id="helper")
    try:
        assert await db.sessions.get_session("s1") is None
        await other.sessions.save_run(session, {"run_id": "r2", "status": "COMPLETED"}, session_state=None)

        await db.sessions.save_run(session, {"run_id": "r1", "status": "COMPLETED"}, session_state=None)
    finally:
        await other.close()

    found = await db.sessions.get_session("s1")
    assert found is not None and [run["run_id"] for run in found.runs or []] == ["r2", "r1"]  # in the order saved
