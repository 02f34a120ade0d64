"""Opening a base's store: the right database, a file beside SQLite's, clear refusals."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.knowledge.records import Content
from agentos_runtime.knowledge.stores.checking import IncompatibleStore
from agentos_runtime.knowledge.stores.opening import open_knowledge_store
from agentos_runtime.knowledge.stores.sqlite_files import connect_knowledge, driver_module, knowledge_executor
from agentos_runtime.knowledge.stores.sqlite_vec import SqliteVecStore
from agentos_runtime.storage.sql.sqlite_executor import SqliteExecutor

from tests.runtime.knowledge.stores.conftest import KnowledgeSpot, store_settings
from tests.support.databases import unique_name
from tests.support.pgvector_server import pgvector_url


def content(content_id: str, base: str) -> Content:
    return Content(id=content_id, name=content_id, linked_to=base, created_at=1, updated_at=1)


async def test_closing_one_base_leaves_the_other_bases_of_its_database_working(spot: KnowledgeSpot) -> None:
    first, second = await spot.open("first"), await spot.open("second")

    await first.close()
    await second.add_content(content("c1", "second"))

    assert await second.get_content("c1") is not None
    await second.close()
    reopened = await spot.open("second")
    assert await reopened.get_content("c1") is not None


async def test_the_sqlite_knowledge_file_lives_beside_the_database_file(tmp_path: Path) -> None:
    database = DatabaseConfig.model_validate({"id": "main", "type": "sqlite", "path": str(tmp_path / "agentos.db")})
    spot = KnowledgeSpot("sqlite", database, {}, tmp_path / "unused")
    store = await spot.open()
    try:
        await store.add_content(content("c1", "docs"))
    finally:
        await store.close()

    assert (tmp_path / "agentos.knowledge.db").is_file()
    assert not (tmp_path / "agentos.db").exists()


async def test_a_redis_database_cannot_hold_knowledge(tmp_path: Path) -> None:
    database = DatabaseConfig.model_validate({"id": "cache", "type": "redis"})
    spot = KnowledgeSpot("redis", database, {}, tmp_path)

    with pytest.raises(StorageUnavailable, match="database 'cache' is redis; knowledge needs a sqlite or postgres"):
        await open_knowledge_store(spot.base(), database, environ={"REDIS_URL": "redis://x"}, data_dir=tmp_path)


async def test_a_postgres_database_without_its_url_variable_is_refused_naming_the_variable(tmp_path: Path) -> None:
    database = DatabaseConfig.model_validate({"id": "main", "type": "postgres", "url_env": "KNOWLEDGE_DB_URL"})
    spot = KnowledgeSpot("postgres", database, {}, tmp_path)

    with pytest.raises(StorageUnavailable, match="KNOWLEDGE_DB_URL is not set"):
        await open_knowledge_store(spot.base(), database, environ={}, data_dir=tmp_path)


@dataclass(frozen=True)
class ScratchDatabase:
    """A database of its own on the pgvector server, and a login role that does not own it."""

    owner_url: str
    """As the server's administrator, who may create the extension."""
    user_url: str
    """As the role."""


@asynccontextmanager
async def scratch_database(prefix: str, *, owned_by_the_role: bool) -> AsyncIterator[ScratchDatabase]:
    """A new database and login role, dropped afterwards; the role owns the database when asked."""
    name = unique_name(prefix)
    admin_url = pgvector_url()
    owner = f' OWNER "{name}"' if owned_by_the_role else ""
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
        await admin.execute(f'CREATE ROLE "{name}" LOGIN')
        await admin.execute(f'CREATE DATABASE "{name}"{owner}')
    parts = urlsplit(admin_url)
    try:
        yield ScratchDatabase(
            owner_url=urlunsplit(parts._replace(path=f"/{name}")),
            user_url=urlunsplit(parts._replace(netloc=f"{name}@", path=f"/{name}")),
        )
    finally:
        async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'DROP ROLE IF EXISTS "{name}"')


def postgres_spot(url: str, tmp_path: Path) -> KnowledgeSpot:
    database = DatabaseConfig.model_validate({"id": "main", "type": "postgres"})
    return KnowledgeSpot("postgres", database, {"DATABASE_URL": url}, tmp_path)


async def test_a_database_without_pgvector_and_a_user_who_cannot_create_it_is_told_the_fix(tmp_path: Path) -> None:
    async with scratch_database("noext", owned_by_the_role=True) as scratch:
        spot = postgres_spot(scratch.user_url, tmp_path)
        try:
            with pytest.raises(IncompatibleStore, match="knowledge needs the pgvector extension.*CREATE EXTENSION"):
                await spot.open()
        finally:
            for store in spot.opened:
                await store.close()


async def test_a_user_refused_the_knowledge_tables_where_pgvector_is_installed_is_told_to_grant_them(
    tmp_path: Path,
) -> None:
    async with scratch_database("nogrant", owned_by_the_role=False) as scratch:
        owner, user = postgres_spot(scratch.owner_url, tmp_path), postgres_spot(scratch.user_url, tmp_path)
        try:
            await owner.open()  # the extension and the tables, made by their owner
            with pytest.raises(StorageUnavailable, match="lacks a privilege.*grant it") as refused:
                await user.open()
            assert "pgvector extension" not in str(refused.value)
        finally:
            for store in [*owner.opened, *user.opened]:
                await store.close()


async def test_two_processes_preparing_one_sqlite_knowledge_file_at_once_both_succeed(tmp_path: Path) -> None:
    path = tmp_path / "agentos.knowledge.db"
    executors = [knowledge_executor(path, db_id="main") for _ in range(2)]
    stores = [
        SqliteVecStore(executor, store_settings(chunks_table="knowledge_docs", dimensions=8)) for executor in executors
    ]
    try:
        await asyncio.gather(*(store.prepare() for store in stores))
        await stores[0].add_content(content("c1", "docs"))
        assert await stores[1].get_content("c1") is not None
    finally:
        for executor in executors:
            await executor.close()


async def test_a_knowledge_file_another_connection_holds_is_switched_to_wal_once_it_is_let_go(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agentos.knowledge.db"
    driver = driver_module()
    refused = threading.Event()

    class WatchedConnection(driver.Connection):  # type: ignore[misc, name-defined]
        def execute(self, *args: Any) -> Any:
            try:
                return super().execute(*args)
            except driver.OperationalError as error:
                if "locked" in str(error):
                    refused.set()
                raise

    def connect(file: Path, **options: Any) -> Any:
        # No busy wait: the switch is refused at once, as when two connections race for a new file.
        return connect_knowledge(file, factory=WatchedConnection, **{**options, "timeout": 0})

    holder = driver.connect(str(path), isolation_level=None)
    holder.execute("CREATE TABLE held (x)")
    holder.execute("BEGIN")
    holder.execute("SELECT * FROM held").fetchall()  # a reader: the switch to WAL must wait for it
    executor = SqliteExecutor(path, db_id="main", connect=connect)
    store = SqliteVecStore(executor, store_settings(chunks_table="docs", dimensions=8))
    try:
        preparing = asyncio.ensure_future(store.prepare())
        assert await asyncio.to_thread(refused.wait, 10), "the switch to WAL was never refused"
        holder.execute("COMMIT")
        await preparing

        assert driver.connect(str(path)).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        await store.add_content(content("c1", "docs"))
    finally:
        holder.close()
        await executor.close()


async def test_a_knowledge_file_that_is_not_a_database_is_unavailable_naming_it_and_the_fix(tmp_path: Path) -> None:
    database = DatabaseConfig.model_validate({"id": "main", "type": "sqlite", "path": str(tmp_path / "agentos.db")})
    path = (tmp_path / "agentos.knowledge.db").resolve()
    path.write_bytes(b"this is not a SQLite file" * 100)
    spot = KnowledgeSpot("sqlite", database, {}, tmp_path)
    store = await spot.open(prepare=False)
    try:
        with pytest.raises(StorageUnavailable) as refused:
            await store.prepare()
    finally:
        await store.close()

    assert refused.value.detail == (
        f"database 'main': the file {path} is not a SQLite database or is damaged (file is not a database): "
        "restore it from a backup, or move it aside to start with an empty one"
    )


async def test_a_knowledge_file_whose_symbolic_links_loop_is_unavailable_naming_it_and_the_fix(tmp_path: Path) -> None:
    database = DatabaseConfig.model_validate({"id": "main", "type": "sqlite", "path": str(tmp_path / "agentos.db")})
    path = tmp_path / "agentos.knowledge.db"
    path.symlink_to(tmp_path / "other.db")
    (tmp_path / "other.db").symlink_to(path)
    spot = KnowledgeSpot("sqlite", database, {}, tmp_path)

    with pytest.raises(StorageUnavailable) as refused:
        await open_knowledge_store(spot.base(), database, environ={}, data_dir=tmp_path)

    assert refused.value.detail == f"database 'main': cannot open {path}: its symbolic links loop: point them at a file"
