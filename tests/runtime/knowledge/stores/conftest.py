"""Knowledge stores on a fresh spot of each database: a SQLite data directory of the test's own,
or a schema of its own on the pgvector server (dropped after)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.config.knowledge import KnowledgeBaseConfig
from agentos_runtime.knowledge.ports import KnowledgeStore
from agentos_runtime.knowledge.records import Chunk
from agentos_runtime.knowledge.stores.opening import open_knowledge_store
from agentos_runtime.knowledge.stores.storing import StoreSettings
from psycopg.conninfo import conninfo_to_dict

from tests.runtime.storage.tcp_proxy import TcpProxy
from tests.support.databases import unique_name
from tests.support.pgvector_server import pgvector_url

DIMENSIONS = 32


def vector(hot: int) -> list[float]:
    """An embedding of ``DIMENSIONS`` that is 1.0 at ``hot`` only: each ``hot`` its own direction."""
    return [1.0 if n == hot else 0.0 for n in range(DIMENSIONS)]


def pgvector_proxy() -> TcpProxy:
    """A proxy (not started) in front of the pgvector test server, which listens on a Unix socket only."""
    info = conninfo_to_dict(pgvector_url())
    return TcpProxy("", 0, unix_path=f"{info['host']}/.s.PGSQL.{info.get('port') or 5432}")


def proxied(proxy_port: int) -> str:
    """The pgvector test server's URL through a proxy listening on ``proxy_port``."""
    user = conninfo_to_dict(pgvector_url()).get("user", "postgres")
    return f"postgresql://{user}@127.0.0.1:{proxy_port}/postgres"


def chunk(content_id: str, n: int) -> Chunk:
    """Chunk ``n`` of a content: id ``<content_id>-<n>``, text ``part <n>``, embedding ``vector(n)``."""
    return Chunk(
        id=f"{content_id}-{n}", content_id=content_id, name=content_id, content=f"part {n}", embedding=vector(n)
    )


def store_settings(*, chunks_table: str, dimensions: int, base_id: str = "docs") -> StoreSettings:
    """The settings of a store made by hand: base ``base_id`` of database 'main', Agno's contents table."""
    return StoreSettings(
        db_id="main",
        base_id=base_id,
        contents_table="agno_knowledge",
        chunks_table=chunks_table,
        dimensions=dimensions,
    )


@dataclass
class KnowledgeSpot:
    """One database for knowledge stores; ``open`` gives a new store on it each call."""

    kind: str
    database: DatabaseConfig
    environ: dict[str, str]
    data_dir: Path
    opened: list[KnowledgeStore] = field(default_factory=list)

    def base(self, base_id: str = "docs", *, dimensions: int = DIMENSIONS, **fields: Any) -> KnowledgeBaseConfig:
        return KnowledgeBaseConfig.model_validate(
            {"id": base_id, "db": self.database.id, "embedder": {"dimensions": dimensions}, **fields}
        )

    async def open(
        self, base_id: str = "docs", *, dimensions: int = DIMENSIONS, prepare: bool = True, **fields: Any
    ) -> KnowledgeStore:
        store = await open_knowledge_store(
            self.base(base_id, dimensions=dimensions, **fields),
            self.database,
            environ=self.environ,
            data_dir=self.data_dir,
        )
        self.opened.append(store)
        if prepare:
            await store.prepare()
        return store

    @property
    def schema(self) -> str:
        return self.database.db_schema


@pytest.fixture(params=["sqlite", "postgres"])
async def spot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KnowledgeSpot]:
    kind: str = request.param
    name = unique_name("knowledge")
    database = DatabaseConfig.model_validate({"id": name.replace("_", "-"), "type": kind, "db_schema": name})
    environ = {"DATABASE_URL": pgvector_url()} if kind == "postgres" else {}
    knowledge = KnowledgeSpot(kind, database, environ, tmp_path / "data")
    try:
        yield knowledge
    finally:
        for store in knowledge.opened:
            await store.close()
        if kind == "postgres":
            await drop_schema(name)


async def drop_schema(schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(pgvector_url(), autocommit=True) as connection:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
