"""How many round trips a search on an HNSW base waits for, counted by a ``TcpProxy`` between the
store and PostgreSQL (its ``round_trips``: the times the server answered what its client sent).

On a server reached directly, one: the search's settings and its statement go out together in
psycopg's pipeline mode, one transaction the server ends at the pipeline's end. Before, the
settings, the statement and the ``BEGIN`` and ``COMMIT`` around them were a round trip each (four,
six for the search during which psycopg prepared both statements).

Behind PgBouncer in transaction mode it stays four, one statement after the other in an explicit
transaction, and the client sends nothing after the answer that ends it: psycopg ends a pipeline
with a flush request after its synchronisation point, and PgBouncer, given that request once the
answer has released the server connection, links one to the idle client and keeps it from every
other client until that client's next statement. The messages the client sends are read from
libpq's trace of the store's connections."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from agentos_runtime.knowledge.records import Content
from agentos_runtime.knowledge.stores.pgvector import PgVectorStore
from agentos_runtime.storage.sql.postgres_executor import PooledConnection, PoolSettings, PostgresExecutor
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from tests.runtime.knowledge.stores.conftest import (
    DIMENSIONS,
    chunk,
    drop_schema,
    pgvector_proxy,
    store_settings,
    vector,
)
from tests.runtime.storage.tcp_proxy import TcpProxy
from tests.support.databases import unique_name
from tests.support.pgbouncer import pgbouncer_before
from tests.support.pgvector_server import pgvector_url

# Past psycopg's threshold (5 uses) for preparing a statement.
SEARCHES = 8


class TracingExecutor(PostgresExecutor):
    """The store's executor: while ``trace`` is set, libpq traces into it what each connection
    sends and receives between being handed out and given back."""

    trace: IO[str] | None = None

    async def _connection(self) -> PooledConnection:
        connection = await super()._connection()
        if self.trace is not None:
            connection.pgconn.trace(self.trace.fileno())
            connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        return connection

    async def _release(self, connection: PooledConnection) -> None:
        if not connection.closed:
            connection.pgconn.untrace()
        await super()._release(connection)


@dataclass
class Base:
    store: PgVectorStore
    executor: TracingExecutor
    proxy: TcpProxy


@contextmanager
def server(route: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy (not started) to the pgvector server, directly or through a PgBouncer of its own,
    and the URL of what it stands in front of."""
    if route == "direct":
        yield pgvector_proxy(), pgvector_url()
        return
    with pgbouncer_before(pgvector_url(), pool_size=1) as url:
        info = conninfo_to_dict(url)
        yield TcpProxy(str(info["host"]), int(info["port"])), url


@pytest.fixture(params=["direct", "pgbouncer"])
async def base(request: pytest.FixtureRequest) -> AsyncIterator[Base]:
    """A prepared HNSW base of four chunks, on a database behind a counting proxy."""
    schema = unique_name("kbtrips")
    with server(request.param) as (proxy, upstream):
        await proxy.start()
        info = conninfo_to_dict(upstream)
        url = f"postgresql://{info.get('user', 'postgres')}@127.0.0.1:{proxy.port}/{info.get('dbname', 'postgres')}"
        pooled = request.param == "pgbouncer"
        executor = TracingExecutor(url, db_id="main", settings=PoolSettings(behind_pooler=pooled))
        store = PgVectorStore(
            executor,
            store_settings(chunks_table="knowledge_docs", dimensions=DIMENSIONS),
            conninfo=url,
            schema=schema,
            hnsw=True,
        )
        try:
            await store.prepare()
            await store.add_content(Content(id="c1", name="c1", linked_to="docs", created_at=1, updated_at=1))
            chunks = [chunk("c1", n) for n in range(4)]
            assert await store.complete_content("c1", chunks, updated_at=2)
            yield Base(store, executor, proxy)
        finally:
            await executor.close()
            await proxy.stop()
            await drop_schema(schema)


async def round_trips_of_searches(base: Base) -> list[int]:
    """The round trips each of ``SEARCHES`` searches waited for (each finding the chunks asked for,
    so no exact search follows the index's)."""
    waited: list[int] = []
    for n in range(SEARCHES):
        before = base.proxy.round_trips
        hits = await base.store.search(vector(n % 4), limit=2)
        waited.append(base.proxy.round_trips - before)
        assert hits[0].id == f"c1-{n % 4}" and len(hits) == 2
    return waited


@pytest.mark.parametrize("base", ["direct"], indirect=True)
async def test_a_search_on_an_hnsw_base_is_one_round_trip(base: Base) -> None:
    waited = await round_trips_of_searches(base)

    assert waited == [1] * SEARCHES, f"round trips of each search: {waited}"


@pytest.mark.parametrize("base", ["pgbouncer"], indirect=True)
async def test_behind_pgbouncer_a_search_sends_nothing_after_the_answer_that_ends_it(
    base: Base, tmp_path: Path
) -> None:
    with (tmp_path / "libpq.trace").open("w+") as trace:
        base.executor.trace = trace
        waited = await round_trips_of_searches(base)
        base.executor.trace = None
        trace.seek(0)
        # Lines of "direction, length, message, ...": what the client sent.
        sent = [fields[2] for fields in (line.rstrip("\n").split("\t") for line in trace) if fields[0] == "F"]

    assert "Sync" in sent and "Flush" not in sent
    assert waited == [4] * SEARCHES, f"round trips of each search: {waited}"
