"""Open a SQL ``Database``: SQLite from a file path, PostgreSQL from a URL, tables created.

The engine is built here and handed to the stores; nothing connects before ``open_*`` is
awaited. The URL is kept only to redact it from error messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.ports import MemoryStore, SessionStore
from agentos_runtime.storage.sql import connecting
from agentos_runtime.storage.sql.memories import SqlMemoryStore
from agentos_runtime.storage.sql.sessions import SqlSessionStore
from agentos_runtime.storage.sql.tables import build_tables


class SqlDatabase:
    """A ``Database`` on SQLite or PostgreSQL."""

    def __init__(self, backend: connecting.SqlBackend, *, schema: str | None) -> None:
        self.id = backend.db_id
        self.sessions: SessionStore = SqlSessionStore(backend)
        self.memories: MemoryStore = SqlMemoryStore(backend)
        self._backend = backend
        self._schema = schema

    @property
    def engine(self) -> AsyncEngine:
        return self._backend.engine

    async def create_tables(self) -> None:
        """Create the missing schema, tables and indexes; raise ``StorageUnavailable`` when down."""
        with self._backend.errors():
            await connecting.create_tables(self._backend.engine, self._backend.tables, schema=self._schema)

    async def ping(self) -> None:
        with self._backend.errors():
            async with self._backend.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self._backend.engine.dispose()


async def _opened(database: SqlDatabase) -> SqlDatabase:
    try:
        await database.create_tables()
    except BaseException:
        await database.close()
        raise
    return database


async def open_sqlite(config: DatabaseConfig, *, path: Path, clock: Callable[[], float] = time.time) -> SqlDatabase:
    """The SQLite database in ``path`` (parent directories created), tables ready."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageUnavailable(f"database '{config.id}': cannot create {path.parent}: {error.strerror}") from error
    engine = connecting.create_sqlite_engine(path.resolve())
    tables = build_tables(config.tables, schema=None)
    backend = connecting.SqlBackend(db_id=config.id, engine=engine, tables=tables, clock=clock)
    return await _opened(SqlDatabase(backend, schema=None))


async def open_postgres(config: DatabaseConfig, *, url: str, clock: Callable[[], float] = time.time) -> SqlDatabase:
    """The PostgreSQL database at ``url`` (a ``postgresql+psycopg://`` URL), tables ready in ``db_schema``."""
    engine = connecting.create_postgres_engine(url)
    tables = build_tables(config.tables, schema=config.db_schema)
    backend = connecting.SqlBackend(db_id=config.id, engine=engine, tables=tables, clock=clock, url=url)
    return await _opened(SqlDatabase(backend, schema=config.db_schema))
