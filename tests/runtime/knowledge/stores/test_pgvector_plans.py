"""Which scan a pgvector search runs, read from PostgreSQL's plan of the store's own statements.

The store's reads are recorded as it sends them, then sent again with ``EXPLAIN (FORMAT JSON)``
before the search statement, on one connection as the store does: the settings it sends with
the search are in force, exactly as when it searched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from agentos_runtime.knowledge.records import Chunk, Content
from agentos_runtime.knowledge.stores.pgvector import PgVectorStore
from agentos_runtime.storage.sql.executing import Rows, Step
from agentos_runtime.storage.sql.postgres_executor import PoolSettings, PostgresExecutor
from agentos_runtime.storage.sql.statements import Statement

from tests.runtime.knowledge.stores.conftest import DIMENSIONS, drop_schema, store_settings
from tests.support.databases import unique_name
from tests.support.fake_embeddings import fake_embedding
from tests.support.pgvector_server import pgvector_url

CHUNKS = "knowledge_docs"
INDEX = f"{CHUNKS}_hnsw_index"
# Small: far fewer rows than a page of the table, where the planner prefers reading it whole.
CHUNK_COUNT = 40


class RecordingExecutor(PostgresExecutor):
    """The store's executor, keeping every batch of reads it was asked for (and whether it was
    read in one transaction)."""

    def __init__(self, conninfo: str, *, db_id: str, settings: PoolSettings) -> None:
        super().__init__(conninfo, db_id=db_id, settings=settings)
        self.reads: list[tuple[list[Step], bool]] = []

    async def fetch(
        self, steps: Sequence[Step], *, timeout_seconds: float | None = None, in_transaction: bool = False
    ) -> list[Rows]:
        self.reads.append((list(steps), in_transaction))
        return await super().fetch(steps, timeout_seconds=timeout_seconds, in_transaction=in_transaction)


@dataclass
class Base:
    store: PgVectorStore
    executor: RecordingExecutor

    async def search_plans(self, text: str, *, limit: int) -> list[dict[str, Any]]:
        """The plans of the search statements one ``search`` sent, each explained among the
        statements of its batch (the settings sent before it in force, those sent after it
        undoing them)."""
        self.executor.reads.clear()
        hits = await self.store.search(fake_embedding(text, DIMENSIONS), limit=limit)
        assert len(hits) == limit
        plans: list[dict[str, Any]] = []
        for batch, in_transaction in list(self.executor.reads):
            searched = next(n for n, (statement, _) in enumerate(batch) if f'"{CHUNKS}"' in statement.sql)
            statement, params = batch[searched]
            explained = list(batch)
            explained[searched] = (Statement(f"EXPLAIN (FORMAT JSON) {statement.sql}"), params)
            rows = await self.executor.fetch(explained, in_transaction=in_transaction)
            plans.append(rows[searched][0][0][0]["Plan"])
        return plans


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def scans_of_the_chunks(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Each scan of the chunk table in ``plan``: its node type and the index it reads, if any."""
    return [(node["Node Type"], node.get("Index Name")) for node in nodes(plan) if node.get("Relation Name") == CHUNKS]


@pytest.fixture
async def open_base() -> AsyncIterator[Any]:
    schema = unique_name("plans")
    executors: list[RecordingExecutor] = []

    async def opened(*, hnsw: bool, connections: int = 10) -> Base:
        executor = RecordingExecutor(pgvector_url(), db_id="main", settings=PoolSettings(max_size=connections))
        executors.append(executor)
        base_id = f"docs-{len(executors)}"
        store = PgVectorStore(
            executor,
            store_settings(base_id=base_id, chunks_table=CHUNKS, dimensions=DIMENSIONS),
            conninfo=pgvector_url(),
            schema=f"{schema}_{len(executors)}",
            hnsw=hnsw,
        )
        await store.prepare()
        await store.add_content(Content(id="c1", name="c1.md", linked_to=base_id, created_at=1, updated_at=1))
        texts = [f"policy number {i} about topic {i % 7} and team {i % 5}" for i in range(CHUNK_COUNT)]
        chunks = [
            Chunk(
                id=f"chunk-{i}", content_id="c1", name="c1.md", content=text, embedding=fake_embedding(text, DIMENSIONS)
            )
            for i, text in enumerate(texts)
        ]
        assert await store.complete_content("c1", chunks, updated_at=2)
        return Base(store, executor)

    try:
        yield opened
    finally:
        for executor in executors:
            await executor.close()
        for n in range(1, len(executors) + 1):
            await drop_schema(f"{schema}_{n}")


async def test_a_search_on_an_hnsw_base_reads_the_index_even_on_a_small_table(open_base: Any) -> None:
    base: Base = await open_base(hnsw=True)

    plans = await base.search_plans("policy about topic 3", limit=3)

    assert len(plans) == 1, "the index yielded enough chunks: no exact search after it"
    assert scans_of_the_chunks(plans[0]) == [("Index Scan", INDEX)]


async def test_without_the_settings_the_store_sends_the_planner_scans_that_small_table(open_base: Any) -> None:
    base: Base = await open_base(hnsw=True)
    await base.search_plans("policy about topic 3", limit=3)
    search = next(step for batch, _ in base.executor.reads for step in batch if f'"{CHUNKS}"' in step[0].sql)

    rows = await base.executor.fetch([(Statement(f"EXPLAIN (FORMAT JSON) {search[0].sql}"), search[1])])

    assert scans_of_the_chunks(rows[0][0][0][0]["Plan"]) == [("Seq Scan", None)]


async def test_a_search_leaves_none_of_its_settings_on_the_connection(open_base: Any) -> None:
    """Whoever sends the next statement on that connection (behind a pooler in transaction
    mode, another client) plans and scans with the server's defaults."""
    base: Base = await open_base(hnsw=True, connections=1)
    defaults = [(Statement(f"SHOW {name}"), {}) for name in ("hnsw.ef_search", "hnsw.iterative_scan", "enable_seqscan")]
    before = await base.executor.fetch(defaults)

    assert len(await base.store.search(fake_embedding("policy about topic 3", DIMENSIONS), limit=30)) == 30
    after = await base.executor.fetch(defaults)

    assert after == before == [[("40",)], [("off",)], [("on",)]]


async def test_a_search_on_a_base_without_the_index_scans_the_table(open_base: Any) -> None:
    base: Base = await open_base(hnsw=False)

    plans = await base.search_plans("policy about topic 3", limit=3)

    assert [scans_of_the_chunks(plan) for plan in plans] == [[("Seq Scan", None)]]
