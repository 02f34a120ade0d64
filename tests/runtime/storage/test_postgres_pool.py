"""The run path's PostgreSQL pool: connections reused and renewed, lost ones replaced without
losing a call, and an unreachable server reported at once to every caller waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.sql.postgres_executor import PoolSettings, PostgresExecutor
from agentos_runtime.storage.sql.statements import Statement

from tests.runtime.storage.tcp_proxy import TcpProxy
from tests.runtime.storage.test_store_failures import at_port
from tests.support.databases import drop_postgres_schema, postgres_url, unique_name
from tests.support.ports import free_port

PID = Statement("SELECT pg_backend_pid()")
# Far below the pool's wait (10 s): failing at once, not after the pool gave up waiting.
FAST_SECONDS = 2.0
# A local connection, made at once rather than at the pool's next backoff (1 s, then doubling).
RECONNECT_SECONDS = 1.0


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name = unique_name("pool")
    async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as connection:
        await connection.execute(f'CREATE SCHEMA "{name}"')
        await connection.execute(f'CREATE TABLE "{name}".saved (id TEXT PRIMARY KEY)')
    yield name
    await drop_postgres_schema(name)


async def backend_pid(executor: PostgresExecutor) -> int:
    rows = (await executor.fetch([(PID, {})]))[0]
    return int(rows[0][0])


async def terminate(pid: int) -> None:
    """What a server restart does to a connection: the server ends it (and this waits until it has)."""
    async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def closed_port_url() -> str:
    return at_port(postgres_url(), free_port())  # nothing listens there


async def test_one_connection_serves_call_after_call() -> None:
    executor = PostgresExecutor(postgres_url(), db_id="main")
    try:
        pids = {await backend_pid(executor) for _ in range(20)}
    finally:
        await executor.close()

    assert len(pids) == 1


async def test_a_connection_past_its_lifetime_is_replaced() -> None:
    executor = PostgresExecutor(postgres_url(), db_id="main", settings=PoolSettings(max_lifetime=1e-6))
    try:
        pids = [await backend_pid(executor) for _ in range(3)]
    finally:
        await executor.close()

    assert len(set(pids)) == 3


async def test_more_callers_than_connections_all_get_served_in_turn() -> None:
    executor = PostgresExecutor(postgres_url(), db_id="main", settings=PoolSettings(max_size=3))
    try:
        pids = await asyncio.gather(*(backend_pid(executor) for _ in range(30)))
    finally:
        await executor.close()

    assert len(pids) == 30 and len(set(pids)) <= 3


async def test_a_read_on_a_connection_the_server_ended_is_retried_on_a_new_one() -> None:
    executor = PostgresExecutor(postgres_url(), db_id="main")
    try:
        first = await backend_pid(executor)
        await terminate(first)

        second = await backend_pid(executor)
    finally:
        await executor.close()

    assert second != first


async def test_a_save_on_a_connection_the_server_ended_is_applied_once_on_a_new_one(schema: str) -> None:
    executor = PostgresExecutor(postgres_url(), db_id="main")
    insert = Statement(f'INSERT INTO "{schema}".saved (id) VALUES (%(id)s) RETURNING id')
    try:
        await terminate(await backend_pid(executor))

        returned = await executor.write([(insert, {"id": "a"})])
        stored = await executor.fetch([(Statement(f'SELECT id FROM "{schema}".saved'), {})])
    finally:
        await executor.close()

    assert returned == [[("a",)]]
    assert stored == [[("a",)]]


async def test_a_failed_save_applies_nothing_and_leaves_the_connection_usable(schema: str) -> None:
    executor = PostgresExecutor(postgres_url(), db_id="main")
    insert = Statement(f'INSERT INTO "{schema}".saved (id) VALUES (%(id)s)')
    try:
        with pytest.raises(psycopg.errors.UniqueViolation):
            await executor.write([(insert, {"id": "a"}), (insert, {"id": "a"})])

        stored = await executor.fetch([(Statement(f'SELECT count(*) FROM "{schema}".saved'), {})])
    finally:
        await executor.close()

    assert stored == [[(0,)]]


async def test_the_statements_of_a_save_see_what_the_ones_before_them_wrote(schema: str) -> None:
    executor = PostgresExecutor(postgres_url(), db_id="main")
    insert = Statement(f'INSERT INTO "{schema}".saved (id) VALUES (%(id)s)')
    count = Statement(f'SELECT count(*) FROM "{schema}".saved WHERE id LIKE %(pattern)s')
    try:
        found = await executor.write([(insert, {"id": "a"}), (insert, {"id": "b"}), (count, {"pattern": "%"})])
    finally:
        await executor.close()

    assert found == [[], [], [(2,)]]


HOSTILE_VALUES = [
    "it's",
    "back\\slash \\' quote",
    "100% %(id)s %s {}",
    "'); DROP TABLE saved; --",
    "$$ dollar $$ $tag$",
    "line\nbreak\ttab",
    "\u00e9\u4e2d\U0001f600",
    "x" * 100_000,
]


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=range(len(HOSTILE_VALUES)))
async def test_a_saved_value_comes_back_exactly_whatever_its_characters(schema: str, value: str) -> None:
    executor = PostgresExecutor(postgres_url(), db_id="main")
    insert = Statement(f'INSERT INTO "{schema}".saved (id) VALUES (%(id)s) RETURNING id')
    try:
        returned = await executor.write([(insert, {"id": value})])
        stored = await executor.fetch([(Statement(f'SELECT id FROM "{schema}".saved'), {})])
    finally:
        await executor.close()

    assert returned == [[(value,)]]
    assert stored == [[(value,)]]


async def test_a_connection_the_server_ended_while_idle_is_never_used(schema: str) -> None:
    executor = PostgresExecutor(postgres_url(), db_id="main")
    insert = Statement(f'INSERT INTO "{schema}".saved (id) VALUES (%(id)s) RETURNING id')
    try:
        pids = [await backend_pid(executor)]
        for value in ("a", "b", "c"):
            await terminate(pids[-1])
            await executor.write([(insert, {"id": value})])
            pids.append(await backend_pid(executor))
        stored = await executor.fetch([(Statement(f'SELECT id FROM "{schema}".saved ORDER BY id'), {})])
    finally:
        await executor.close()

    assert stored == [[("a",), ("b",), ("c",)]]
    assert len(set(pids)) == 4


async def idle_backends(application_name: str) -> list[int]:
    """The idle server processes of connections made under ``application_name``."""
    async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as admin:
        cursor = await admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND state = 'idle'", (application_name,)
        )
        return [int(row[0]) for row in await cursor.fetchall()]


async def test_a_connection_opened_in_the_background_and_ended_before_its_first_use_is_never_used(
    schema: str,
) -> None:
    name = unique_name("fresh")
    # Past its lifetime, a returned connection is replaced by a new one the pool opens in the
    # background, as it does for every idle one after a failure: it waits there, never used.
    executor = PostgresExecutor(
        f"{postgres_url()}?application_name={name}", db_id="main", settings=PoolSettings(max_lifetime=1e-6)
    )
    insert = Statement(f'INSERT INTO "{schema}".saved (id) VALUES (%(id)s) RETURNING id')
    try:
        first = await backend_pid(executor)
        waiting: list[int] = []
        while not waiting:  # until the replacement is connected and idle in the pool
            waiting = [pid for pid in await idle_backends(name) if pid != first]
            await asyncio.sleep(0.01)
        for pid in waiting:
            await terminate(pid)  # as a restart or a failover ends it

        returned = await executor.write([(insert, {"id": "a"})])
    finally:
        await executor.close()

    assert returned == [[("a",)]]


async def test_a_call_cancelled_as_it_gives_its_connection_back_does_not_lose_it() -> None:
    """A client gone (or a deadline passing) just as the call hands its connection back, while
    another caller is in the pool's critical section: the connection still goes back, so the
    pool is not one connection short for ever (here it has one only)."""
    executor = PostgresExecutor(postgres_url(), db_id="main", settings=PoolSettings(max_size=1, wait=FAST_SECONDS))

    async def work(_connection: object) -> None:
        await pool_lock.acquire()  # another caller enters it just before this one gives back

    try:
        await backend_pid(executor)  # the pool is open
        pool_lock = executor._pool._lock  # its critical section (taking or giving back a connection)
        task = asyncio.create_task(executor._run(work, retry_safe=True))
        limit = time.monotonic() + FAST_SECONDS
        while not pool_lock._waiters:  # giving back: waiting for the pool
            assert time.monotonic() < limit and not task.done(), "the call never gave its connection back"
            await asyncio.sleep(0.005)
        task.cancel()
        pool_lock.release()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert isinstance(await backend_pid(executor), int)
    finally:
        await executor.close()


def behind(proxy: TcpProxy, settings: PoolSettings) -> PostgresExecutor:
    """An executor on the test PostgreSQL through ``proxy``."""
    return PostgresExecutor(at_port(postgres_url(), proxy.port), db_id="main", settings=settings)


async def test_calls_timed_out_on_a_frozen_server_leave_the_pool_whole_round_after_round() -> None:
    """More callers than connections while the server answers nothing: every one fails in time
    (those holding a connection, cut, and those waiting for one, cancelled); once it answers
    again the pool serves as many at once as before, with no connection left out, every time."""
    timeout = 0.5
    server = urlsplit(postgres_url())
    proxy = TcpProxy(server.hostname or "127.0.0.1", server.port or 0)
    await proxy.start()
    executor = behind(proxy, PoolSettings(max_size=3, wait=FAST_SECONDS, timeout=timeout))
    try:
        for _ in range(3):
            assert len(await asyncio.gather(*(backend_pid(executor) for _ in range(8)))) == 8
            proxy.freeze()
            started = time.monotonic()
            outcomes = await asyncio.gather(*(backend_pid(executor) for _ in range(8)), return_exceptions=True)
            assert time.monotonic() - started < timeout + 1 + FAST_SECONDS
            assert all(isinstance(outcome, StorageUnavailable) for outcome in outcomes), outcomes
            proxy.thaw()
        assert len(await asyncio.gather(*(backend_pid(executor) for _ in range(8)))) == 8
        assert executor._out == 0
        assert executor._pool.get_stats()["pool_size"] <= 3
    finally:
        proxy.thaw()
        await executor.close()
        await proxy.stop()


async def test_a_transaction_cut_off_by_a_partition_releases_its_row_locks_within_the_timeout(schema: str) -> None:
    """The runtime loses the server mid-transaction, holding a row lock, and nothing of it reaches
    the server (a partition: no end of connection either). The server ends that transaction once
    it has idled ``timeout_seconds``, so another replica can take the row while the partition lasts,
    instead of waiting for the server's TCP keepalives (hours by default)."""
    timeout = 0.5
    async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as other:
        await other.execute(f'INSERT INTO "{schema}".saved (id) VALUES (%s)', ("a",))
        server = urlsplit(postgres_url())
        proxy = TcpProxy(server.hostname or "127.0.0.1", server.port or 0)
        await proxy.start()
        executor = behind(proxy, PoolSettings(timeout=timeout))
        lock = Statement(f'SELECT id FROM "{schema}".saved WHERE id = %(id)s FOR UPDATE')
        rename = Statement(f'UPDATE "{schema}".saved SET id = %(id)s')

        def cut_off(_rows: object) -> list[tuple[Statement, dict[str, str]]]:
            proxy.freeze()  # the row is locked; what comes next never reaches the server
            return [(rename, {"id": "b"})]

        try:
            with pytest.raises(StorageUnavailable):
                await executor.write_after([(lock, {"id": "a"})], cut_off)

            limit = time.monotonic() + timeout + 10 * FAST_SECONDS
            while True:
                try:
                    async with other.transaction():
                        await other.execute(f'SELECT id FROM "{schema}".saved WHERE id = %s FOR UPDATE NOWAIT', ("a",))
                    break
                except psycopg.errors.LockNotAvailable:
                    assert time.monotonic() < limit, "the row stayed locked by the transaction cut off"
                    await asyncio.sleep(0.05)
        finally:
            proxy.thaw()
            await executor.close()
            await proxy.stop()


async def test_every_caller_waiting_on_an_unreachable_server_fails_at_once_with_the_reason() -> None:
    executor = PostgresExecutor(closed_port_url(), db_id="main")
    started = time.monotonic()
    try:
        outcomes = await asyncio.gather(*(backend_pid(executor) for _ in range(5)), return_exceptions=True)
    finally:
        await executor.close()

    assert time.monotonic() - started < FAST_SECONDS
    assert all(isinstance(outcome, StorageUnavailable) for outcome in outcomes), outcomes
    for outcome in outcomes:
        assert "database 'main' is unavailable" in str(outcome)
        assert "PoolTimeout" not in str(outcome)


async def test_the_first_call_after_the_server_returns_connects_again() -> None:
    server = urlsplit(postgres_url())
    proxy = TcpProxy(server.hostname or "127.0.0.1", server.port or 0)
    await proxy.start()
    executor = behind(proxy, PoolSettings())
    try:
        await backend_pid(executor)
        await proxy.stop()
        for _ in range(4):  # the pool's reconnection attempts fail meanwhile
            with pytest.raises(StorageUnavailable):
                await backend_pid(executor)

        await proxy.start()
        started = time.monotonic()
        await backend_pid(executor)
    finally:
        await executor.close()
        await proxy.stop()

    assert time.monotonic() - started < FAST_SECONDS


async def test_after_a_server_restart_every_kind_of_call_succeeds_at_the_first_try(tmp_path: Path) -> None:
    from agentos_runtime.storage.factory import open_database
    from agentos_runtime.storage.ports import MemoryQuery, SessionQuery, SessionRow

    from tests.support.databases import storage_config

    server = urlsplit(postgres_url())
    proxy = TcpProxy(server.hostname or "127.0.0.1", server.port or 0)
    await proxy.start()
    url = at_port(postgres_url(), proxy.port)
    name = unique_name("restart")
    database = await open_database(
        storage_config("postgres", name=name), environ={"DATABASE_URL": url}, data_dir=tmp_path
    )
    new = SessionRow(session_id="s1", session_type="agent", created_at=1_000, agent_id="assistant")
    try:
        await database.sessions.save_run(new, {"run_id": "r1", "agent_id": "assistant"}, session_state=None)
        await database.sessions.list_sessions(SessionQuery())  # SQLAlchemy's pool has a connection too
        await database.memories.list_memories(MemoryQuery())

        await proxy.stop()  # every open connection is cut, as a restart does
        await proxy.start()

        assert (await database.sessions.get_session("s1")) is not None
        assert (await database.sessions.list_sessions(SessionQuery())).total == 1
        assert (await database.memories.list_memories(MemoryQuery())).total == 0
        await database.sessions.save_run(new, {"run_id": "r2", "agent_id": "assistant"}, session_state=None)
    finally:
        await database.close()
        await proxy.stop()
        await drop_postgres_schema(name)


async def test_a_value_past_a_limit_of_the_server_is_the_values_error_not_an_outage(schema: str) -> None:
    executor = PostgresExecutor(postgres_url(), db_id="main")
    insert = Statement(f'INSERT INTO "{schema}".saved (id) VALUES (repeat(%(id)s, 1100000000))')
    try:
        with pytest.raises(ValueError, match="too large for the database: requested length too large"):
            await executor.write([(insert, {"id": "x"})])

        stored = await executor.fetch([(Statement(f'SELECT count(*) FROM "{schema}".saved'), {})])
    finally:
        await executor.close()

    assert stored == [[(0,)]]


async def test_the_listings_and_edits_engine_says_the_same_of_a_value_past_a_limit() -> None:
    from agentos_runtime.storage.sql.connecting import create_postgres_engine, storage_errors
    from sqlalchemy import text

    engine = create_postgres_engine(postgres_url().replace("postgresql://", "postgresql+psycopg://", 1))  # as opened
    try:
        with pytest.raises(ValueError, match="too large for the database: requested length too large"):
            with storage_errors("main"):
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT repeat('x', 1100000000)"))
    finally:
        await engine.dispose()
