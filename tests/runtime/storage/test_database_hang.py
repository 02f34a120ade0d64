"""A database that stops answering is reported unavailable within a bound, never waited on forever.

PostgreSQL and Redis behind a frozen ``TcpProxy`` (a partition, a stuck server: connections stay
open, nothing comes back), and PostgreSQL whose sessions table another client holds locked: every
store call, the run path's (read, save) and SQLAlchemy's (listings, edits), raises
``StorageUnavailable`` naming the database by its id, never its host or port, within the
database's ``timeout_seconds`` plus a margin; a write that timed out applied nothing, and the
database answers again once the fault is gone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.factory import open_database
from agentos_runtime.storage.ports import Database, MemoryQuery, SessionChanges, SessionQuery, SessionRow
from agentos_runtime.storage.redis import client

from tests.runtime.storage.tcp_proxy import TcpProxy
from tests.support.databases import drop_postgres_schema, postgres_url, redis_url, unique_name

TIMEOUT = 1.0
# What the test allows a call beyond the database's timeout: the call's own margin (the server's
# timeout answering first, then the cut) and a loaded machine. Before the bound, calls hung.
MARGIN = 6.0

Call = Callable[[Database], Awaitable[Any]]


def session(session_id: str = "s1", **fields: object) -> SessionRow:
    values: dict[str, object] = {"session_type": "agent", "created_at": 1_000, "agent_id": "assistant"}
    values.update(fields)
    return SessionRow(session_id=session_id, **values)  # type: ignore[arg-type]


CALLS: dict[str, Call] = {
    "read": lambda db: db.sessions.get_session("s1"),
    "save a run": lambda db: db.sessions.save_run(session(), {"run_id": "r2"}, session_state={"n": 2}),
    "list sessions": lambda db: db.sessions.list_sessions(SessionQuery()),
    "update a session": lambda db: db.sessions.update_session("s1", SessionChanges(session_name="late")),
    "list memories": lambda db: db.memories.list_memories(MemoryQuery()),
    "ping": lambda db: db.ping(),
}


def at_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return parts._replace(netloc=f"{user}127.0.0.1:{port}").geturl()


@pytest.fixture(params=["postgres", "redis"])
async def frozen(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Database, TcpProxy]]:
    kind: str = request.param
    base = postgres_url() if kind == "postgres" else redis_url()
    target = urlsplit(base)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 0)
    await proxy.start()
    monkeypatch.setattr(client, "TIMEOUT_SECONDS", TIMEOUT)
    name = unique_name("hang")
    config = DatabaseConfig.model_validate(
        {"id": "slow-db", "type": kind, "db_schema": name, "key_prefix": name, "timeout_seconds": TIMEOUT}
    )
    database: Database | None = None
    try:
        database = await open_database(
            config,
            environ={"DATABASE_URL": at_port(base, proxy.port), "REDIS_URL": at_port(base, proxy.port)},
            data_dir=tmp_path,
        )
        await database.sessions.save_run(session(), {"run_id": "r1"}, session_state={"n": 1})
        await database.memories.list_memories(MemoryQuery())  # SQLAlchemy's pool is open too
        yield database, proxy
    finally:
        proxy.thaw()
        if database is not None:
            await database.close()
        await proxy.stop()
        if kind == "postgres":
            await drop_postgres_schema(name)


async def unavailable_in_time(call: Awaitable[Any], *, proxy_port: int | None) -> StorageUnavailable:
    started = time.monotonic()
    try:
        async with asyncio.timeout(TIMEOUT + MARGIN):
            await call
    except StorageUnavailable as error:
        assert time.monotonic() - started < TIMEOUT + MARGIN
        assert "'slow-db'" in error.detail
        if proxy_port is not None:
            assert str(proxy_port) not in error.detail
        assert "127.0.0.1" not in error.detail and "postgres@" not in error.detail
        return error
    raise AssertionError("the call answered though the database did not")


@pytest.mark.parametrize("call", list(CALLS), ids=list(CALLS))
async def test_a_frozen_database_is_unavailable_within_its_timeout_and_answers_once_thawed(
    frozen: tuple[Database, TcpProxy], call: str
) -> None:
    database, proxy = frozen
    proxy.freeze()

    await unavailable_in_time(CALLS[call](database), proxy_port=proxy.port)

    proxy.thaw()
    assert await database.sessions.get_session("s1") is not None


# psycopg's own request to cancel a statement, on a cancelled task, waits up to 5 s for a server
# that answers nothing, before it gives the connection up.
DRIVER_CANCEL_SECONDS = 5.0


@pytest.mark.parametrize("call", ["read", "list sessions"])
async def test_a_call_cancelled_by_its_caller_while_the_database_hangs_ends_cancelled_not_unavailable(
    frozen: tuple[Database, TcpProxy], call: str
) -> None:
    """A client gone (or a run cancelled, or a shutdown) stays a cancellation even when the
    database's deadline passes while the driver is still giving the statement up."""
    database, proxy = frozen
    proxy.freeze()
    held = proxy.held
    task: asyncio.Future[Any] = asyncio.ensure_future(CALLS[call](database))
    limit = time.monotonic() + MARGIN
    while proxy.held == held:  # the call's statement is sent and held: it waits on the database
        assert time.monotonic() < limit and not task.done(), "the call never reached the database"
        await asyncio.sleep(0.01)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(TIMEOUT + DRIVER_CANCEL_SECONDS + MARGIN):
            await asyncio.shield(task)
    proxy.thaw()
    assert await database.sessions.get_session("s1") is not None


class TableLock:
    """Another client's lock on one table: ACCESS EXCLUSIVE, held from ``take`` to ``release``."""

    def __init__(self, connection: psycopg.AsyncConnection[Any], table: str) -> None:
        self._connection = connection
        self._table = table

    async def take(self) -> None:
        await self._connection.execute("BEGIN")
        await self._connection.execute(f"LOCK TABLE {self._table} IN ACCESS EXCLUSIVE MODE")

    async def release(self) -> None:
        await self._connection.execute("ROLLBACK")


@pytest.fixture
async def locked(tmp_path: Path) -> AsyncIterator[tuple[Database, TableLock]]:
    """A PostgreSQL database with a session, and a lock another client can take on its sessions table."""
    name = unique_name("lock")
    config = DatabaseConfig.model_validate(
        {"id": "slow-db", "type": "postgres", "db_schema": name, "timeout_seconds": TIMEOUT}
    )
    database = await open_database(config, environ={"DATABASE_URL": postgres_url()}, data_dir=tmp_path)
    other = await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True)
    try:
        await database.sessions.save_run(session(), {"run_id": "r1"}, session_state={"n": 1})
        await database.memories.list_memories(MemoryQuery())
        yield database, TableLock(other, f'"{name}".agno_sessions')
    finally:
        await other.close()
        await database.close()
        await drop_postgres_schema(name)


@pytest.mark.parametrize("call", [name for name in CALLS if name != "list memories"])
async def test_a_sessions_table_locked_by_another_client_is_unavailable_within_the_timeout(
    locked: tuple[Database, TableLock], call: str
) -> None:
    database, lock = locked
    await lock.take()

    error = await unavailable_in_time(CALLS[call](database), proxy_port=None)

    assert "lock" in error.detail
    await database.memories.list_memories(MemoryQuery())  # the other tables answer meanwhile
    await lock.release()
    assert await database.sessions.get_session("s1") is not None


async def test_writes_that_timed_out_on_a_lock_applied_nothing(locked: tuple[Database, TableLock]) -> None:
    database, lock = locked
    before = await database.sessions.get_session("s1")
    await lock.take()

    await unavailable_in_time(CALLS["save a run"](database), proxy_port=None)
    await unavailable_in_time(CALLS["update a session"](database), proxy_port=None)

    await lock.release()
    assert await database.sessions.get_session("s1") == before
