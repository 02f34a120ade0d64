"""A knowledge base's PostgreSQL that stops answering fails its reads within the database's
``timeout_seconds`` (and the 1 s grace), never holds them for ever; writes are not bounded.

The pgvector server behind a frozen ``TcpProxy`` (a partition, a stuck server: connections stay
open, nothing comes back). A search (what a run's knowledge tool and the search route call),
a listing, a content read and the counts raise ``StorageUnavailable`` saying the database,
named by its id only, did not answer; once thawed the store answers again, with no reopening.
Before the bound they hung: each call here is under an outer bound, so it fails instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.knowledge.ports import KnowledgeStore
from agentos_runtime.knowledge.records import Content

from tests.runtime.knowledge.stores.conftest import KnowledgeSpot, chunk, drop_schema, pgvector_proxy, proxied, vector
from tests.runtime.storage.tcp_proxy import TcpProxy
from tests.support.databases import unique_name

TIMEOUT = 0.5
# The client's bound (the timeout and its 1 s grace) and a margin for a loaded machine.
BOUND = TIMEOUT + 1.0 + 1.0
# What the test waits at most before calling a call hung.
OUTER = 20.0


READS: dict[str, Callable[[KnowledgeStore], Awaitable[Any]]] = {
    "search": lambda store: store.search(vector(0), limit=3),
    "filtered search": lambda store: store.search(vector(0), limit=3, filters={"topic": "none"}),
    "list contents": lambda store: store.list_contents(page=1, limit=10),
    "get content": lambda store: store.get_content("c1"),
    "counts": lambda store: store.counts(),
}


@pytest.fixture(params=["none", "hnsw"])
async def frozen(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[KnowledgeStore, TcpProxy]]:
    """A prepared base holding one completed content of three chunks, on a database behind a
    proxy that the test may freeze (thawed before the clean-up)."""
    proxy = pgvector_proxy()
    await proxy.start()
    name = unique_name("kbhang")
    database = DatabaseConfig.model_validate(
        {"id": "slow-kb", "type": "postgres", "db_schema": name, "timeout_seconds": TIMEOUT}
    )
    spot = KnowledgeSpot("postgres", database, {"DATABASE_URL": proxied(proxy.port)}, tmp_path)
    try:
        store = await spot.open(vector_index=request.param)
        await store.add_content(Content(id="c1", name="c1", linked_to="docs", created_at=1, updated_at=1))
        assert await store.complete_content("c1", [chunk("c1", n) for n in range(3)], updated_at=2)
        yield store, proxy
    finally:
        proxy.thaw()
        for opened in spot.opened:
            await opened.close()
        await proxy.stop()
        await drop_schema(name)


async def did_not_answer_in_time(call: Awaitable[Any], proxy_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as raised:
        await asyncio.wait_for(call, OUTER)
    assert time.monotonic() - started < BOUND
    detail = raised.value.detail
    assert "database 'slow-kb' is unavailable: it did not answer within 1.5 s" in detail
    assert str(proxy_port) not in detail and "127.0.0.1" not in detail


@pytest.mark.parametrize("read", list(READS), ids=list(READS))
async def test_a_read_of_a_frozen_database_fails_within_its_timeout_and_answers_once_thawed(
    frozen: tuple[KnowledgeStore, TcpProxy], read: str
) -> None:
    store, proxy = frozen
    proxy.freeze()

    await did_not_answer_in_time(READS[read](store), proxy.port)

    proxy.thaw()
    hits = await asyncio.wait_for(store.search(vector(1), limit=1), OUTER)
    assert [hit.id for hit in hits] == ["c1-1"]


async def test_reads_fail_again_and_again_while_it_stays_frozen(frozen: tuple[KnowledgeStore, TcpProxy]) -> None:
    """The pool is left whole by each cut: the second search waits for no connection the first lost."""
    store, proxy = frozen
    proxy.freeze()

    for _ in range(2):
        await did_not_answer_in_time(store.search(vector(0), limit=3), proxy.port)

    proxy.thaw()
    assert len(await asyncio.wait_for(store.search(vector(0), limit=3), OUTER)) == 3


async def test_a_write_is_not_bounded_and_is_applied_once_thawed(frozen: tuple[KnowledgeStore, TcpProxy]) -> None:
    """Ingestion may take long: writing a content's chunks waits for the database past the
    timeout that ends the reads meanwhile."""
    store, proxy = frozen
    proxy.freeze()
    write = asyncio.ensure_future(store.complete_content("c1", [chunk("c1", 5)], updated_at=3))
    try:
        await did_not_answer_in_time(store.search(vector(0), limit=3), proxy.port)

        assert not write.done()
        proxy.thaw()
        assert await asyncio.wait_for(write, OUTER)
    finally:
        write.cancel()
    hits = await asyncio.wait_for(store.search(vector(5), limit=3), OUTER)
    assert [hit.id for hit in hits] == ["c1-5"]
