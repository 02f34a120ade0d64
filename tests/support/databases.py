"""Fresh, isolated databases for tests, on every storage backend.

Other engineers' tests run at the same time against the same PostgreSQL and Redis, so each
store gets its own PostgreSQL schema (dropped after), its own Redis key prefix (keys deleted
after) or its own SQLite file. A backend that is down makes the test fail (opening raises
``StorageUnavailable``); nothing here skips.

    async with fresh_database("postgres", tmp_path) as db:
        await db.sessions.upsert_session(...)

    async with isolated_storage("redis", tmp_path) as storage:   # two replicas, one Redis
        first, second = await storage.open(), await storage.open()
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.storage.factory import open_database, sqlite_path
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import Database

if TYPE_CHECKING:
    from agentos_runtime.storage.redis.database import RedisDatabase

BACKENDS = ("memory", "sqlite", "postgres", "redis")
SERVER_BACKENDS = ("sqlite", "postgres", "redis")

# Where the test servers are (scripts/services.sh starts them); overridable for other setups.
POSTGRES_URL_ENV = "AGENTOS_TEST_POSTGRES_URL"
PGBOUNCER_URL_ENV = "AGENTOS_TEST_PGBOUNCER_URL"
REDIS_URL_ENV = "AGENTOS_TEST_REDIS_URL"


def postgres_url() -> str:
    """The test PostgreSQL, as a plain ``postgresql://`` URL (psycopg and Agno accept it)."""
    return os.environ.get(POSTGRES_URL_ENV, "postgresql://postgres@127.0.0.1:5432/test")


def pgbouncer_url() -> str:
    """PgBouncer in transaction mode in front of the test PostgreSQL's ``test`` database."""
    return os.environ.get(PGBOUNCER_URL_ENV, "postgresql://postgres@127.0.0.1:6432/test")


def redis_url() -> str:
    return os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1:6379/0")


def unique_name(stem: str) -> str:
    """A name no concurrent test uses: a valid PostgreSQL schema and Redis prefix."""
    return f"{stem}_{uuid.uuid4().hex[:12]}"


@dataclass
class IsolatedStorage:
    """One isolated spot on one backend; ``open()`` gives a new ``Database`` on it each call."""

    kind: str
    config: DatabaseConfig
    environ: Mapping[str, str]
    data_dir: Path
    opened: list[Database] = field(default_factory=list)

    async def open(self) -> Database:
        database: Database
        if self.kind == "memory":
            database = InMemoryDatabase(id=self.config.id)
        else:
            database = await open_database(self.config, environ=self.environ, data_dir=self.data_dir)
        self.opened.append(database)
        return database


def storage_config(kind: str, *, name: str) -> DatabaseConfig:
    """The config of an isolated database: ``name`` is the PostgreSQL schema and the Redis prefix."""
    config_type = "sqlite" if kind == "memory" else kind
    return DatabaseConfig.model_validate(
        {"id": name.replace("_", "-"), "type": config_type, "db_schema": name, "key_prefix": name}
    )


@asynccontextmanager
async def isolated_storage(kind: str, tmp_path: Path) -> AsyncIterator[IsolatedStorage]:
    """An isolated spot on ``kind`` (one of ``BACKENDS``), emptied and dropped on exit."""
    name = unique_name("agentos_test")
    environ = {"DATABASE_URL": postgres_url(), "REDIS_URL": redis_url()}
    storage = IsolatedStorage(kind, storage_config(kind, name=name), environ, tmp_path / name)
    try:
        yield storage
    finally:
        for database in storage.opened:
            await database.close()
        if kind == "postgres":
            await drop_postgres_schema(name)
        if kind == "redis":
            await delete_redis_keys(name)


@contextmanager
def agno_db(storage: IsolatedStorage) -> Iterator[Any]:
    """Agno's own database class (synchronous) on the same database as ``storage``, closed after."""
    if storage.kind == "sqlite":
        from agno.db.sqlite import SqliteDb

        storage.data_dir.mkdir(parents=True, exist_ok=True)
        database: Any = SqliteDb(db_file=str(sqlite_path(storage.config, storage.data_dir)))
    elif storage.kind == "postgres":
        from agno.db.postgres import PostgresDb

        url = postgres_url().replace("postgresql://", "postgresql+psycopg://", 1)
        database = PostgresDb(db_url=url, db_schema=storage.config.db_schema)
    else:
        from agno.db.redis import RedisDb

        database = RedisDb(db_url=redis_url(), db_prefix=storage.config.key_prefix)
    try:
        yield database
    finally:
        if storage.kind == "redis":
            database.redis_client.close()
        else:
            database.close()


@asynccontextmanager
async def fresh_database(kind: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A new, empty ``Database`` on ``kind``, closed and removed on exit."""
    async with isolated_storage(kind, tmp_path) as storage:
        yield await storage.open()


@asynccontextmanager
async def fresh_redis_database(tmp_path: Path) -> AsyncIterator[RedisDatabase]:
    """A new, empty Redis ``Database``, for tests of what only Redis has."""
    from agentos_runtime.storage.redis.database import RedisDatabase

    async with fresh_database("redis", tmp_path) as database:
        assert isinstance(database, RedisDatabase)
        yield database


async def drop_postgres_schema(schema: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as connection:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def delete_redis_keys(prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url())
    try:
        doomed = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if doomed:
            await client.delete(*doomed)
    finally:
        await client.aclose()
