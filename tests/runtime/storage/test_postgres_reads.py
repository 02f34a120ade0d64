"""A read of several statements on a PostgreSQL server reached directly (a session and its runs, a
knowledge search and its settings): the statements go out together in psycopg's pipeline mode,
one round trip (counted by a ``TcpProxy``) and one transaction, and fail as one statement does:
the server's error, its refusal for its timeouts, a caller's cancellation; the next read is served
(on a new connection: psycopg may take a statement the failed pipeline never ran for prepared)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import psycopg
import pytest
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.sql.postgres_executor import PoolSettings, PostgresExecutor
from agentos_runtime.storage.sql.statements import Statement

from tests.runtime.storage.tcp_proxy import TcpProxy
from tests.runtime.storage.test_store_failures import at_port
from tests.support.databases import postgres_url

PID = Statement("SELECT pg_backend_pid()")
XID = Statement("SELECT txid_current()")
# An advisory lock another connection holds: a statement taking it waits on the server.
LOCK_KEY = 7_300_417
TAKE_LOCK = Statement(f"SELECT pg_advisory_lock({LOCK_KEY})")


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    server = urlsplit(postgres_url())
    proxy = TcpProxy(server.hostname or "127.0.0.1", server.port or 0)
    await proxy.start()
    yield proxy
    await proxy.stop()


def through(proxy: TcpProxy, *, timeout: float | None = None) -> PostgresExecutor:
    """An executor on the test PostgreSQL through ``proxy``, one connection in its pool."""
    settings = PoolSettings(max_size=1, timeout=timeout)
    return PostgresExecutor(at_port(postgres_url(), proxy.port), db_id="main", settings=settings)


@pytest.fixture
async def lock_held() -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    """Another client holding ``LOCK_KEY``; it also watches the server."""
    async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as holder:
        await holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        yield holder


async def waiting_for_the_lock(watcher: psycopg.AsyncConnection[tuple[object, ...]]) -> list[int]:
    """The server processes waiting for ``LOCK_KEY``."""
    cursor = await watcher.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND NOT granted", (LOCK_KEY,)
    )
    return [int(row[0]) for row in await cursor.fetchall()]


async def test_a_read_of_several_statements_is_one_round_trip_and_one_transaction(proxy: TcpProxy) -> None:
    executor = through(proxy)
    setting = Statement("SELECT set_config('enable_seqscan', 'off', true)")
    shown = Statement("SELECT current_setting('enable_seqscan')")
    try:
        await executor.fetch([(PID, {})])  # the pool's connection is open
        before = proxy.round_trips
        found = await executor.fetch([(XID, {}), (setting, {}), (shown, {}), (XID, {})])
        waited = proxy.round_trips - before
        after = await executor.fetch([(shown, {})])
    finally:
        await executor.close()

    assert waited == 1
    assert found[0] == found[3] and found[1:3] == [[("off",)], [("off",)]]  # one transaction
    assert after == [[("on",)]]  # its setting ended with it


async def test_the_rows_of_the_statements_after_the_first_that_found_none_are_left_out(proxy: TcpProxy) -> None:
    executor = through(proxy)
    try:
        found = await executor.fetch([(PID, {}), (Statement("SELECT 1 WHERE false"), {}), (PID, {})])
    finally:
        await executor.close()

    assert len(found) == 2 and found[1] == []


async def test_a_statement_of_a_read_that_fails_is_the_servers_error_and_the_next_read_is_served(
    proxy: TcpProxy,
) -> None:
    executor = through(proxy)
    try:
        first = (await executor.fetch([(PID, {})]))[0][0][0]
        with pytest.raises(psycopg.errors.DivisionByZero):
            await executor.fetch([(PID, {}), (Statement("SELECT 1 / 0"), {}), (PID, {})])

        again = await executor.fetch([(PID, {}), (PID, {})])
    finally:
        await executor.close()

    assert again[0] == again[1] and again[0][0][0] != first


async def test_a_read_the_server_cancels_for_its_timeout_is_unavailable_and_the_next_read_is_served(
    proxy: TcpProxy, lock_held: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    executor = through(proxy, timeout=0.5)
    try:
        first = (await executor.fetch([(PID, {})]))[0][0][0]
        with pytest.raises(StorageUnavailable) as refused:
            await executor.fetch([(PID, {}), (TAKE_LOCK, {}), (PID, {})])

        again = await executor.fetch([(PID, {}), (PID, {})])
    finally:
        await executor.close()

    assert "another client held a lock" in refused.value.detail
    assert again[0] == again[1] and again[0][0][0] != first
    assert await waiting_for_the_lock(lock_held) == []


async def test_a_read_its_caller_cancels_while_the_server_works_is_cancelled_there_and_the_next_read_is_served(
    proxy: TcpProxy, lock_held: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    executor = through(proxy)
    try:
        first = (await executor.fetch([(PID, {})]))[0][0][0]
        read = asyncio.ensure_future(executor.fetch([(PID, {}), (TAKE_LOCK, {}), (PID, {})]))
        while not await waiting_for_the_lock(lock_held):  # its statement waits on the server
            assert not read.done(), read
        read.cancel()
        with pytest.raises(asyncio.CancelledError):
            await read

        waiting = await waiting_for_the_lock(lock_held)
        again = await executor.fetch([(PID, {}), (PID, {})])
    finally:
        await executor.close()

    assert waiting == []  # psycopg had the server cancel it
    assert again[0] == again[1] and again[0][0][0] != first
    assert executor._out == 0


async def test_a_read_failing_as_psycopg_prepares_its_statements_leaves_no_statement_taken_for_prepared(
    proxy: TcpProxy,
) -> None:
    divide = Statement("SELECT 1 / %(d)s::int")
    add = Statement("SELECT %(x)s::int + 41")
    executor = through(proxy)
    try:
        for _ in range(5):  # psycopg prepares a statement at its sixth use
            await executor.fetch([(divide, {"d": 1}), (add, {"x": 1})])
        with pytest.raises(psycopg.errors.DivisionByZero):
            await executor.fetch([(divide, {"d": 0}), (add, {"x": 1})])  # the server skips the addition

        alone = await executor.fetch([(add, {"x": 1})])
        both = await executor.fetch([(divide, {"d": 1}), (add, {"x": 1})])
    finally:
        await executor.close()

    assert alone == [[(42,)]]
    assert both == [[(1,)], [(42,)]]
