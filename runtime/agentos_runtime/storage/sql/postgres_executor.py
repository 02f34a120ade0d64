"""PostgreSQL for the run path: a ``psycopg_pool`` pool of its own, statements auto-prepared.

Connections are in autocommit mode: a read is plain statements (prepared by psycopg once
they repeat); a read of several (a session and its runs, a knowledge search and its settings) on
a server reached directly goes out in psycopg's pipeline mode, every statement before any
answer: one round trip and one transaction. Behind a pooler they go one by one (``fetch`` says
why). A write is one message: its statements, each bound on the client by psycopg's
``ClientCursor`` and joined by semicolons, which PostgreSQL runs as one implicit transaction
(all or nothing, each statement seeing what the ones before it wrote), so a save costs one
round trip instead of four (``BEGIN``, the statements, ``COMMIT``). A write whose statements
depend on rows read first (``write_after``) is an explicit transaction. The pool (``PoolSettings``) opens up to 10 connections as calls need them,
closes them one by one after 5 minutes unused and replaces each after 30 minutes (so a
failover, a changed ``pg_hba`` or a memory-hungry backend is left behind in time); a caller
waits at most 10 s for one under load.

Health: a connection is not pinged when it is taken (that would add a round trip to every run);
instead its socket is polled without waiting: an idle connection has nothing to read unless
the server ended it (a restart or a failover sends a termination notice, or closes it), so
one that does is thrown away, with every idle one (they most likely died with it), before
anything is sent. A connection that fails while in use is discovered then: the idle ones are
drained, and the call is retried once on a new connection when nothing can have been applied
(a read, or a transaction whose ``BEGIN`` failed); otherwise the caller gets ``StorageUnavailable``. TCP keepalives find a peer that vanished silently while a
connection sat idle. A database that cannot be reached fails the callers waiting for a
connection as soon as the pool's attempt to connect fails (when no connection is out that could
come back), not after the pool's wait; the pool gives up reconnecting at once, so the first
call after the database returns connects again. A server that refuses for its state (read-only
after a failover, a table dropped: ``executing.refused_by_server``) is ``StorageUnavailable``
too, saying what to do. ``StorageUnavailable`` never quotes the URL.

Time: every call is bounded by the database's ``timeout_seconds`` (``deadline``): the server's
statement and lock timeouts cancel a statement kept waiting (the server's refusal is not retried:
it would wait as long again), and a server that answers nothing has the call's connection cut a
grace later; either way the call raises ``StorageUnavailable``. A write the server cancelled is
rolled back; one cut while its message was on its way may still be applied when it arrives.
A pool opened without a timeout (knowledge, whose writes and index creation may take long) can
still bound a read on the client: ``fetch``'s ``timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.sql.deadline import Deadline, did_not_answer, forget, has_news, server_options, watch
from agentos_runtime.storage.sql.executing import (
    Rows,
    Step,
    postgres_connect_options,
    refused_by_server,
    refused_value,
    unavailable,
)
from agentos_runtime.storage.sql.statements import Statement

T = TypeVar("T")
_IDLE = psycopg.pq.TransactionStatus.IDLE
_NO_PIPELINE = psycopg.pq.PipelineStatus.OFF


@dataclass(frozen=True)
class PoolSettings:
    """The pool's sizes and clocks, in seconds."""

    # Connections kept for the run path (besides SQLAlchemy's pool for everything else); none
    # is made before the first call needs one.
    min_size: int = 0
    max_size: int = 10
    # A connection is replaced after this long (minus up to 5 % so they do not all go at once) ...
    max_lifetime: float = 30 * 60.0
    # ... and one beyond ``min_size`` is closed after this long unused.
    max_idle: float = 5 * 60.0
    # How long a call waits for a free connection while every one is busy.
    wait: float = 10.0
    # The database's ``timeout_seconds`` (``deadline``): the server's statement and lock
    # timeouts, and each call's bound on the client; ``None``: unbounded (schema checks at start).
    timeout: float | None = None
    # The URL points at a connection pooler: no startup options (it refuses them), no prepared
    # statements (in transaction mode the next statement may reach another server connection).
    behind_pooler: bool = False


def connection_options(settings: PoolSettings, conninfo: str) -> dict[str, Any]:
    """What each connection of the pool is opened with: with a ``timeout``, the server's own
    bounds (``deadline.server_options``), unless ``behind_pooler``, which prepares nothing."""
    options: dict[str, Any] = {"autocommit": True, **postgres_connect_options(behind_pooler=settings.behind_pooler)}
    if settings.timeout is not None and not settings.behind_pooler:
        options["options"] = server_options(settings.timeout, conninfo, os.environ.get("PGOPTIONS"))
    return options


class _NothingApplied(Exception):
    """The connection failed before the work could change anything: safe to retry."""


class PooledConnection(psycopg.AsyncConnection[tuple[Any, ...]]):
    """A connection of the pool; ``used`` once it has served a call."""

    used = False


class PostgresExecutor:
    """The ``Executor`` on the PostgreSQL server at ``conninfo`` (a ``postgresql://`` URL).

    The pool opens on first use, on the running event loop.
    """

    def __init__(self, conninfo: str, *, db_id: str, settings: PoolSettings = PoolSettings()) -> None:
        self._conninfo = conninfo
        self._db_id = db_id
        self._timeout = settings.timeout
        self._behind_pooler = settings.behind_pooler
        self._pool: AsyncConnectionPool[PooledConnection] = AsyncConnectionPool(
            conninfo,
            connection_class=_reporting_failures(self._connect_failed),
            kwargs=connection_options(settings, conninfo),
            min_size=settings.min_size,
            max_size=settings.max_size,
            max_lifetime=settings.max_lifetime,
            max_idle=settings.max_idle,
            timeout=settings.wait,
            # Give up a failed reconnection at once: a backoff would keep a returned server
            # unused for as long as it lasts. The next call that needs a connection tries again.
            reconnect_timeout=0,
            name=f"agentos-{db_id}",
            open=False,
        )
        self._opened = False
        self.on_missing_tables: Callable[[], None] | None = None
        # Calls waiting for a connection (to fail when the server cannot be reached), how many
        # connections are out, and the last failure to connect.
        self._waiting: set[asyncio.Timeout] = set()
        self._out = 0
        self._connect_error: BaseException | None = None

    async def fetch(
        self, steps: Sequence[Step], *, timeout_seconds: float | None = None, in_transaction: bool = False
    ) -> list[Rows]:
        """The ``Executor``'s read; ``timeout_seconds``: this read's client-side bound (``deadline``)
        in place of the pool's (the server's own timeouts stay those the connections were opened
        with, if any). ``in_transaction``: the steps in one transaction, so settings a step makes
        with ``set_config(..., true)`` hold for the steps after it and end with it, leaving nothing
        on the connection (and, behind a pooler in transaction mode, every step runs on the same
        server connection).

        Several steps on a server reached directly are sent at once, in psycopg's pipeline mode,
        and answered at once: one round trip whatever their number. They are one transaction
        anyway, which the server ends at the pipeline's end (committed, or rolled back when a step
        failed; the connection is then closed, as psycopg may take a statement the server skipped
        for prepared). No step waits for another's rows: each is sent
        whatever the one before it finds, and the rows of those after the first that found none
        are left out, as the ``Executor`` says.

        Behind a pooler (``behind_pooler``) the steps go one by one, a round trip each, and
        ``in_transaction`` adds ``BEGIN`` and ``COMMIT``: psycopg ends a pipeline with a flush
        request sent after the pipeline's synchronisation point, and a pooler in transaction mode
        (PgBouncer) given that request once the answer has released the server connection links
        one to this client for it, kept from every other client until this client's next
        statement."""

        async def pipelined(connection: PooledConnection) -> list[Rows]:
            # Nothing is fetched before the pipeline ends: every step goes out before any answer.
            try:
                async with connection.pipeline():
                    cursors = [await _executed(connection, step) for step in steps]
            except BaseException:
                # psycopg counts a statement queued for preparing (its sixth use) as prepared before
                # the server answers; a step failing before it makes the server skip the rest of the
                # pipeline, so the statement is left unprepared while psycopg's cache says otherwise,
                # and every later use on this connection would fail: it is never used again.
                await connection.close()
                raise
            found: list[Rows] = []
            for cursor in cursors:
                found.append(await cursor.fetchall())
                if not found[-1]:
                    break
            return found

        async def one_by_one(connection: PooledConnection) -> list[Rows]:
            found: list[Rows] = []
            for step in steps:
                found.append(await (await _executed(connection, step)).fetchall())
                if not found[-1]:
                    break
            return found

        async def read(connection: PooledConnection) -> list[Rows]:
            if len(steps) > 1 and not self._behind_pooler:
                return await pipelined(connection)
            if not in_transaction or len(steps) < 2:
                return await one_by_one(connection)
            async with connection.transaction():
                return await one_by_one(connection)

        return await self._run(read, retry_safe=True, timeout=timeout_seconds)

    async def write(self, steps: Sequence[Step]) -> list[Rows]:
        if not steps:
            return []

        async def apply(connection: PooledConnection) -> list[Rows]:
            return await _one_message(connection, steps)

        return await self._run(apply, retry_safe=False)

    async def write_after(self, reads: Sequence[Step], plan: Callable[[list[Rows]], Sequence[Step]]) -> list[Rows]:
        async def apply(connection: PooledConnection) -> list[Rows]:
            return await _transaction(connection, plan, reads)

        return await self._run(apply, retry_safe=False)

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()

    async def _run(
        self, work: Callable[[PooledConnection], Awaitable[T]], *, retry_safe: bool, timeout: float | None = None
    ) -> T:
        """``work`` on a connection, bounded by ``timeout`` (the pool's when not given)."""
        bound = self._timeout if timeout is None else timeout
        async with Deadline(self._db_id, bound) as deadline:
            return await self._attempts(work, retry_safe=retry_safe, deadline=deadline, timeout=bound)
        raise AssertionError("unreachable: the deadline raises or lets through what it bounds")

    async def _attempts(
        self,
        work: Callable[[PooledConnection], Awaitable[T]],
        *,
        retry_safe: bool,
        deadline: Deadline,
        timeout: float | None,
    ) -> T:
        for attempt in (1, 2):
            connection = await self._connection()
            reused = connection.used
            try:
                result = await work(connection)
            except (_NothingApplied, psycopg.OperationalError, psycopg.InterfaceError) as error:
                await self._release(connection)
                refused = refused_value(error)
                if refused is not None:
                    raise refused from error
                # The server cancelled the statement (a lock held too long, or too slow): the
                # connection is fine, and trying again would wait as long again.
                refusal = refused_by_server(self._db_id, error.__cause__ or error)
                if refusal is not None:
                    raise refusal from error
                if deadline.expired:
                    raise did_not_answer(self._db_id, timeout or 0) from error
                await self._pool.drain()  # the idle ones most likely died with it
                cause = error.__cause__ if isinstance(error, _NothingApplied) else error
                if reused and attempt == 1 and (retry_safe or isinstance(error, _NothingApplied)):
                    continue
                raise self._unavailable(cause) from cause
            except psycopg.Error as error:
                await self._release(connection)
                refusal = refused_by_server(self._db_id, error, found_missing=self.on_missing_tables)
                if refusal is not None:
                    raise refusal from error
                raise
            except BaseException:
                await self._release(connection)
                raise
            await self._release(connection)
            return result
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _connection(self) -> PooledConnection:
        """A connection from the pool, never one the server has already ended."""
        while True:
            connection = await self._checkout()
            # Polled whether used or not: the pool opens connections in the background (after a
            # failure, past a lifetime) that may wait there, unused, until the server ends them.
            if not has_news(connection.pgconn.socket):
                watch(connection, connection.pgconn.socket)
                return connection
            await connection.close()
            await self._release(connection)
            await self._pool.drain()

    async def _checkout(self) -> PooledConnection:
        if not self._opened:
            self._opened = True
            await self._pool.open()
        try:
            async with asyncio.timeout(None) as waiting:
                self._waiting.add(waiting)
                try:
                    connection = await self._pool.getconn()
                finally:
                    self._waiting.discard(waiting)
        except TimeoutError as error:  # failed by ``_connect_failed``
            raise self._unavailable(self._connect_error) from self._connect_error or error
        except (PoolTimeout, PoolClosed) as error:
            raise self._unavailable(self._connect_error or error) from error
        self._out += 1
        return connection

    async def _release(self, connection: PooledConnection) -> None:
        forget(connection)
        self._out -= 1
        connection.used = True
        if not connection.closed and (
            connection.pgconn.transaction_status != _IDLE or connection.pgconn.pipeline_status != _NO_PIPELINE
        ):
            # A failure or a cancel left it mid-transaction, or in pipeline mode: never reuse it.
            await connection.close()
        # Shielded: the pool's putconn, cancelled while it waits for the pool's lock (a client
        # gone, a deadline passing as the call ends), would keep the connection out for ever.
        await asyncio.shield(self._pool.putconn(connection))

    def _connect_failed(self, error: BaseException) -> None:
        """The pool could not connect: when no connection is out that could come back, the
        callers waiting for one are failed now instead of at the end of the pool's wait."""
        self._connect_error = error
        if self._out == 0:
            now = asyncio.get_running_loop().time()
            for waiting in self._waiting:
                waiting.reschedule(now)

    def _unavailable(self, error: BaseException | None) -> StorageUnavailable:
        return unavailable(self._db_id, error, self._conninfo)


async def _one_message(connection: PooledConnection, steps: Sequence[Step]) -> list[Rows]:
    """``steps`` sent as one query string: PostgreSQL applies them all or none; each one's rows."""
    cursor = psycopg.AsyncClientCursor(connection)
    await cursor.execute(
        ";".join(cursor.mogrify(statement.sql, statement.bind(params) or None) for statement, params in steps)
    )
    found: list[Rows] = []
    while True:
        found.append(await cursor.fetchall() if cursor.description is not None else [])
        if not cursor.nextset():
            return found


async def _transaction(
    connection: PooledConnection, plan: Callable[[list[Rows]], Sequence[Step]], reads: Sequence[Step]
) -> list[Rows]:
    """``reads`` then ``plan(their rows)`` in one transaction; the rows of the planned steps.

    On any failure the connection is left inside the transaction and released closed, which
    rolls the transaction back on the server.
    """
    try:
        await connection.execute("BEGIN")
    except psycopg.OperationalError as error:
        raise _NothingApplied() from error
    read = [await _rows(connection, statement, params) for statement, params in reads]
    found = [await _rows(connection, statement, params) for statement, params in plan(read)]
    await connection.execute("COMMIT")
    return found


async def _executed(connection: PooledConnection, step: Step) -> psycopg.AsyncCursor[tuple[Any, ...]]:
    statement, params = step
    return await connection.execute(statement.sql, statement.bind(params) or None)


async def _rows(connection: PooledConnection, statement: Statement, params: Mapping[str, Any]) -> Rows:
    cursor = await connection.execute(statement.sql, statement.bind(params) or None)
    return await cursor.fetchall() if cursor.description is not None else []


def _reporting_failures(failed: Callable[[BaseException], None]) -> type[PooledConnection]:
    """The connection class of one pool: a failed connect is reported to ``failed``."""

    class Connection(PooledConnection):
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
            try:
                return await super().connect(conninfo, **kwargs)
            except (psycopg.Error, OSError) as error:
                failed(error)
                raise

    return Connection
