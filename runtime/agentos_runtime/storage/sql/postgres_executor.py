"""PostgreSQL for the run path: a few psycopg connections of its own, statements auto-prepared.

Connections are in autocommit mode: a read is plain statements, a save one explicit
transaction. Up to ``MAX_CONNECTIONS`` are open at once; more callers wait for one. A
connection the server dropped (a restart, a failover) is discovered when used: it is thrown
away with every idle one (they most likely died with it), and the call is retried once on a
new connection when nothing can have been applied yet (a read, or a save whose ``BEGIN``
failed); otherwise the caller gets ``StorageUnavailable``, which never quotes the URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import psycopg

from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.sql.executing import Rows, Step
from agentos_runtime.storage.urls import redact

T = TypeVar("T")
_IDLE = psycopg.pq.TransactionStatus.IDLE

# Connections kept for the run path (besides SQLAlchemy's pool for everything else).
MAX_CONNECTIONS = 10
# A server that does not answer within this many seconds is reported unavailable.
CONNECT_TIMEOUT_SECONDS = 3
# Longest driver message kept in an error (they can quote whole statements).
_MESSAGE_MAX_LENGTH = 300


class _NothingApplied(Exception):
    """The connection failed before the work could change anything: safe to retry."""


class PostgresExecutor:
    """The ``Executor`` on the PostgreSQL server at ``conninfo`` (a ``postgresql://`` URL)."""

    def __init__(self, conninfo: str, *, db_id: str) -> None:
        self._conninfo = conninfo
        self._db_id = db_id
        self._idle: list[psycopg.AsyncConnection[tuple[object, ...]]] = []
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def fetch(self, steps: Sequence[Step]) -> list[Rows]:
        async def read(connection: psycopg.AsyncConnection[tuple[object, ...]]) -> list[Rows]:
            found: list[Rows] = []
            for statement, params in steps:
                cursor = await connection.execute(statement.sql, statement.bind(params) or None)
                rows = await cursor.fetchall()
                found.append(rows)
                if not rows:
                    break
            return found

        return await self._run(read, retry_safe=True)

    async def write(self, steps: Sequence[Step]) -> list[Rows]:
        async def apply(connection: psycopg.AsyncConnection[tuple[object, ...]]) -> list[Rows]:
            try:
                await connection.execute("BEGIN")
            except psycopg.OperationalError as error:
                raise _NothingApplied() from error
            # On any failure the connection is left inside the transaction and ``_release``
            # closes it, which rolls the transaction back on the server.
            found: list[Rows] = []
            for statement, params in steps:
                cursor = await connection.execute(statement.sql, statement.bind(params) or None)
                found.append(await cursor.fetchall() if cursor.description is not None else [])
            await connection.execute("COMMIT")
            return found

        return await self._run(apply, retry_safe=False)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()

    async def _run(
        self,
        work: Callable[[psycopg.AsyncConnection[tuple[object, ...]]], Awaitable[T]],
        *,
        retry_safe: bool,
    ) -> T:
        async with self._slots:
            for attempt in (1, 2):
                connection, reused = await self._connection()
                try:
                    result = await work(connection)
                except (_NothingApplied, psycopg.OperationalError, psycopg.InterfaceError) as error:
                    await self._drop_all(connection)
                    cause = error.__cause__ if isinstance(error, _NothingApplied) else error
                    if reused and attempt == 1 and (retry_safe or isinstance(error, _NothingApplied)):
                        continue
                    raise self._unavailable(cause) from cause
                except BaseException:
                    await self._release(connection)
                    raise
                await self._release(connection)
                return result
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _connection(self) -> tuple[psycopg.AsyncConnection[tuple[object, ...]], bool]:
        """An idle connection (reused) or a new one; the caller holds a slot."""
        if self._idle:
            return self._idle.pop(), True
        try:
            connection = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
            )
        except (psycopg.OperationalError, OSError) as error:
            raise self._unavailable(error) from error
        return connection, False

    async def _release(self, connection: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        if connection.closed or connection.broken or connection.info.transaction_status != _IDLE:
            await connection.close()  # a failure or a cancel left it mid-transaction: never reuse it
        else:
            self._idle.append(connection)

    async def _drop_all(self, connection: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        dropped, self._idle = [connection, *self._idle], []
        for each in dropped:
            await each.close()

    def _unavailable(self, error: BaseException | None) -> StorageUnavailable:
        message = redact(f"{type(error).__name__}: {error}", self._conninfo)[:_MESSAGE_MAX_LENGTH]
        return StorageUnavailable(f"database '{self._db_id}' is unavailable: {message}")
