"""Opening a knowledge base's store on its declared database.

The bases of one database share what connects to it: one executor of the knowledge file (SQLite) or
one connection pool (PostgreSQL) per database and event loop, opened with the first base and
closed with the last. Nothing connects here: the first call does (``prepare``, at start).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.config.knowledge import KnowledgeBaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.knowledge.ports import KnowledgeStore
from agentos_runtime.knowledge.stores.sqlite_files import knowledge_executor, knowledge_path
from agentos_runtime.knowledge.stores.sqlite_vec import SqliteVecStore
from agentos_runtime.storage.factory import sqlite_path

_Key = tuple[str, str]


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


async def open_knowledge_store(
    base: KnowledgeBaseConfig, database: DatabaseConfig, *, environ: Mapping[str, str], data_dir: Path
) -> KnowledgeStore:
    """The store of ``base`` on ``database`` (its declared ``db``), not yet prepared.

    Raises ``StorageUnavailable`` when the database is Redis or its URL variable is unset or
    not a PostgreSQL URL (the message names the variable, never the URL).
    """
    shared = _shared()
    if database.type == "sqlite":
        path = knowledge_path(sqlite_path(database, data_dir)).resolve()
        key: _Key = ("sqlite", str(path))
        executor = shared.take(key, lambda: knowledge_executor(path, db_id=database.id))
        return SqliteVecStore(
            executor,
            db_id=database.id,
            base_id=base.id,
            contents_table=database.tables.knowledge,
            chunks_table=base.table_name,
            dimensions=base.embedder.dimensions,
            on_close=shared.releaser(key, _close_executor),
        )
    if database.type == "postgres":
        from agentos_runtime.knowledge.stores.pgvector import PgVectorStore
        from agentos_runtime.storage.sql.postgres_executor import PostgresExecutor
        from agentos_runtime.storage.urls import database_url

        url = database_url(database, environ).replace("postgresql+psycopg://", "postgresql://", 1)
        key = ("postgres", url)
        executor = shared.take(key, lambda: PostgresExecutor(url, db_id=database.id))
        return PgVectorStore(
            executor,
            db_id=database.id,
            conninfo=url,
            base_id=base.id,
            schema=database.db_schema,
            contents_table=database.tables.knowledge,
            chunks_table=base.table_name,
            dimensions=base.embedder.dimensions,
            hnsw=base.vector_index == "hnsw",
            on_close=shared.releaser(key, _close_executor),
        )
    raise StorageUnavailable(
        f"knowledge base '{base.id}': database '{database.id}' is {database.type}; "
        "knowledge needs a sqlite or postgres (pgvector) database"
    )


async def _close_executor(executor: Any) -> None:
    await executor.close()
