"""Tables dropped under a running runtime are created again for the next call, without a restart:
the call that found one missing fails saying so, one repair runs however many calls found it, and
a repair that fails is logged and tried again by the next call that finds a table missing. The
same holds for the knowledge tables (the contents table, a base's chunk and vector tables), on
SQLite's knowledge file and on PostgreSQL with pgvector: one repair prepares every open base of
the database again, with the dimensions and index it was opened with."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import psycopg
import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.knowledge.base import Upload
from agentos_runtime.knowledge.ports import KnowledgeStore
from agentos_runtime.knowledge.records import Chunk, Content
from agentos_runtime.knowledge.stores.checking import IncompatibleStore, UnstorableData
from agentos_runtime.knowledge.stores.opening import KnowledgeConnection
from agentos_runtime.knowledge.stores.pgvector import PgVectorStore
from agentos_runtime.knowledge.stores.sqlite_files import connect_knowledge, knowledge_path
from agentos_runtime.knowledge.stores.sqlite_vec import SqliteVecStore
from agentos_runtime.storage.factory import open_database, sqlite_path
from agentos_runtime.storage.ports import MemoryQuery, MemoryRow, SessionRow
from agentos_runtime.storage.sql.database import SqlDatabase
from agentos_runtime.storage.sql.executing import Executor
from agentos_runtime.storage.sql.repair import SchemaRepair

from tests.runtime.api.harness import Served, read_frames
from tests.runtime.knowledge.hubs import knowledge_space
from tests.runtime.knowledge.search_fakes import LAPTOPS, VACATION, search_call
from tests.runtime.knowledge.serving import KNOWLEDGE_BACKENDS, knowledge_config, serve_knowledge
from tests.runtime.knowledge.stores.conftest import DIMENSIONS as KNOWLEDGE_DIMENSIONS
from tests.runtime.knowledge.stores.conftest import KnowledgeSpot, drop_schema
from tests.support.databases import unique_name
from tests.support.fake_embeddings import fake_embedding
from tests.support.fake_openai import FakeOpenAIServer, Reply, fake_openai, fake_openai_server
from tests.support.pgvector_server import pgvector_url

__all__ = ["fake_openai", "fake_openai_server"]


class Creating:
    """A stand-in for ``ensure_schema`` that waits until released, failing the first ``failures`` times."""

    def __init__(self, failures: int = 0) -> None:
        self.calls = 0
        self.failures = failures
        self.release = asyncio.Event()

    async def __call__(self) -> None:
        self.calls += 1
        await self.release.wait()
        if self.calls <= self.failures:
            raise StorageUnavailable("database 'main' refused the operation (permission denied for schema public)")


async def test_calls_finding_tables_missing_while_a_repair_runs_start_no_other() -> None:
    creating = Creating()
    repair = SchemaRepair(creating, db_id="main")

    for _ in range(5):
        repair.found_missing()
    await asyncio.sleep(0)  # the repair's task starts
    creating.release.set()
    await repair.settled()

    assert creating.calls == 1


async def test_a_failed_repair_is_logged_and_the_next_call_finding_tables_missing_tries_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    creating = Creating(failures=1)
    creating.release.set()
    repair = SchemaRepair(creating, db_id="main")

    repair.found_missing()
    await repair.settled()
    repair.found_missing()
    await repair.settled()

    assert creating.calls == 2
    assert [record.getMessage() for record in caplog.records] == [
        "database 'main': creating its missing tables again failed: "
        "database 'main' refused the operation (permission denied for schema public)",
        "database 'main': tables of the runtime were missing and were created again, empty",
    ]


async def test_a_repair_under_way_is_cancelled_when_the_database_closes() -> None:
    creating = Creating()
    repair = SchemaRepair(creating, db_id="main")
    repair.found_missing()
    await asyncio.sleep(0)

    await repair.close()

    assert creating.calls == 1 and not creating.release.is_set()


async def test_a_sqlite_table_dropped_by_hand_fails_the_call_then_is_created_again(tmp_path: Path) -> None:
    path = tmp_path / "agentos.db"
    database = await open_database(
        DatabaseConfig(id="main", type="sqlite", path=str(path)), environ={}, data_dir=tmp_path
    )
    assert isinstance(database, SqlDatabase) and database.repair is not None
    session = SessionRow(session_id="s1", session_type="agent", created_at=1_000, agent_id="assistant")
    try:
        await database.sessions.save_run(session, {"run_id": "r1"}, session_state=None)
        with sqlite3.connect(path) as admin:
            admin.execute("DROP TABLE agno_runs")
            admin.execute("DROP TABLE agno_sessions")
            admin.execute("DROP TABLE agno_memories")
        admin.close()

        with pytest.raises(StorageUnavailable) as reading:
            await database.sessions.get_session("s1")
        await database.repair.settled()
        await database.sessions.save_run(session, {"run_id": "r2"}, session_state=None)
        stored = await database.sessions.get_session("s1")
        await database.memories.upsert_memory(MemoryRow(memory_id="m1", memory="likes tea", user_id="ana"))
        memories = await database.memories.list_memories(MemoryQuery())
    finally:
        await database.close()

    assert reading.value.detail.startswith("database 'main' refused the operation (no such table: agno_")
    assert reading.value.detail.endswith(
        "a table of the runtime is missing: it is being created again, empty: try again"
    )
    assert stored is not None and [run["run_id"] for run in stored.runs or []] == ["r2"]
    assert memories.total == 1


async def test_a_sqlite_table_of_the_listings_stores_found_missing_is_created_again(tmp_path: Path) -> None:
    path = tmp_path / "agentos.db"
    database = await open_database(
        DatabaseConfig(id="main", type="sqlite", path=str(path)), environ={}, data_dir=tmp_path
    )
    assert isinstance(database, SqlDatabase) and database.repair is not None
    try:
        with sqlite3.connect(path) as admin:
            admin.execute("DROP TABLE agno_memories")
        admin.close()

        with pytest.raises(StorageUnavailable) as listing:
            await database.memories.list_memories(MemoryQuery())
        await database.repair.settled()
        listed = await database.memories.list_memories(MemoryQuery())
    finally:
        await database.close()

    assert listing.value.detail == (
        "database 'main' refused the operation (no such table: agno_memories): "
        "a table of the runtime is missing: it is being created again, empty: try again"
    )
    assert listed.total == 0


# --- knowledge: the contents table and a base's chunk (and SQLite vector) tables -------------


@pytest.fixture(params=["sqlite", "postgres"])
async def spot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KnowledgeSpot]:
    """Knowledge stores on SQLite's knowledge file, or in a schema of their own on the pgvector server."""
    kind: str = request.param
    name = unique_name("repair")
    database = DatabaseConfig.model_validate({"id": "main", "type": kind, "db_schema": name})
    environ = {"DATABASE_URL": pgvector_url()} if kind == "postgres" else {}
    opened = KnowledgeSpot(kind, database, environ, tmp_path / "data")
    try:
        yield opened
    finally:
        for store in opened.opened:
            await store.close()
        if kind == "postgres":
            await drop_schema(name)


def repair_of(store: KnowledgeStore) -> SchemaRepair:
    assert isinstance(store, SqliteVecStore | PgVectorStore) and store.repair is not None
    return store.repair


async def drop_knowledge_tables(spot: KnowledgeSpot, *tables: str) -> None:
    """Drop ``tables`` of the spot's knowledge as an operator would, behind the runtime's back."""
    if spot.kind == "sqlite":
        # sqlite-vec loaded: dropping a vector table needs its module.
        admin = connect_knowledge(knowledge_path(sqlite_path(spot.database, spot.data_dir)), isolation_level=None)
        try:
            for table in tables:
                admin.execute(f'DROP TABLE "{table}"')
        finally:
            admin.close()
        return
    async with await psycopg.AsyncConnection.connect(pgvector_url(), autocommit=True) as admin:
        for table in tables:
            await admin.execute(f'DROP TABLE "{spot.schema}"."{table}"')


def knowledge_content(content_id: str, base: str = "docs") -> Content:
    return Content(id=content_id, name=f"{content_id}.md", linked_to=base, created_at=100, updated_at=100)


def knowledge_chunk(content_id: str, text: str) -> Chunk:
    return Chunk(
        id=f"{content_id}-1",
        content_id=content_id,
        name=f"{content_id}.md",
        content=text,
        embedding=fake_embedding(text, KNOWLEDGE_DIMENSIONS),
        content_hash=f"hash-{content_id}",
    )


async def completed(store: KnowledgeStore, content_id: str, text: str, *, base: str = "docs") -> None:
    await store.add_content(knowledge_content(content_id, base))
    assert await store.complete_content(content_id, [knowledge_chunk(content_id, text)], updated_at=200)


async def contents_dropped_and_made_again(spot: KnowledgeSpot, docs: KnowledgeStore, faq: KnowledgeStore) -> None:
    """Bases docs and faq each hold one content about vacation days (c1, f1); then the contents
    table of ``spot`` is dropped, and a call of docs finds it missing and has it made again."""
    await completed(docs, "c1", "vacation days")
    await completed(faq, "f1", "vacation days", base="faq")
    await contents_dropped_and_made_again_by(spot, docs)


async def contents_dropped_and_made_again_by(spot: KnowledgeSpot, store: KnowledgeStore) -> None:
    """The contents table of ``spot`` dropped, and a call of ``store`` finding it missing has it made again."""
    await drop_knowledge_tables(spot, "agno_knowledge")
    with pytest.raises(StorageUnavailable):
        await store.list_contents(page=1, limit=1)
    await repair_of(store).settled()


async def found(store: KnowledgeStore, text: str) -> list[str]:
    hits = await store.search(fake_embedding(text, KNOWLEDGE_DIMENSIONS), limit=5)
    return [hit.content_id or "" for hit in hits]


BEING_CREATED_AGAIN = "a table of the runtime is missing: it is being created again, empty: try again"


async def test_a_dropped_knowledge_contents_table_fails_the_call_naming_it_then_is_created_again(
    spot: KnowledgeSpot,
) -> None:
    store = await spot.open()
    await completed(store, "c1", "vacation days")
    await drop_knowledge_tables(spot, "agno_knowledge")

    with pytest.raises(StorageUnavailable) as reading:
        await store.get_content("c1")
    await repair_of(store).settled()
    gone = await store.get_content("c1")
    await store.add_content(knowledge_content("c2"))
    listed, total = await store.list_contents(page=1, limit=10)

    table = "agno_knowledge" if spot.kind == "sqlite" else f'relation "{spot.schema}.agno_knowledge" does not exist'
    assert reading.value.detail.startswith("database 'main' refused the operation (")
    assert table in reading.value.detail and reading.value.detail.endswith(BEING_CREATED_AGAIN)
    assert "restart" not in reading.value.detail and "@" not in reading.value.detail
    assert gone is None and [content.id for content in listed] == ["c2"] and total == 1


async def test_a_dropped_contents_table_takes_the_chunks_of_what_it_held_from_every_base_of_the_database(
    spot: KnowledgeSpot,
) -> None:
    """A search must never find a chunk whose content is gone (it could not be listed or deleted)."""
    docs, faq = await spot.open("docs"), await spot.open("faq")
    await contents_dropped_and_made_again(spot, docs, faq)
    found_after = await found(docs, "vacation days"), await found(faq, "vacation days")
    counted = await docs.counts(), await faq.counts()
    await completed(docs, "c2", "vacation days")

    assert found_after == ([], []) and counted == ((0, 0), (0, 0))
    assert await found(docs, "vacation days") == ["c2"]


async def test_a_contents_table_dropped_while_the_runtime_was_down_takes_the_chunks_of_what_it_held(
    spot: KnowledgeSpot,
) -> None:
    store = await spot.open()
    await completed(store, "c1", "vacation days")
    await store.close()
    await drop_knowledge_tables(spot, "agno_knowledge")

    reopened = await spot.open()

    assert await found(reopened, "vacation days") == [] and await reopened.counts() == (0, 0)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_contents_table_dropped_while_the_runtime_was_down_takes_the_chunks_of_every_base_it_starts(
    kind: str, tmp_path: Path
) -> None:
    """The first base prepared at start makes the table again: the other bases of its database
    are opened by then, so the chunks of what it held go from theirs too, not from its own alone."""
    async with knowledge_space(kind, tmp_path) as space:
        bases = space.base("docs"), space.base("faq")
        before = await space.open(*bases)
        for base in bases:
            await before[base.id].add(Upload(text="Vacation days are booked in the HR portal."))
        await before.wait_idle()
        await before.close()
        space.hubs.remove(before)
        await drop_knowledge_tables(KnowledgeSpot(kind, space.database, {}, space.data_dir), "agno_knowledge")

        after = await space.open(*bases)
        found_after = [await after[base.id].search("vacation days") for base in bases]

    assert found_after == [[], []]


async def test_chunks_beside_a_contents_table_never_made_are_kept_and_found(spot: KnowledgeSpot) -> None:
    """Chunks written without contents (Agno's vector database alone) lose nothing when the
    runtime first makes the contents table: only a table made and dropped takes chunks with it."""
    store = await spot.open()
    await completed(store, "c1", "vacation days")
    await store.close()
    await drop_knowledge_tables(spot, "agno_knowledge", "agno_schema_versions")

    reopened = await spot.open()

    assert await found(reopened, "vacation days") == ["c1"] and await reopened.counts() == (0, 1)


async def delete_content_by_hand(spot: KnowledgeSpot, content_id: str) -> None:
    """Delete the contents row ``content_id`` behind the runtime's back, leaving its chunks."""
    if spot.kind == "sqlite":
        admin = sqlite3.connect(knowledge_path(sqlite_path(spot.database, spot.data_dir)), isolation_level=None)
        try:
            admin.execute("DELETE FROM agno_knowledge WHERE id = ?", (content_id,))
        finally:
            admin.close()
        return
    async with await psycopg.AsyncConnection.connect(pgvector_url(), autocommit=True) as admin:
        await admin.execute(f'DELETE FROM "{spot.schema}".agno_knowledge WHERE id = %s', (content_id,))


async def test_a_base_closed_while_the_contents_table_was_dropped_and_made_again_loses_its_orphans_when_opened(
    spot: KnowledgeSpot,
) -> None:
    """faq is closed (removed from the config, or declared by another runtime) while docs makes
    the dropped contents table again: the chunks of what it held go from faq's table when faq
    opens, before any search could find them, as they went from docs' at once."""
    docs, faq, guide = await spot.open("docs"), await spot.open("faq"), await spot.open("guide")
    await completed(docs, "c1", "vacation days")
    await completed(faq, "f1", "vacation days", base="faq")
    await completed(guide, "g1", "vacation days", base="guide")
    await faq.close()
    await guide.close()
    await contents_dropped_and_made_again_by(spot, docs)

    faq_again, guide_again = await spot.open("faq"), await spot.open("guide")

    assert await found(faq_again, "vacation days") == [] and await faq_again.counts() == (0, 0)
    assert await found(guide_again, "vacation days") == [] and await guide_again.counts() == (0, 0)
    assert await found(docs, "vacation days") == [] and await docs.counts() == (0, 0)


async def test_a_base_cleaned_of_its_orphans_once_keeps_the_chunks_it_holds_until_the_contents_table_is_made_again(
    spot: KnowledgeSpot,
) -> None:
    """The cleanup a base owes for the contents table made again while it was closed runs once:
    a chunk whose content's row is deleted after it (by hand, or by Agno beside the runtime) is
    kept at the next opening, as it was before any cleanup was owed."""
    docs, faq = await spot.open("docs"), await spot.open("faq")
    await completed(faq, "f1", "vacation days", base="faq")
    await faq.close()
    await contents_dropped_and_made_again_by(spot, docs)
    faq_cleaned = await spot.open("faq")
    await completed(faq_cleaned, "f2", "expense reports", base="faq")
    await delete_content_by_hand(spot, "f2")
    await faq_cleaned.close()

    faq_again = await spot.open("faq")

    assert await found(faq_again, "expense reports") == ["f2"] and await faq_again.counts() == (0, 1)


async def test_chunks_a_base_never_recorded_wrote_beside_no_contents_table_are_kept_when_another_base_remakes_it(
    spot: KnowledgeSpot,
) -> None:
    """A chunk table with no cleanup recorded (made before the runtime kept them, or by Agno's
    vector database alone) owes none: its chunks written without contents are kept, however
    often the contents table made since by another base is dropped and made again."""
    docs = await spot.open("docs")
    await completed(docs, "c1", "vacation days")
    await docs.close()
    await drop_knowledge_tables(spot, "agno_knowledge", "agno_schema_versions")
    faq = await spot.open("faq")  # makes the contents table, never made before: nothing deleted
    await completed(faq, "f1", "vacation days", base="faq")
    await contents_dropped_and_made_again_by(spot, faq)

    docs_again = await spot.open("docs")

    assert await found(docs_again, "vacation days") == ["c1"] and await docs_again.counts() == (0, 1)
    assert await found(faq, "vacation days") == [] and await faq.counts() == (0, 0)


@asynccontextmanager
async def deletes_failing(spot: KnowledgeSpot, table: str) -> AsyncIterator[None]:
    """A fault of the database while the block runs: every delete from ``table`` (a base's chunk
    table) fails, by a trigger set behind the runtime's back and removed after."""
    if spot.kind == "sqlite":
        path = knowledge_path(sqlite_path(spot.database, spot.data_dir))
        admin = connect_knowledge(path, isolation_level=None)
        try:
            admin.execute(
                f"CREATE TRIGGER deletes_fail BEFORE DELETE ON \"{table}\" BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
            )
            yield
        finally:
            admin.execute("DROP TRIGGER deletes_fail")
            admin.close()
        return
    schema = f'"{spot.schema}"'
    async with await psycopg.AsyncConnection.connect(pgvector_url(), autocommit=True) as admin:
        await admin.execute(
            f"CREATE FUNCTION {schema}.deletes_fail() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RAISE EXCEPTION 'disk I/O error'; END $$"
        )
        await admin.execute(
            f'CREATE TRIGGER deletes_fail BEFORE DELETE ON {schema}."{table}" '
            f"FOR EACH STATEMENT EXECUTE FUNCTION {schema}.deletes_fail()"
        )
        try:
            yield
        finally:
            await admin.execute(f"DROP FUNCTION {schema}.deletes_fail() CASCADE")


async def test_a_repair_failing_between_making_the_contents_table_again_and_deleting_its_chunks_leaves_no_orphan(
    spot: KnowledgeSpot, caplog: pytest.LogCaptureFixture
) -> None:
    """Making the dropped contents table again and deleting the chunks of what it held commit
    together: a repair failing between the two leaves the table missing, so every call, searches
    too, fails and starts the repair again until one does both; no search finds those chunks."""
    docs, faq = await spot.open("docs"), await spot.open("faq")
    await completed(docs, "c1", "vacation days")
    await completed(faq, "f1", "vacation days", base="faq")
    await drop_knowledge_tables(spot, "agno_knowledge")

    async with deletes_failing(spot, "knowledge_faq"):
        with pytest.raises(StorageUnavailable):
            await docs.get_content("c1")
        await repair_of(docs).settled()
    with pytest.raises(StorageUnavailable) as searching:
        await found(faq, "vacation days")
    await repair_of(faq).settled()
    found_after = await found(docs, "vacation days"), await found(faq, "vacation days")
    counted = await docs.counts(), await faq.counts()

    failures = [record.getMessage() for record in caplog.records if "failed" in record.getMessage()]
    assert len(failures) == 1 and "disk I/O error" in failures[0]
    assert "agno_knowledge" in searching.value.detail and searching.value.detail.endswith(BEING_CREATED_AGAIN)
    assert found_after == ([], []) and counted == ((0, 0), (0, 0))


async def test_a_dropped_contents_table_takes_no_chunk_of_a_base_whose_contents_are_in_another_table(
    spot: KnowledgeSpot,
) -> None:
    """Two databases on one knowledge connection (the same SQLite file, or the same PostgreSQL
    URL in another schema), each with its own contents table: the one dropped and made again
    takes the chunks of its own bases' contents gone, none of the other's, whose contents are there."""
    if spot.kind == "sqlite":
        fields = {"path": str(sqlite_path(spot.database, spot.data_dir)), "tables": {"knowledge": "other_knowledge"}}
    else:
        fields = {"db_schema": unique_name("knowledge")}
    other_database = DatabaseConfig.model_validate({**spot.database.model_dump(), "id": "other", **fields})
    other = KnowledgeSpot(spot.kind, other_database, spot.environ, spot.data_dir)
    try:
        docs, faq = await spot.open("docs"), await other.open("faq")
        await contents_dropped_and_made_again(spot, docs, faq)

        assert await found(docs, "vacation days") == [] and await docs.counts() == (0, 0)
        assert await found(faq, "vacation days") == ["f1"] and await faq.counts() == (1, 1)
    finally:
        for store in other.opened:
            await store.close()
        if spot.kind == "postgres":
            await drop_schema(other.schema)


async def test_a_closed_bases_cleanup_failing_when_it_opens_changes_nothing_and_its_next_opening_does_it(
    spot: KnowledgeSpot,
) -> None:
    """Deleting the orphans a base owes and recording that it owes none commit together: an
    opening failing between the two leaves it owing them, so the next opening deletes them."""
    docs, faq = await spot.open("docs"), await spot.open("faq")
    await completed(faq, "f1", "vacation days", base="faq")
    await faq.close()
    await contents_dropped_and_made_again_by(spot, docs)

    async with deletes_failing(spot, "knowledge_faq"):
        # The trigger's error: a constraint's on SQLite (the data refused), a server's on PostgreSQL.
        with pytest.raises((StorageUnavailable, UnstorableData)) as opening:
            await spot.open("faq")
    faq_again = await spot.open("faq")

    assert "disk I/O error" in opening.value.detail
    assert await found(faq_again, "vacation days") == [] and await faq_again.counts() == (0, 0)


@pytest.mark.parametrize(
    ("vector_index", "filters", "limit"),
    [("hnsw", None, 5), ("hnsw", {"topic": "leave"}, 5), ("none", None, 5), ("none", {"topic": "leave"}, 5000)],
    ids=["index", "index-filtered", "exact", "exact-filtered-past-sqlite-vecs-k"],
)
async def test_a_search_while_the_contents_table_is_missing_fails_and_starts_its_repair_finding_no_chunk_of_it(
    spot: KnowledgeSpot, vector_index: str, filters: dict[str, str] | None, limit: int
) -> None:
    """Every way a search runs names the contents table: none finds a chunk while it is missing."""
    store = await spot.open(vector_index=vector_index)
    await completed(store, "c1", "vacation days")
    await drop_knowledge_tables(spot, "agno_knowledge")

    with pytest.raises(StorageUnavailable) as searching:
        await store.search(fake_embedding("vacation days", KNOWLEDGE_DIMENSIONS), limit=limit, filters=filters)
    await repair_of(store).settled()

    assert "agno_knowledge" in searching.value.detail and searching.value.detail.endswith(BEING_CREATED_AGAIN)
    assert await found(store, "vacation days") == [] and await store.counts() == (0, 0)


async def test_a_dropped_chunk_table_is_created_again_with_the_bases_dimensions_and_takes_new_chunks(
    spot: KnowledgeSpot,
) -> None:
    store = await spot.open(vector_index="hnsw")
    await completed(store, "c1", "vacation days")
    await drop_knowledge_tables(spot, "knowledge_docs")

    with pytest.raises(StorageUnavailable) as searching:
        await found(store, "vacation days")
    await repair_of(store).settled()
    after_repair = await found(store, "vacation days")
    await completed(store, "c2", "expense reports")
    contents, chunks = await store.counts()

    assert "knowledge_docs" in searching.value.detail and searching.value.detail.endswith(BEING_CREATED_AGAIN)
    assert after_repair == [] and await found(store, "expense reports") == ["c2"]
    assert (contents, chunks) == (2, 1)  # the contents table was left as it was
    if spot.kind == "postgres":
        assert await embedding_dimensions(spot.schema, "knowledge_docs") == KNOWLEDGE_DIMENSIONS
        assert "knowledge_docs_hnsw_index" in await index_names(spot.schema, "knowledge_docs")


async def embedding_dimensions(schema: str, table: str) -> int:
    async with await psycopg.AsyncConnection.connect(pgvector_url()) as admin:
        cursor = await admin.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'embedding'",
            (f'"{schema}"."{table}"',),
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def index_names(schema: str, table: str) -> set[str]:
    async with await psycopg.AsyncConnection.connect(pgvector_url()) as admin:
        cursor = await admin.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s", (schema, table)
        )
        return {str(row[0]) for row in await cursor.fetchall()}


async def test_a_dropped_sqlite_vector_table_is_made_again_and_the_chunks_it_leaves_unfindable_go_with_it(
    tmp_path: Path,
) -> None:
    spot = KnowledgeSpot("sqlite", DatabaseConfig(id="main", type="sqlite"), {}, tmp_path)
    store = await spot.open()
    try:
        await completed(store, "c1", "vacation days")
        await drop_knowledge_tables(spot, "knowledge_docs__vectors")

        with pytest.raises(StorageUnavailable) as searching:
            await found(store, "vacation days")
        await repair_of(store).settled()
        counted = await store.counts()
        await completed(store, "c2", "expense reports")
        after = await found(store, "expense reports")
    finally:
        await store.close()

    assert "no such table: " in searching.value.detail and "knowledge_docs__vectors" in searching.value.detail
    assert counted == (1, 0) and after == ["c2"]


async def test_a_dropped_postgres_schema_of_the_knowledge_is_created_again_with_its_tables(tmp_path: Path) -> None:
    name = unique_name("repair")
    database = DatabaseConfig.model_validate({"id": "main", "type": "postgres", "db_schema": name})
    spot = KnowledgeSpot("postgres", database, {"DATABASE_URL": pgvector_url()}, tmp_path)
    store = await spot.open()
    try:
        await completed(store, "c1", "vacation days")
        await drop_schema(name)

        with pytest.raises(StorageUnavailable) as listing:
            await store.list_contents(page=1, limit=10)
        await repair_of(store).settled()
        await completed(store, "c2", "expense reports")
        listed, _ = await store.list_contents(page=1, limit=10)
        after = await found(store, "expense reports")
    finally:
        await store.close()
        await drop_schema(name)

    assert listing.value.detail.endswith(BEING_CREATED_AGAIN) and "postgres" not in listing.value.detail.lower()
    assert [content.id for content in listed] == ["c2"] and after == ["c2"]


async def test_one_repair_creates_the_tables_of_every_base_of_the_database_whichever_found_them_missing(
    spot: KnowledgeSpot, caplog: pytest.LogCaptureFixture
) -> None:
    docs, faq = await spot.open("docs"), await spot.open("faq")
    await drop_knowledge_tables(spot, "agno_knowledge", "knowledge_docs", "knowledge_faq")

    with pytest.raises(StorageUnavailable):
        await docs.get_content("c1")
    await repair_of(docs).settled()
    faq_found = await found(faq, "vacation days")  # faq never found its table missing
    await faq.add_content(knowledge_content("f1", "faq"))

    assert repair_of(docs) is repair_of(faq) and faq_found == []
    assert [record.getMessage() for record in caplog.records if record.name == "agentos_runtime.storage"] == [
        "database 'main': knowledge tables of the runtime were missing and were created again, empty"
    ]


class PreparedStore:
    """A store whose ``prepare`` is counted and fails with ``failure`` when given one."""

    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.prepared = 0

    async def prepare(self) -> None:
        self.prepared += 1
        if self.failure is not None:
            raise self.failure


class NoExecutor:
    on_missing_tables: Callable[[], None] | None = None

    async def close(self) -> None:
        return None


async def test_a_base_whose_tables_cannot_be_made_again_is_logged_and_the_other_bases_are_made_all_the_same(
    caplog: pytest.LogCaptureFixture,
) -> None:
    connection = KnowledgeConnection(cast(Executor, NoExecutor()), db_id="main")
    refused = IncompatibleStore("knowledge base 'docs': table 'knowledge_docs' holds embeddings of 8 dimensions")
    broken, sound = PreparedStore(refused), PreparedStore()
    connection.stores.extend(cast(list[KnowledgeStore], [broken, sound]))

    assert connection.executor.on_missing_tables is not None
    connection.executor.on_missing_tables()
    await connection.repair.settled()

    assert (broken.prepared, sound.prepared) == (1, 1)
    assert [record.getMessage() for record in caplog.records] == [
        "database 'main': creating its missing knowledge tables again failed: "
        "knowledge base 'docs': table 'knowledge_docs' holds embeddings of 8 dimensions"
    ]


# --- knowledge over HTTP, through the app ------------------------------------------------------


def served_spot(served: Served, backend: str, data_dir: Path) -> KnowledgeSpot:
    """The knowledge of the app's one database, for ``drop_knowledge_tables``."""
    (opened,) = served.context.databases.values()
    return KnowledgeSpot("sqlite" if backend == "sqlite" else "postgres", opened.config, {}, data_dir)


def served_repair(served: Served, base_id: str) -> SchemaRepair:
    assert served.context.knowledge is not None
    return repair_of(served.context.knowledge[base_id].store)


@pytest.mark.parametrize("backend", KNOWLEDGE_BACKENDS)
async def test_every_knowledge_route_finding_its_tables_dropped_answers_503_and_the_next_call_works(
    backend: str,
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
) -> None:
    config = knowledge_config(fake_openai.base_url, {"id": "docs"})
    async with serve_knowledge(backend, config, tmp_path) as served:
        assert served.context.knowledge is not None
        base, client = served.context.knowledge["docs"], served.client
        spot = served_spot(served, backend, tmp_path)
        uploaded = await client.post("/knowledge/content", data={"text_content": VACATION})
        await base.wait_idle()
        content_id = uploaded.json()["id"]
        calls = {
            "upload": lambda: client.post("/knowledge/content", data={"text_content": LAPTOPS}),
            "list": lambda: client.get("/knowledge/content"),
            "get": lambda: client.get(f"/knowledge/content/{content_id}"),
            "delete": lambda: client.delete(f"/knowledge/content/{content_id}"),
            "search": lambda: client.post("/knowledge/search", json={"query": "vacation days"}),
        }
        refused: dict[str, tuple[int, str]] = {}
        answered: dict[str, int] = {}
        for route, call in calls.items():
            await drop_knowledge_tables(spot, "agno_knowledge", "knowledge_docs")
            failing = await call()
            refused[route] = (failing.status_code, failing.json()["detail"])
            await served_repair(served, "docs").settled()
            answered[route] = (await call()).status_code
            await base.wait_idle()
        await calls["upload"]()
        await base.wait_idle()
        found = await client.post("/knowledge/search", json={"query": "laptop replacement"})

    assert {route: status for route, (status, _) in refused.items()} == dict.fromkeys(calls, 503)
    for route, (_, detail) in refused.items():
        assert detail.startswith(f"database '{spot.database.id}' refused the operation ("), route
        assert detail.endswith(BEING_CREATED_AGAIN) and "@" not in detail, route
    # What was dropped is gone (get and delete: 404); what is added after is kept and found.
    assert answered == {"upload": 202, "list": 200, "get": 404, "delete": 404, "search": 200}
    assert [hit["content"] for hit in found.json()["data"]] == [LAPTOPS]


def helpdesk_config(model_url: str) -> str:
    return knowledge_config(model_url, {"id": "handbook"}, agents=[{"id": "helpdesk", "knowledge": "handbook"}])


@pytest.mark.parametrize("backend", KNOWLEDGE_BACKENDS)
async def test_a_run_whose_search_finds_the_knowledge_tables_dropped_completes_and_the_next_run_finds_new_chunks(
    backend: str,
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
) -> None:
    async with serve_knowledge(backend, helpdesk_config(fake_openai.base_url), tmp_path) as served:
        assert served.context.knowledge is not None
        handbook, client = served.context.knowledge["handbook"], served.client
        await handbook.add(Upload(name="vacation.md", text=VACATION))
        await handbook.wait_idle()
        fake_openai.script(Reply.call(search_call("vacation")), Reply.say("25 days."))
        run = {"message": "Vacation?", "session_id": "s-1"}
        first = await client.post("/agents/helpdesk/runs", data={**run, "stream": "false"})
        await drop_knowledge_tables(served_spot(served, backend, tmp_path), "agno_knowledge", "knowledge_handbook")

        fake_openai.script(Reply.call(search_call("vacation")), Reply.say("I cannot search the handbook now."))
        async with client.stream("POST", "/agents/helpdesk/runs", data=run) as streamed:
            frames = [frame async for frame in read_frames(streamed)]
        await served_repair(served, "handbook").settled()
        await handbook.add(Upload(name="laptops.md", text=LAPTOPS))
        await handbook.wait_idle()
        fake_openai.script(Reply.call(search_call("laptop replacement")), Reply.say("IT orders it."))
        third = await client.post("/agents/helpdesk/runs", data={**run, "stream": "false"})
        stored = await client.get("/sessions/s-1/runs", params={"type": "agent"})

    assert first.status_code == 200 and first.json()["status"] == "COMPLETED"
    names = [frame.event for frame in frames]
    assert streamed.status_code == 200 and names[-1] == "RunCompleted" and "RunError" not in names
    tool = frames[names.index("ToolCallCompleted")].data["tool"]
    assert tool["tool_call_error"] is True
    assert tool["result"].startswith("Error: KnowledgeSearchError: knowledge base 'handbook' could not be searched: ")
    assert tool["result"].endswith(BEING_CREATED_AGAIN)
    assert third.status_code == 200 and third.json()["status"] == "COMPLETED"
    assert [found["content"] for found in third.json()["references"][0]["references"]] == [LAPTOPS]
    # The session lives in the runtime's own tables: every run of it is kept.
    assert stored.status_code == 200 and len(stored.json()) == 3


async def test_a_schema_dropped_under_the_app_is_made_again_by_the_runtimes_and_the_knowledge_repair_together(
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
) -> None:
    """The two repairs run at once and take turns on the schema's lock: neither fails on the
    schema the other created, so the next calls of both work."""
    async with serve_knowledge("pgvector", knowledge_config(fake_openai.base_url, {"id": "docs"}), tmp_path) as served:
        await drop_schema(served_spot(served, "pgvector", tmp_path).schema)
        refused = await asyncio.gather(served.client.get("/knowledge/content"), served.client.get("/sessions"))
        runtime_repair = served.database().repair  # type: ignore[attr-defined]  # the watched SqlDatabase's
        assert isinstance(runtime_repair, SchemaRepair)
        await asyncio.gather(served_repair(served, "docs").settled(), runtime_repair.settled())
        answered = await asyncio.gather(served.client.get("/knowledge/content"), served.client.get("/sessions"))

    assert [response.status_code for response in refused] == [503, 503]
    assert all(response.json()["detail"].endswith(BEING_CREATED_AGAIN) for response in refused)
    assert [response.status_code for response in answered] == [200, 200]
