"""A knowledge base is shared with Agno on PostgreSQL: what Agno's ``Knowledge`` (``PgVector`` +
``PostgresDb``) stored is listed and searched here, and what this store wrote Agno finds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.knowledge.ports import KnowledgeStore
from agentos_runtime.knowledge.records import Chunk, Content
from agentos_runtime.knowledge.stores.checking import IncompatibleStore
from agno.db.migrations.manager import MigrationManager
from agno.db.postgres import PostgresDb
from agno.knowledge.embedder.base import Embedder
from agno.knowledge.knowledge import Knowledge
from agno.vectordb.pgvector import PgVector

from tests.runtime.knowledge.stores.conftest import DIMENSIONS, KnowledgeSpot, drop_schema
from tests.support.databases import unique_name
from tests.support.fake_embeddings import fake_embedding
from tests.support.pgvector_server import pgvector_url

HANDBOOK = "The vacation policy gives every employee 25 days off per year."
EXPENSES = "Expense reports need receipts and are paid at the end of the month."


@dataclass
class FakeEmbedder(Embedder):
    """Agno's side of the fake embeddings: the vectors this suite's fake server returns."""

    dimensions: int | None = DIMENSIONS

    def get_embedding(self, text: str) -> list[float]:
        return fake_embedding(text, self.dimensions or DIMENSIONS)

    def get_embedding_and_usage(self, text: str) -> tuple[list[float], dict[str, Any] | None]:
        return self.get_embedding(text), None

    async def async_get_embedding(self, text: str) -> list[float]:
        return self.get_embedding(text)

    async def async_get_embedding_and_usage(self, text: str) -> tuple[list[float], dict[str, Any] | None]:
        return self.get_embedding(text), None


@dataclass
class Shared:
    """One schema on the pgvector server, seen by Agno's classes and by our store."""

    spot: KnowledgeSpot
    agno: Knowledge

    async def store(self, **fields: Any) -> KnowledgeStore:
        return await self.spot.open("handbook", table="handbook_chunks", **fields)


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[Shared]:
    schema = unique_name("agno_knowledge")
    database = DatabaseConfig.model_validate({"id": "main", "type": "postgres", "db_schema": schema})
    spot = KnowledgeSpot("postgres", database, {"DATABASE_URL": pgvector_url()}, tmp_path)
    agno_url = pgvector_url().replace("postgresql://", "postgresql+psycopg://", 1)
    vector_db = PgVector(table_name="handbook_chunks", schema=schema, db_url=agno_url, embedder=FakeEmbedder())
    contents_db = PostgresDb(db_url=agno_url, db_schema=schema, knowledge_table="agno_knowledge")
    agno = Knowledge(name="handbook", vector_db=vector_db, contents_db=contents_db)
    try:
        yield Shared(spot, agno)
    finally:
        for store in spot.opened:
            await store.close()
        vector_db.db_engine.dispose()
        contents_db.db_engine.dispose()
        await drop_schema(schema)


async def test_content_agno_inserted_is_listed_completed_and_found_by_our_search(shared: Shared) -> None:
    await asyncio.to_thread(shared.agno.insert, name="handbook.txt", text_content=HANDBOOK)

    store = await shared.store()
    contents, total = await store.list_contents(page=1, limit=10)
    hits = await store.search(fake_embedding("vacation policy", DIMENSIONS), limit=5)

    assert total == 1
    assert (contents[0].name, contents[0].status, contents[0].linked_to) == ("handbook.txt", "completed", "handbook")
    assert len(hits) == 1 and "25 days off" in hits[0].content
    assert hits[0].content_id == contents[0].id
    assert await store.counts() == (1, 1)


async def test_content_we_wrote_is_found_by_agno_and_listed_by_its_contents_db(shared: Shared) -> None:
    store = await shared.store()
    await store.add_content(Content(id="c1", name="handbook.md", linked_to="handbook", created_at=100, updated_at=100))
    chunks = [
        Chunk(
            id=f"c1-{i}",
            content_id="c1",
            name="handbook.md",
            content=text,
            embedding=fake_embedding(text, DIMENSIONS),
            meta_data={"chunk": i},
            content_hash="h1",
        )
        for i, text in enumerate([HANDBOOK, EXPENSES])
    ]
    assert await store.complete_content("c1", chunks, updated_at=200)

    documents = await asyncio.to_thread(shared.agno.search, "vacation policy days", max_results=1)
    vector_hits = await asyncio.to_thread(shared.agno.vector_db.search, "expense receipts", 1)  # type: ignore[union-attr]
    listed, total = await asyncio.to_thread(shared.agno.get_content)

    assert [document.content for document in documents] == [HANDBOOK]
    assert [document.content for document in vector_hits] == [EXPENSES]
    assert total == 1 and (listed[0].id, listed[0].name, listed[0].status) == ("c1", "handbook.md", "completed")


async def test_a_table_agno_made_with_other_dimensions_is_refused_at_prepare_with_the_fix(shared: Shared) -> None:
    # A table of its own: the fixture's Knowledge already made handbook_chunks (Agno creates it on init).
    wider = PgVector(
        table_name="wide_chunks",
        schema=shared.spot.schema,
        db_url=pgvector_url().replace("postgresql://", "postgresql+psycopg://", 1),
        embedder=FakeEmbedder(dimensions=DIMENSIONS * 2),
    )
    await asyncio.to_thread(wider.create)
    wider.db_engine.dispose()

    with pytest.raises(
        IncompatibleStore, match=f"holds embeddings of {DIMENSIONS * 2} dimensions.*configured for {DIMENSIONS}"
    ):
        await shared.spot.open("handbook", table="wide_chunks")


async def chunk_indexes(schema: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(pgvector_url()) as connection:
        cursor = await connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'handbook_chunks'",
            [schema],
        )
        return dict(await cursor.fetchall())


async def test_by_default_the_chunk_table_has_agnos_indexes_and_no_vector_index_as_agnos_pgvector(
    shared: Shared,
) -> None:
    await shared.store()
    indexes = await chunk_indexes(shared.spot.schema)
    assert {f"idx_handbook_chunks_{column}" for column in ("id", "name", "content_hash", "content_id")} <= set(indexes)
    assert not any("hnsw" in definition for definition in indexes.values())


async def test_with_vector_index_hnsw_the_chunk_table_has_the_index_agno_optimize_makes(shared: Shared) -> None:
    await shared.store(vector_index="hnsw")
    vector_db = shared.agno.vector_db
    assert isinstance(vector_db, PgVector)
    definition = (await chunk_indexes(shared.spot.schema))["handbook_chunks_hnsw_index"]
    assert "USING hnsw (embedding vector_cosine_ops)" in definition
    assert "m='16'" in definition and "ef_construction='200'" in definition
    assert await asyncio.to_thread(vector_db._index_exists, "handbook_chunks_hnsw_index")


async def test_searches_of_a_base_with_the_hnsw_index_go_through_it(shared: Shared) -> None:
    """Counted by PostgreSQL's statistics. (Where the planner would rather scan, on large tables of
    out-of-line vectors, the store turns sequential scans off for the search: measured by the
    knowledge benchmark, not here.)"""
    store = await shared.store(vector_index="hnsw")
    await store.add_content(Content(id="c1", name="doc", linked_to="handbook", created_at=1, updated_at=1))
    texts = [f"paragraph {i} about topic {i}" for i in range(20)]
    chunks = [
        Chunk(id=f"c1-{i}", content_id="c1", name="doc", content=text, embedding=fake_embedding(text, DIMENSIONS))
        for i, text in enumerate(texts)
    ]
    assert await store.complete_content("c1", chunks, updated_at=2)
    hits = await store.search(fake_embedding("topic 7", DIMENSIONS), limit=3)
    assert hits[0].content == texts[7]
    await store.close()  # its connections end, which flushes their statistics
    async with await psycopg.AsyncConnection.connect(pgvector_url()) as connection:
        cursor = await connection.execute(
            "SELECT idx_scan FROM pg_stat_user_indexes WHERE schemaname = %s AND indexrelname = %s",
            [shared.spot.schema, "handbook_chunks_hnsw_index"],
        )
        (scans,) = await cursor.fetchone() or (0,)
    assert scans >= 1


async def test_tables_agno_2_made_without_user_id_are_brought_to_agno_3s_columns(shared: Shared) -> None:
    schema = shared.spot.schema
    async with await psycopg.AsyncConnection.connect(pgvector_url(), autocommit=True) as connection:
        await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await connection.execute(
            f'CREATE TABLE "{schema}".legacy_knowledge (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, '
            "description TEXT NOT NULL, metadata JSONB, type VARCHAR, size BIGINT, linked_to VARCHAR, "
            "access_count BIGINT, status VARCHAR, status_message TEXT, created_at BIGINT, updated_at BIGINT, "
            "external_id VARCHAR)"
        )
        await connection.execute(
            f'CREATE TABLE "{schema}".legacy_chunks (id VARCHAR PRIMARY KEY, name VARCHAR, meta_data JSONB, '
            f"filters JSONB, content TEXT, embedding vector({DIMENSIONS}), usage JSONB, created_at TIMESTAMPTZ, "
            "updated_at TIMESTAMPTZ, content_hash VARCHAR, content_id VARCHAR)"
        )
    database = DatabaseConfig.model_validate(
        {"id": "main", "type": "postgres", "db_schema": schema, "tables": {"knowledge": "legacy_knowledge"}}
    )
    spot = KnowledgeSpot("postgres", database, shared.spot.environ, shared.spot.data_dir)
    try:
        store = await spot.open("handbook", table="legacy_chunks")
        await store.add_content(Content(id="c1", name="h.md", linked_to="handbook", created_at=1, updated_at=1))
        chunk = Chunk(
            id="k1", content_id="c1", name="h.md", content=HANDBOOK, embedding=fake_embedding(HANDBOOK, DIMENSIONS)
        )
        assert await store.complete_content("c1", [chunk], updated_at=2)
        assert [hit.id for hit in await store.search(fake_embedding("vacation", DIMENSIONS), limit=3)] == ["k1"]
    finally:
        for store in spot.opened:
            await store.close()
    async with await psycopg.AsyncConnection.connect(pgvector_url()) as connection:
        cursor = await connection.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = %s AND column_name = 'user_id'",
            [schema],
        )
        assert {"legacy_knowledge", "legacy_chunks"} <= {row[0] for row in await cursor.fetchall()}


async def test_the_rows_recording_chunk_tables_cleanups_leave_agnos_versions_and_migrations_as_they_were(
    shared: Shared,
) -> None:
    """Beside the contents table's stamp, ``agno_schema_versions`` holds a row per chunk table
    saying whether it owes a cleanup: no table's name, so Agno, which reads the row of each of
    its tables by name, never reads one, and migrating its knowledge table leaves them as they were."""
    await shared.store()
    await asyncio.to_thread(shared.agno.insert, name="handbook.txt", text_content=HANDBOOK)
    contents_db = shared.agno.contents_db
    assert isinstance(contents_db, PostgresDb)

    await MigrationManager(contents_db).up(table_type="knowledge")
    agnos_version = await asyncio.to_thread(contents_db.get_latest_schema_version, "agno_knowledge")
    async with await psycopg.AsyncConnection.connect(pgvector_url()) as connection:
        cursor = await connection.execute(
            f'SELECT table_name, version FROM "{shared.spot.schema}".agno_schema_versions ORDER BY table_name'
        )
        rows = await cursor.fetchall()

    assert agnos_version == "3.0.0"
    assert rows == [("agno_knowledge", "3.0.0"), ("agno_knowledge/handbook_chunks", "orphans deleted")]
