"""Open a SQL ``Database``: SQLite from a file path, PostgreSQL from a URL, tables created.

The engine is built here and handed to the stores; nothing connects before ``open_*`` is
awaited. The URL is kept only to redact it from error messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.ports import EvalStore, MemoryStore, MetricsStore, SessionStore
from agentos_runtime.storage.sql import connecting
from agentos_runtime.storage.sql.evals import SqlEvalStore
from agentos_runtime.storage.sql.executing import Executor
from agentos_runtime.storage.sql.memories import SqlMemoryStore
from agentos_runtime.storage.sql.metrics import SqlMetricsStore
from agentos_runtime.storage.sql.sessions import SqlSessionStore
from agentos_runtime.storage.sql.sqlite_executor import SqliteExecutor
from agentos_runtime.storage.sql.tables import build_tables

Clock = Callable[[], float]


class SqlDatabase:
    """A ``Database`` on SQLite or PostgreSQL."""

    def __init__(self, backend: connecting.SqlBackend) -> None:
        self.id = backend.db_id
        self.sessions: SessionStore = SqlSessionStore(backend)
        self.memories: MemoryStore = SqlMemoryStore(backend)
        self.metrics: MetricsStore = SqlMetricsStore(backend)
        self.evals: EvalStore = SqlEvalStore(backend)
        self._backend = backend

    @property
    def engine(self) -> AsyncEngine:
        return self._backend.engine

    @property
    def executor(self) -> Executor:
        """What runs a run's session read and save (``statements``), apart from the engine."""
        return self._backend.executor

    async def ping(self) -> None:
        with self._backend.errors():
            async with self._backend.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        try:
            await self._backend.executor.close()
        finally:
            await self._backend.engine.dispose()


async def _open(
    config: DatabaseConfig,
    engine: AsyncEngine,
    executor: Executor,
    *,
    schema: str | None,
    clock: Clock,
    url: str | None,
) -> SqlDatabase:
    """Create the missing tables, then build the stores for the tables as they are."""
    tables = build_tables(config.tables, schema=schema)
    backend = connecting.SqlBackend(
        db_id=config.id, engine=engine, executor=executor, tables=tables, clock=clock, url=url
    )
    try:
        with backend.errors():
            await connecting.create_tables(engine, tables, schema=schema)
            if await connecting.has_legacy_runs(engine, tables):
                backend = replace(backend, tables=build_tables(config.tables, schema=schema, legacy_runs=True))
    except BaseException:
        await executor.close()
        await engine.dispose()
        raise
    return SqlDatabase(backend)


async def open_sqlite(config: DatabaseConfig, *, path: Path, clock: Clock = time.time) -> SqlDatabase:
    """The SQLite database in ``path`` (parent directories created), tables ready."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageUnavailable(f"database '{config.id}': cannot create {path.parent}: {error.strerror}") from error
    engine = connecting.create_sqlite_engine(path.resolve())
    executor = SqliteExecutor(path.resolve(), db_id=config.id)
    return await _open(config, engine, executor, schema=None, clock=clock, url=None)


async def open_postgres(config: DatabaseConfig, *, url: str, clock: Clock = time.time) -> SqlDatabase:
    """The PostgreSQL database at ``url`` (a ``postgresql+psycopg://`` URL), tables ready in ``db_schema``."""
    from agentos_runtime.storage.sql.postgres_executor import PostgresExecutor  # loads psycopg

    engine = connecting.create_postgres_engine(url)
    executor = PostgresExecutor(url.replace("postgresql+psycopg://", "postgresql://", 1), db_id=config.id)
    return await _open(config, engine, executor, schema=config.db_schema, clock=clock, url=url)
