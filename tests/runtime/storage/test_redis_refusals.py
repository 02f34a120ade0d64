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
from redis._parsers.base import BaseParser

from tests.support.databases import fresh_redis_database, redis_url


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


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (
            "READONLY You can't write against a read only replica.",
            "refused the operation (READONLY): the server is a read-only replica (as after a failover): "
            "point the URL at the primary",
        ),
        (
            "OOM command not allowed when used memory > 'maxmemory'. script: 345f, on @user_script:61.",
            "refused the operation (OOM): Redis reached its maxmemory: free memory or raise maxmemory",
        ),
        (
            "NOPERM User agent has no permissions to run the 'evalsha' command",
            "refused the operation (NOPERM): the Redis user lacks a permission the runtime needs "
            "(@scripting, the keys under its prefix): grant it",
        ),
    ],
)
async def test_a_refusal_after_a_failover_or_at_a_limit_says_what_it_means_and_what_to_do(
    db: RedisDatabase, reply: str, detail: str
) -> None:
    error = BaseParser.parse_error(reply)  # what the client raises for the server's reply

    with pytest.raises(StorageUnavailable) as raised, db._backend.errors():
        raise error

    assert raised.value.detail == f"database '{db.id}' {detail}"


async def test_a_wrong_password_is_unavailable_saying_to_check_it_and_never_showing_it(db: RedisDatabase) -> None:
    config = DatabaseConfig(id="cache", type="redis")
    url = redis_url().replace("redis://", "redis://nobody:Wr0ngPassw0rd@", 1)

    with pytest.raises(StorageUnavailable) as raised:
        await open_redis(config, url=url)

    assert raised.value.detail.startswith("database 'cache' is unavailable: AuthenticationError: ")
    assert raised.value.detail.endswith(": check the user and password in its URL")
    assert "Wr0ngPassw0rd" not in raised.value.detail
