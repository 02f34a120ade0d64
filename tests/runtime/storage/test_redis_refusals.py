"""Redis: a huge history window is read in bounded batches, and a command Redis refuses is
``StorageUnavailable`` naming the database and the server's error code, never the command or key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.ports import RecentRuns, SessionRow
from agentos_runtime.storage.redis import keys
from agentos_runtime.storage.redis.client import server_error_code
from agentos_runtime.storage.redis.database import RedisDatabase, open_redis

from tests.support.databases import fresh_redis_database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[RedisDatabase]:
    async with fresh_redis_database(tmp_path) as database:
        yield database


def session(session_id: str) -> SessionRow:
    return SessionRow(session_id=session_id, session_type="agent", created_at=1_000, agent_id="assistant")


async def test_a_history_window_larger_than_any_redis_range_reads_every_run(db: RedisDatabase) -> None:
    for index in range(1, 4):
        run = {"run_id": f"r{index}", "agent_id": "assistant", "status": "COMPLETED", "created_at": 1_000 + index}
        await db.sessions.save_run(session("s1"), run, session_state=None)

    found = await db.sessions.get_session("s1", recent_runs=RecentRuns(limit=10**20))

    assert found is not None and [run["run_id"] for run in found.runs or []] == ["r1", "r2", "r3"]


async def test_a_refused_command_is_unavailable_without_quoting_the_command_or_key(db: RedisDatabase) -> None:
    await db.sessions.save_run(session("s1"), {"run_id": "r1", "created_at": 1_000}, session_state=None)
    order_key = keys.runs_by_session_key(db._backend.prefix, "s1")
    await db._backend.client.delete(order_key)
    await db._backend.client.set(order_key, "not a sorted set")

    with pytest.raises(StorageUnavailable) as raised:
        await db.sessions.get_session("s1", recent_runs=RecentRuns(limit=3))

    assert raised.value.detail == f"database '{db.id}' refused the operation (WRONGTYPE)"


async def test_a_url_option_the_driver_cannot_read_is_unavailable_without_quoting_the_url() -> None:
    config = DatabaseConfig(id="cache", type="redis")

    with pytest.raises(StorageUnavailable) as raised:
        await open_redis(config, url="redis://:pw@127.0.0.1:6379/0?socket_timeout=soon")

    assert raised.value.detail == "database 'cache': REDIS_URL has an invalid option"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("WRONGTYPE Operation against a key holding the wrong kind of value", "WRONGTYPE"),
        ("Command # 2 (ZREVRANGE p:runs:s1 0 99) of pipeline caused error: ('OOM command not allowed',)", "OOM"),
        ("value is not an integer or out of range", "ERR"),
    ],
)
def test_the_server_error_code_is_kept_and_the_quoted_command_dropped(message: str, code: str) -> None:
    assert server_error_code(message) == code
