"""Open a SQL ``Database``: SQLite from a file path, PostgreSQL from a URL, tables current.

Opening needs no SQLAlchemy: the run path's executor creates the missing tables with the
generated DDL and migrates older ones (``schema``), and serves every run's session read and
save. SQLAlchemy, which the other stores are written with, is loaded the first time one of them
is called (a session listing, a memory, metrics, evals), and its engine is created then. Nothing connects before
``open_*`` is awaited. The URL is kept only to redact it from error messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.damage import naming_damage
from agentos_runtime.storage.ports import EvalStore, MemoryStore, MetricsStore, SessionStore
from agentos_runtime.storage.sql.executing import Executor, read_only_server
from agentos_runtime.storage.sql.files import resolved_file
from agentos_runtime.storage.sql.lazy_stores import LazyStore
from agentos_runtime.storage.sql.repair import SchemaRepair
from agentos_runtime.storage.sql.schema import ensure_schema, ping_statement
from agentos_runtime.storage.sql.sessions import SessionEdits, SqlSessionStore
from agentos_runtime.storage.sql.sqlite_executor import SqliteExecutor
from agentos_runtime.storage.sql.statements import SqlText

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from agentos_runtime.storage.sql.connecting import SqlBackend

Clock = Callable[[], float]

logger = logging.getLogger("agentos_runtime.storage")


class SqlDatabase:
    """A ``Database`` on SQLite or PostgreSQL."""

    def __init__(
        self,
        config: DatabaseConfig,
        executor: Executor,
        text: SqlText,
        *,
        legacy_runs: bool,
        create_engine: Callable[[], AsyncEngine],
        clock: Clock,
        url: str | None,
        repair: SchemaRepair | None = None,
    ) -> None:
        """``create_engine``: SQLAlchemy's engine for the stores written with it, made on first use;
        ``repair``: what creates the tables again when a statement finds one missing."""
        self.id = config.id
        self.repair = repair
        self._config = config
        self._executor = executor
        self._legacy_runs = legacy_runs
        self._create_engine = create_engine
        self._clock = clock
        self._url = url
        self._schema = config.db_schema if text.dialect == "postgresql" else None
        self._ping = ping_statement(text, config.tables.sessions)
        self._timeout = config.timeout_seconds if text.dialect == "postgresql" else None
        self._backend: SqlBackend | None = None
        # A call meeting a record that cannot be read raises ``UnreadableRecord`` naming this database.
        self.sessions: SessionStore = naming_damage(
            SqlSessionStore(executor, text, legacy_runs=legacy_runs, clock=clock, edits=self._session_edits), self.id
        )
        self.memories = naming_damage(
            cast(MemoryStore, LazyStore(lambda: _store("memories", "SqlMemoryStore", self.backend()))), self.id
        )
        self.metrics = naming_damage(
            cast(MetricsStore, LazyStore(lambda: _store("metrics", "SqlMetricsStore", self.backend()))), self.id
        )
        self.evals = naming_damage(
            cast(EvalStore, LazyStore(lambda: _store("evals", "SqlEvalStore", self.backend()))), self.id
        )

    def backend(self) -> SqlBackend:
        """The SQLAlchemy side (engine, tables), made on first use; loads SQLAlchemy."""
        if self._backend is None:
            from agentos_runtime.storage.sql.connecting import SqlBackend
            from agentos_runtime.storage.sql.tables import build_tables

            tables = build_tables(self._config.tables, schema=self._schema, legacy_runs=self._legacy_runs)
            self._backend = SqlBackend(
                db_id=self.id,
                engine=self._create_engine(),
                tables=tables,
                clock=self._clock,
                url=self._url,
                on_missing_tables=self.repair.found_missing if self.repair is not None else None,
                timeout=self._timeout,
            )
        return self._backend

    @property
    def engine(self) -> AsyncEngine:
        return self.backend().engine

    @property
    def executor(self) -> Executor:
        """What runs a run's session read and save, apart from SQLAlchemy's engine."""
        return self._executor

    async def ping(self) -> None:
        """Answers when the database would take a write; ``StorageUnavailable`` saying why not."""
        rows = (await self._executor.fetch([(self._ping, {})]))[0]
        if rows and rows[0][0] == "on":  # PostgreSQL's transaction_read_only; SQLite answers 1
            raise read_only_server(self.id)

    async def close(self) -> None:
        if self.repair is not None:
            await self.repair.close()
        try:
            await self._executor.close()
        finally:
            if self._backend is not None:
                await self._backend.engine.dispose()

    def _session_edits(self) -> SessionEdits:
        edits: SessionEdits = _store("session_edits", "SqlSessionEdits", self.backend())
        return edits


def _store(module: str, name: str, backend: SqlBackend) -> Any:
    """``agentos_runtime.storage.sql.<module>.<name>(backend)``, imported now (with SQLAlchemy)."""
    from importlib import import_module

    return getattr(import_module(f"agentos_runtime.storage.sql.{module}"), name)(backend)


async def _open(
    config: DatabaseConfig,
    executor: Executor,
    text: SqlText,
    *,
    create_engine: Callable[[], AsyncEngine],
    clock: Clock,
    url: str | None,
    legacy_runs: bool | None = None,
) -> SqlDatabase:
    """Create the missing tables, then build the stores for the tables as they are.

    ``legacy_runs`` given means the tables were checked already (``check_postgres_schema``).
    """
    schema = config.db_schema if text.dialect == "postgresql" else None
    create_tables = partial(
        ensure_schema, executor, text, schema=schema, sessions_table=config.tables.sessions, db_id=config.id
    )
    if legacy_runs is None:
        try:
            legacy_runs = await create_tables()
        except BaseException:
            await executor.close()
            raise
    opened_legacy_runs = legacy_runs

    async def create_again() -> None:
        if await create_tables() != opened_legacy_runs:
            logger.warning(
                "database '%s': the sessions table made again differs from the one the runtime opened "
                "(Agno 2's runs column): restart the runtime",
                config.id,
            )

    repair = SchemaRepair(create_again, db_id=config.id)
    executor.on_missing_tables = repair.found_missing
    return SqlDatabase(
        config,
        executor,
        text,
        legacy_runs=legacy_runs,
        create_engine=create_engine,
        clock=clock,
        url=url,
        repair=repair,
    )


async def open_sqlite(config: DatabaseConfig, *, path: Path, clock: Clock = time.time) -> SqlDatabase:
    """The SQLite database in ``path`` (parent directories created), tables ready."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageUnavailable(f"database '{config.id}': cannot create {path.parent}: {error.strerror}") from error
    executor = SqliteExecutor(resolved_file(path, config.id), db_id=config.id)

    def create_engine() -> AsyncEngine:
        from agentos_runtime.storage.sql.connecting import create_sqlite_engine

        return create_sqlite_engine(executor.file)

    text = SqlText("sqlite", config.tables, schema=None)
    return await _open(config, executor, text, create_engine=create_engine, clock=clock, url=None)


async def open_postgres(
    config: DatabaseConfig, *, url: str, clock: Clock = time.time, legacy_runs: bool | None = None
) -> SqlDatabase:
    """The PostgreSQL database at ``url`` (a ``postgresql+psycopg://`` URL), tables ready in ``db_schema``.

    ``legacy_runs``, when ``check_postgres_schema`` already ran, is its answer: then opening
    makes no round trip (connections are made on first use).
    """

    def create_engine() -> AsyncEngine:
        from agentos_runtime.storage.sql.connecting import create_postgres_engine

        return create_postgres_engine(url, timeout=config.timeout_seconds, behind_pooler=config.behind_pooler)

    executor = _postgres_executor(config, url)
    text = _postgres_text(config)
    return await _open(
        config, executor, text, create_engine=create_engine, clock=clock, url=url, legacy_runs=legacy_runs
    )


async def check_postgres_schema(config: DatabaseConfig, *, url: str) -> bool:
    """Create what ``config``'s PostgreSQL schema lacks, on a connection closed afterwards.

    Returns whether the sessions table has Agno 2's ``runs`` column, to pass to
    ``open_postgres``. Raises ``StorageUnavailable`` when the database does not answer.
    """
    executor = _postgres_executor(config, url, one_off=True)
    try:
        return await ensure_schema(
            executor,
            _postgres_text(config),
            schema=config.db_schema,
            sessions_table=config.tables.sessions,
            db_id=config.id,
        )
    finally:
        await executor.close()


def _postgres_executor(config: DatabaseConfig, url: str, *, one_off: bool = False) -> Executor:
    """The run path's executor; ``one_off``: for one check, with a single connection made on demand."""
    from agentos_runtime.storage.sql.postgres_executor import PoolSettings, PostgresExecutor  # psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    # The one-off check at start may migrate big tables: it is not bounded.
    settings = (
        PoolSettings(max_size=1, behind_pooler=config.behind_pooler)  # one connection, made on demand
        if one_off
        else PoolSettings(timeout=config.timeout_seconds, behind_pooler=config.behind_pooler)
    )
    return PostgresExecutor(conninfo, db_id=config.id, settings=settings)


def _postgres_text(config: DatabaseConfig) -> SqlText:
    return SqlText("postgresql", config.tables, schema=config.db_schema)
