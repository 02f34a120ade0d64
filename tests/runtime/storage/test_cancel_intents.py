"""Cancel intents: a cancel sent to one replica, recorded in the store the run's replica reads.

The contract runs identically on every backend; each backend's expiry is checked with a clock
of the test's own (SQL, memory) or the key's time to live (Redis), never by waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import Database, SessionStore
from agentos_runtime.storage.redis import keys
from agentos_runtime.storage.redis.database import RedisDatabase
from agentos_runtime.storage.sql.database import SqlDatabase
from agentos_runtime.storage.sql.sessions import SqlSessionStore
from agentos_runtime.storage.sql.statements import CANCEL_SLOTS, SqlText

from tests.support.databases import BACKENDS, SERVER_BACKENDS, IsolatedStorage, isolated_storage


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[IsolatedStorage]:
    async with isolated_storage(request.param, tmp_path) as isolated:
        yield isolated


async def test_a_cancel_requested_for_a_run_is_told_for_that_run_only(storage: IsolatedStorage) -> None:
    db = await storage.open()
    await db.sessions.request_cancel("run-1", seconds=600)

    assert await db.sessions.cancel_requested(["run-1", "run-2"]) == {"run-1"}
    assert await db.sessions.cancel_requested(["run-2"]) == set()
    assert await db.sessions.cancel_requested([]) == set()


@pytest.mark.parametrize("kind", SERVER_BACKENDS)
async def test_a_cancel_recorded_through_one_replica_is_read_by_another(kind: str, tmp_path: Path) -> None:
    async with isolated_storage(kind, tmp_path) as shared:
        told, running = await shared.open(), await shared.open()
        await told.sessions.request_cancel("run-elsewhere", seconds=600)

        assert await running.sessions.cancel_requested(["run-here", "run-elsewhere"]) == {"run-elsewhere"}


async def test_more_runs_than_one_read_asks_about_are_all_answered(storage: IsolatedStorage) -> None:
    db = await storage.open()
    run_ids = [f"run-{index}" for index in range(CANCEL_SLOTS * 2 + 5)]
    cancelled = {run_ids[0], run_ids[CANCEL_SLOTS], run_ids[-1]}
    for run_id in cancelled:
        await db.sessions.request_cancel(run_id, seconds=600)

    assert await db.sessions.cancel_requested(run_ids) == cancelled


async def test_a_cancel_requested_twice_is_one_intent(storage: IsolatedStorage) -> None:
    db = await storage.open()
    await db.sessions.request_cancel("run-1", seconds=600)
    await db.sessions.request_cancel("run-1", seconds=900)

    assert await db.sessions.cancel_requested(["run-1"]) == {"run-1"}


async def test_ids_of_every_shape_a_route_lets_through_are_recorded(storage: IsolatedStorage) -> None:
    db = await storage.open()
    odd = ["run with spaces", "run:with:colons", "run*glob?[x]", "ünïcødé-✓", "'; DROP TABLE x; --"]
    for run_id in odd:
        await db.sessions.request_cancel(run_id, seconds=600)

    assert await db.sessions.cancel_requested([*odd, "run"]) == set(odd)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_an_intent_in_memory_is_forgotten_when_its_time_is_up() -> None:
    clock = Clock(1_000)
    db = InMemoryDatabase(id="memory", clock=clock)
    await db.sessions.request_cancel("run-1", seconds=60)

    clock.now = 1_059
    assert await db.sessions.cancel_requested(["run-1"]) == {"run-1"}
    clock.now = 1_060
    assert await db.sessions.cancel_requested(["run-1"]) == set()


def _sql_store(db: Database, storage: IsolatedStorage, clock: Clock) -> SessionStore:
    """A view of ``db``'s sessions whose clock is the test's (the same executor, the same tables)."""
    assert isinstance(db, SqlDatabase)
    dialect = "postgresql" if storage.kind == "postgres" else "sqlite"
    schema = storage.config.db_schema if dialect == "postgresql" else None
    text = SqlText(dialect, storage.config.tables, schema=schema)

    def no_edits() -> None:
        raise AssertionError("not used")

    return SqlSessionStore(db.executor, text, legacy_runs=False, clock=clock, edits=no_edits)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_an_intent_on_sql_is_forgotten_when_its_time_is_up_and_deleted_by_a_later_cancel(
    kind: str, tmp_path: Path
) -> None:
    async with isolated_storage(kind, tmp_path) as storage:
        db = await storage.open()
        clock = Clock(1_000)
        sessions = _sql_store(db, storage, clock)
        await sessions.request_cancel("run-old", seconds=60)

        clock.now = 1_059
        assert await sessions.cancel_requested(["run-old"]) == {"run-old"}
        clock.now = 1_060
        assert await sessions.cancel_requested(["run-old"]) == set()

        await sessions.request_cancel("run-new", seconds=60)
        clock.now = 0  # the expired row would be told again if it were still stored
        assert await sessions.cancel_requested(["run-old", "run-new"]) == {"run-new"}


async def test_an_intent_on_redis_lives_as_long_as_its_key(tmp_path: Path) -> None:
    async with isolated_storage("redis", tmp_path) as storage:
        db = await storage.open()
        assert isinstance(db, RedisDatabase)
        await db.sessions.request_cancel("run-1", seconds=60)

        ttl = await db._backend.client.ttl(keys.cancel_key(storage.config.key_prefix, "run-1"))
        assert 55 <= ttl <= 60
