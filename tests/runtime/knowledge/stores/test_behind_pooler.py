"""A knowledge base on PostgreSQL behind PgBouncer in transaction mode (``behind_pooler``), as
platforms put poolers in front of their databases: preparing the base, ingesting, searching
(past psycopg's threshold for preparing a statement, and at once) and listing all work through
it, and a search leaves none of its settings on the server connection the pooler hands to the
next client. The pooler has one server connection, so every client shares it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.knowledge.ports import KnowledgeStore
from agentos_runtime.knowledge.records import Content

from tests.runtime.knowledge.stores.conftest import KnowledgeSpot, chunk, drop_schema, vector
from tests.support.databases import unique_name
from tests.support.pgbouncer import pgbouncer_before
from tests.support.pgvector_server import pgvector_url

SETTINGS = ("hnsw.ef_search", "hnsw.iterative_scan", "enable_seqscan")


@pytest.fixture
async def pooled(tmp_path: Path) -> AsyncIterator[tuple[KnowledgeStore, str]]:
    """An HNSW base opened through a PgBouncer of its own, and that PgBouncer's URL."""
    name = unique_name("kbpooled")
    database = DatabaseConfig.model_validate(
        {"id": "pooled-kb", "type": "postgres", "db_schema": name, "behind_pooler": True}
    )
    with pgbouncer_before(pgvector_url(), pool_size=1) as url:
        spot = KnowledgeSpot("postgres", database, {"DATABASE_URL": url}, tmp_path / "data")
        try:
            yield await spot.open(vector_index="hnsw"), url
        finally:
            for opened in spot.opened:
                await opened.close()
            await drop_schema(name)


async def shown(url: str) -> list[str]:
    """The settings a new client of the pooler finds on the server connection it is handed."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=None) as connection:
        return [str((await (await connection.execute(f"SHOW {name}")).fetchone() or ("",))[0]) for name in SETTINGS]


async def test_a_base_behind_pgbouncer_ingests_searches_and_lists_again_and_again_and_at_once(
    pooled: tuple[KnowledgeStore, str],
) -> None:
    store, _ = pooled
    for content_id in ("c1", "c2"):
        await store.add_content(Content(id=content_id, name=content_id, linked_to="docs", created_at=1, updated_at=1))
        assert await store.complete_content(content_id, [chunk(content_id, n) for n in range(4)], updated_at=2)

    # Past psycopg's threshold (5 uses) for preparing a statement, one after the other ...
    for n in range(8):
        assert [hit.id for hit in await store.search(vector(n % 4), limit=2)][0] in {f"c1-{n % 4}", f"c2-{n % 4}"}
    # ... and at once.
    searched = await asyncio.gather(*(store.search(vector(1), limit=3) for _ in range(6)))
    listed, _ = await store.list_contents(page=1, limit=10)

    assert all(len(hits) == 3 and {hit.id for hit in hits[:2]} == {"c1-1", "c2-1"} for hits in searched)
    assert sorted(content.id for content in listed) == ["c1", "c2"]


async def test_a_search_behind_pgbouncer_leaves_none_of_its_settings_to_the_next_client(
    pooled: tuple[KnowledgeStore, str],
) -> None:
    store, url = pooled
    await store.add_content(Content(id="c1", name="c1", linked_to="docs", created_at=1, updated_at=1))
    assert await store.complete_content("c1", [chunk("c1", n) for n in range(4)], updated_at=2)
    before = await shown(url)

    assert len(await store.search(vector(0), limit=30)) == 4

    assert await shown(url) == before == ["40", "off", "on"]
