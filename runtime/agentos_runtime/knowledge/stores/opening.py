"""Opening a knowledge base's store on its declared database.

The bases of one database share what connects to it: one executor of the knowledge file (SQLite) or
one connection pool (PostgreSQL) per database and event loop, opened with the first base and
closed with the last. Nothing connects here: the first call does (``prepare``, at start).
On PostgreSQL a base's reads are bounded by its database's ``timeout_seconds``, its writes and
``prepare`` are not (``pgvector``).

They share its repair too (``storage.sql.repair``): a statement that finds a knowledge table or
the schema missing (dropped under the runtime) fails saying they are being created again, and
every open base's ``prepare`` runs once in the background, with the table, dimensions and
index the base was opened with, so the next call finds them (empty). The contents table is
shared too: the ``prepare`` that makes it again after it was dropped deletes the chunks of what
it held from every open base, in the same transaction, and marks the other bases of the
database as owing that cleanup, which their own ``prepare`` does (``storing``).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.config.knowledge import KnowledgeBaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.knowledge.ports import KnowledgeStore
from agentos_runtime.knowledge.stores.sqlite_files import knowledge_executor, knowledge_path
from agentos_runtime.knowledge.stores.sqlite_vec import SqliteVecStore
from agentos_runtime.knowledge.stores.storing import SqlKnowledgeStore, StoreSettings
from agentos_runtime.storage.factory import sqlite_path
from agentos_runtime.storage.sql.executing import Executor
from agentos_runtime.storage.sql.files import resolved_file
from agentos_runtime.storage.sql.repair import SchemaRepair
from agentos_runtime.storage.sql.sqlite_executor import SqliteExecutor

if TYPE_CHECKING:
    from agentos_runtime.storage.sql.postgres_executor import PostgresExecutor

_Key = tuple[str, str]
E = TypeVar("E", bound=Executor)
S = TypeVar("S", bound="SqlKnowledgeStore[Any]")


class _Shared:
    """Connections shared by the stores of one database, counted so the last one closes them."""

    def __init__(self) -> None:
        self._entries: dict[_Key, tuple[Any, int]] = {}

    def take(self, key: _Key, make: Callable[[], Any]) -> Any:
        resource, users = self._entries.get(key, (None, 0))
        if resource is None:
            resource = make()
        self._entries[key] = (resource, users + 1)
        return resource

    def releaser(self, key: _Key, close: Callable[[Any], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def release() -> None:
            resource, users = self._entries[key]
            if users > 1:
                self._entries[key] = (resource, users - 1)
                return
            del self._entries[key]
            await close(resource)

        return release


# Per event loop (a pool belongs to the loop it was opened on); forgotten with the loop.
_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Shared] = weakref.WeakKeyDictionary()


def _shared() -> _Shared:
    return _SHARED.setdefault(asyncio.get_running_loop(), _Shared())


class KnowledgeConnection(Generic[E]):
    """What the stores of one database share: the executor, and the repair that prepares every
    open store again when a statement finds a knowledge table or the schema missing."""

    def __init__(self, executor: E, *, db_id: str) -> None:
        self.executor = executor
        self.stores: list[SqlKnowledgeStore[Any]] = []
        self.repair = SchemaRepair(self._prepare_all, db_id=db_id, tables="knowledge tables")
        executor.on_missing_tables = self.repair.found_missing

    def register(
        self, settings: StoreSettings, make: Callable[[StoreSettings], S], release: Callable[[], Awaitable[None]]
    ) -> S:
        """The store ``make`` builds of ``settings`` joined to the stores of the database (their
        repair, and one another's chunk tables for ``prepare``), prepared again by the repair
        until it is closed (then ``release`` runs)."""

        async def close() -> None:
            self.stores.remove(store)
            await release()

        store = make(replace(settings, repair=self.repair, on_close=close, bases=lambda: tuple(self.stores)))
        self.stores.append(store)
        return store

    async def close(self) -> None:
        await self.repair.close()
        await self.executor.close()

    async def _prepare_all(self) -> None:
        """Each open store's ``prepare`` (what is missing of its tables, as at start); every one
        is tried (of a copy: one may close meanwhile), then the first failure is raised."""
        failure: Exception | None = None
        for store in list(self.stores):
            try:
                await store.prepare()
            except Exception as error:  # the other bases' tables are created all the same
                failure = failure or error
        if failure is not None:
            raise failure


async def open_knowledge_store(
    base: KnowledgeBaseConfig, database: DatabaseConfig, *, environ: Mapping[str, str], data_dir: Path
) -> KnowledgeStore:
    """The store of ``base`` on ``database`` (its declared ``db``), not yet prepared.

    Raises ``StorageUnavailable`` when the database is Redis or its URL variable is unset or
    not a PostgreSQL URL (the message names the variable, never the URL).
    """
    shared = _shared()
    settings = StoreSettings(
        db_id=database.id,
        base_id=base.id,
        contents_table=database.tables.knowledge,
        chunks_table=base.table_name,
        dimensions=base.embedder.dimensions,
    )
    if database.type == "sqlite":
        path = resolved_file(knowledge_path(sqlite_path(database, data_dir)), database.id)
        key: _Key = ("sqlite", str(path))
        sqlite: KnowledgeConnection[SqliteExecutor] = shared.take(
            key, lambda: KnowledgeConnection(knowledge_executor(path, db_id=database.id), db_id=database.id)
        )
        return sqlite.register(
            settings, lambda joined: SqliteVecStore(sqlite.executor, joined), shared.releaser(key, _close_connection)
        )
    if database.type == "postgres":
        from agentos_runtime.knowledge.stores.pgvector import PgVectorStore
        from agentos_runtime.storage.sql.postgres_executor import PoolSettings, PostgresExecutor
        from agentos_runtime.storage.urls import database_url

        url = database_url(database, environ).replace("postgresql+psycopg://", "postgresql://", 1)
        key = ("postgres", url)
        postgres: KnowledgeConnection[PostgresExecutor] = shared.take(
            key,
            lambda: KnowledgeConnection(
                PostgresExecutor(url, db_id=database.id, settings=PoolSettings(behind_pooler=database.behind_pooler)),
                db_id=database.id,
            ),
        )
        return postgres.register(
            settings,
            lambda joined: PgVectorStore(
                postgres.executor,
                joined,
                conninfo=url,
                schema=database.db_schema,
                hnsw=base.vector_index == "hnsw",
                read_timeout=database.timeout_seconds,
            ),
            shared.releaser(key, _close_connection),
        )
    raise StorageUnavailable(
        f"knowledge base '{base.id}': database '{database.id}' is {database.type}; "
        "knowledge needs a sqlite or postgres (pgvector) database"
    )


async def _close_connection(connection: KnowledgeConnection[Any]) -> None:
    await connection.close()
