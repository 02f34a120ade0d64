"""SQL engines, the driver errors they raise turned into ours, and table creation.

Reads run in plain transactions; writes go through ``writer(engine)``, which on SQLite begins
with ``BEGIN IMMEDIATE`` so a read-modify-write holds the write lock from its first read (two
writers then queue instead of failing to upgrade their locks). PostgreSQL writers lock the
rows they rewrite with ``SELECT ... FOR UPDATE``. A PostgreSQL connection the server ended is
replaced as it is taken from the pool, so a store recovers by itself once its database is back;
connections are renewed after ``POOL_RECYCLE_SECONDS``. Each store call is one ``operation``,
bounded by the database's ``timeout_seconds`` (``deadline``). A SQLite connection is checked each time it is taken
from the pool, as the run path's is (``sqlite_file``): one whose file was removed or replaced
is dropped, and none is made while no file is at the path.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.querying import fold
from agentos_runtime.storage.records import encode_json
from agentos_runtime.storage.sql.deadline import Deadline, forget, has_news, server_options, watch
from agentos_runtime.storage.sql.dialects import DIALECTS, Dialect
from agentos_runtime.storage.sql.executing import (
    postgres_connect_options,
    refused_by_server,
    refused_value,
    unavailable,
)
from agentos_runtime.storage.sql.migrations import SCHEMA_VERSION
from agentos_runtime.storage.sql.sqlite_executor import fails_connection
from agentos_runtime.storage.sql.sqlite_file import SqliteFile
from agentos_runtime.storage.sql.tables import AGNO_SCHEMA_VERSION, Tables

# How long a SQLite writer waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT_SECONDS = 20
# Execution option marking a writer; the SQLite ``begin`` hook reads it.
_WRITE_OPTION = "agentos_write"
# Where a pooled SQLite connection keeps the identity of the file it opened.
_OPENED_FILE = "agentos_opened_file"
# How long a request waits for a free pooled connection under load before giving up.
POOL_WAIT_SECONDS = 10
# SQLAlchemy's PostgreSQL pool: connections kept, extra ones under load, lifetime.
POOL_SIZE = 5
POOL_OVERFLOW = 5
POOL_RECYCLE_SECONDS = 30 * 60


def create_postgres_engine(url: str, *, timeout: float | None = None, behind_pooler: bool = False) -> AsyncEngine:
    """SQLAlchemy's pool for the stores written with it (not the run path, which has its own).

    Up to ``POOL_SIZE`` connections kept, ``POOL_OVERFLOW`` more under load; each is checked when
    taken as the run path's are, without a round trip: one the server ended (a restart, a
    failover) has news on its socket and is replaced. Connections are replaced after
    ``POOL_RECYCLE_SECONDS``, and their TCP keepalives find a peer that vanished while they sat
    idle. ``timeout``: the database's ``timeout_seconds``, the server's statement and lock
    timeouts on every connection (not ``behind_pooler``, which also prepares nothing); the
    operation's ``Deadline`` watches the connection it takes.
    """
    connect_args = postgres_connect_options(behind_pooler=behind_pooler)
    if timeout is not None and not behind_pooler:
        connect_args["options"] = server_options(timeout, url, os.environ.get("PGOPTIONS"))
    engine = create_async_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_recycle=POOL_RECYCLE_SECONDS,
        pool_timeout=POOL_WAIT_SECONDS,
        connect_args=connect_args,
        json_serializer=encode_json,
    )
    event.listen(engine.sync_engine, "checkout", _check_and_watch)
    event.listen(engine.sync_engine, "checkin", _forget)
    return engine


def _check_and_watch(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
    """A connection the server ended is replaced; one that is fine serves the current operation
    (``deadline.watch``)."""
    try:
        fd = dbapi_connection.driver_connection.pgconn.socket
    except Exception as error:  # closed: the driver has no socket for it any more
        raise DisconnectionError("the connection is closed") from error
    if has_news(fd):
        raise DisconnectionError("the server ended the connection")
    watch(dbapi_connection, fd)


def _forget(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    if dbapi_connection is not None:
        forget(dbapi_connection)


def create_sqlite_engine(file: SqliteFile) -> AsyncEngine:
    """SQLAlchemy's pool on the SQLite ``file`` (shared with the run path's executor, so a file
    removed under one is refused by both)."""
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{file.path}",
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        json_serializer=encode_json,
    )
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "do_connect")
    def refuse_a_removed_file(*_: Any) -> None:
        file.before_connect()

    @event.listens_for(sync_engine, "connect")
    def configure(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        _configure_sqlite_connection(dbapi_connection, record)
        record.info[_OPENED_FILE] = file.connected()

    @event.listens_for(sync_engine, "checkout")
    def drop_if_file_is_gone(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if not file.is_open_on(record.info.get(_OPENED_FILE)):
            # The pool closes it and connects again (``refuse_a_removed_file`` first).
            raise DisconnectionError(f"the file {file.path} was removed or replaced")

    event.listen(sync_engine, "begin", _begin_sqlite_transaction)
    event.listen(sync_engine, "handle_error", _drop_connection_on_file_problem)
    return engine


def _drop_connection_on_file_problem(context: ExceptionContext) -> None:
    """A file that failed a connection (read-only when it was opened, damaged) fails it for
    good: the connection is dropped, as after a disconnect, so the next one opens the file again."""
    if fails_connection(context.original_exception):
        context.is_disconnect = True


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # We issue BEGIN ourselves (see _begin_sqlite_transaction), so the driver must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # Runs cascade with their session, as in Agno; WAL lets readers run beside a writer.
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    # Commits append to the log without an fsync, as the run path's connection does (``sqlite_executor``).
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()
    # Searches ignoring case compare lower() of both sides: SQLite's own folds ASCII only, so
    # "élan" would not find "Élan"; ``querying.fold`` folds every letter, as PostgreSQL does.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: object) -> object:
    return fold(value) if isinstance(value, str) else value


def _begin_sqlite_transaction(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The engine to begin write transactions on (the same pool, marked as a writer)."""
    return engine.execution_options(**{_WRITE_OPTION: True})


def dialect_of(engine: AsyncEngine) -> Dialect:
    return DIALECTS[engine.dialect.name]


def _unavailable(db_id: str, error: Exception, url: str | None) -> StorageUnavailable:
    return unavailable(db_id, getattr(error, "orig", None) or error, url)


@contextmanager
def storage_errors(
    db_id: str, *, url: str | None = None, found_missing: Callable[[], None] | None = None
) -> Iterator[None]:
    """Turn driver errors into ours: connection trouble is ``StorageUnavailable``, and so is
    an operation the server refused for its state (read-only, a table missing: ``refused_by_server``).

    A value that is not JSON raises the serialiser's own ``TypeError``/``ValueError``; any
    other database error (a bug, not an outage) propagates as it is.
    """
    try:
        yield
    except (OperationalError, InterfaceError, PoolTimeoutError) as error:
        cause = getattr(error, "orig", None) or error
        refused = refused_value(cause)
        if refused is not None:
            raise refused from error
        refusal = refused_by_server(db_id, cause, found_missing=found_missing)  # SQLite's missing table
        if refusal is not None:
            raise refusal from error
        raise _unavailable(db_id, error, url) from error
    except DBAPIError as error:
        if error.connection_invalidated:
            raise _unavailable(db_id, error, url) from error
        refusal = refused_by_server(db_id, error.orig, found_missing=found_missing)
        if refusal is not None:
            raise refusal from error
        raise
    except StatementError as error:
        if isinstance(error.orig, TypeError | ValueError):
            raise error.orig from error
        raise
    except OSError as error:
        raise _unavailable(db_id, error, url) from error


async def create_tables(engine: AsyncEngine, tables: Tables, *, schema: str | None) -> None:
    """Create the missing tables and indexes (and the schema), stamping new tables' versions
    (Agno's and ours); what ``schema.ensure_schema`` does without SQLAlchemy, migrations aside.

    Safe when several replicas start at once: on PostgreSQL they take turns on an advisory
    lock, on SQLite on the write lock.
    """
    async with writer(engine).begin() as connection:
        for statement in dialect_of(engine).ddl_preamble(schema):
            await connection.execute(statement)
        existing = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names(schema=schema)))
        await connection.run_sync(tables.metadata.create_all, checkfirst=True)
        created = [
            table.name
            for table in (tables.sessions, tables.runs, tables.memories, tables.metrics, tables.evals)
            if table.name not in existing
        ]
        if created:
            stamped_at = datetime.now(UTC).isoformat()
            rows = [
                {"table_name": name, "version": AGNO_SCHEMA_VERSION, "created_at": stamped_at, "updated_at": stamped_at}
                for name in created
            ]
            insert = dialect_of(engine).insert(tables.versions).values(rows)
            await connection.execute(insert.on_conflict_do_nothing(index_elements=["table_name"]))
            # New tables have every migration: our latest version, as ``schema`` stamps it.
            ours = [
                {"table_name": name, "version": SCHEMA_VERSION, "migrated_at": int(time.time())} for name in created
            ]
            stamp = dialect_of(engine).insert(tables.migrations).values(ours)
            await connection.execute(stamp.on_conflict_do_nothing(index_elements=["table_name"]))


async def has_legacy_runs(engine: AsyncEngine, tables: Tables) -> bool:
    """Whether the sessions table still has Agno 2's ``runs`` column (a database Agno 2 created)."""
    sessions = tables.sessions

    def columns(sync: Connection) -> list[str]:
        return [column["name"] for column in inspect(sync).get_columns(sessions.name, schema=sessions.schema)]

    async with engine.connect() as connection:
        return "runs" in await connection.run_sync(columns)


@dataclass(frozen=True)
class SqlBackend:
    """What every SQLAlchemy store needs: the engine, its tables and dialect, the clock, error context."""

    db_id: str
    engine: AsyncEngine
    tables: Tables
    clock: Callable[[], float]
    url: str | None = None
    on_missing_tables: Callable[[], None] | None = None
    timeout: float | None = None
    """The database's ``timeout_seconds`` (PostgreSQL): each ``operation`` is bounded by it."""

    @property
    def dialect(self) -> Dialect:
        return dialect_of(self.engine)

    def writer(self) -> AsyncEngine:
        return writer(self.engine)

    def now(self) -> int:
        return int(self.clock())

    def errors(self) -> AbstractContextManager[None]:
        return storage_errors(self.db_id, url=self.url, found_missing=self.on_missing_tables)

    @asynccontextmanager
    async def operation(self) -> AsyncIterator[None]:
        """One store call: its driver errors turned into ours (``errors``), bounded in time (``Deadline``)."""
        with self.errors():
            async with Deadline(self.db_id, self.timeout):
                yield
