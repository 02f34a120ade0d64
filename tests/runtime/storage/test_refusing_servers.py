"""A server that is up but refuses: after a failover (a read-only standby or replica), out of
memory, a table dropped under the runtime. Each refusal is ``StorageUnavailable`` naming the
database, what the server said and what to do, never a driver error; nothing is written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.factory import open_database
from agentos_runtime.storage.ports import Database, MemoryQuery, MemoryRow, SessionRow
from agentos_runtime.storage.sql.database import SqlDatabase

from tests.support.databases import drop_postgres_schema, postgres_url, storage_config, unique_name


def new_session(session_id: str) -> SessionRow:
    return SessionRow(session_id=session_id, session_type="agent", created_at=1_000, agent_id="assistant")


def memory(memory_id: str) -> MemoryRow:
    return MemoryRow(memory_id=memory_id, memory="likes tea", user_id="ana")


def with_options(url: str, options: str) -> str:
    """``url`` whose connections start with ``options`` (libpq's ``-c setting=value``)."""
    return f"{url}{'&' if '?' in url else '?'}options={quote(options)}"


@pytest.fixture
async def schema(tmp_path: Path) -> AsyncIterator[str]:
    """A PostgreSQL schema whose tables the runtime made, with one session stored."""
    name = unique_name("refusing")
    database = await open_database(
        storage_config("postgres", name=name), environ={"DATABASE_URL": postgres_url()}, data_dir=tmp_path
    )
    try:
        await database.sessions.save_run(
            new_session("s1"), {"run_id": "r1", "agent_id": "assistant"}, session_state=None
        )
    finally:
        await database.close()
    yield name
    await drop_postgres_schema(name)


async def open_schema(name: str, url: str, tmp_path: Path) -> Database:
    return await open_database(storage_config("postgres", name=name), environ={"DATABASE_URL": url}, data_dir=tmp_path)


async def test_a_read_only_postgres_refuses_every_write_saying_to_use_the_primary(schema: str, tmp_path: Path) -> None:
    database = await open_schema(schema, with_options(postgres_url(), "-c default_transaction_read_only=on"), tmp_path)
    try:
        with pytest.raises(StorageUnavailable) as saving:
            await database.sessions.save_run(new_session("s1"), {"run_id": "r2"}, session_state=None)
        with pytest.raises(StorageUnavailable) as creating:
            await database.sessions.create_session(new_session("s2"))
        with pytest.raises(StorageUnavailable) as remembering:
            await database.memories.upsert_memory(memory("m1"))

        stored = await database.sessions.get_session("s1")
        memories = await database.memories.list_memories(MemoryQuery())
    finally:
        await database.close()

    for refused in (saving, creating, remembering):
        assert refused.value.detail.startswith(f"database '{database.id}' refused the operation (cannot execute ")
        assert "read-only" in refused.value.detail and "point the database's URL at the primary" in refused.value.detail
    assert stored is not None and [run["run_id"] for run in stored.runs or []] == ["r1"]
    assert memories.total == 0


async def test_a_table_dropped_under_the_runtime_fails_the_call_and_is_created_again_for_the_next(
    schema: str, tmp_path: Path
) -> None:
    database = await open_schema(schema, postgres_url(), tmp_path)
    assert isinstance(database, SqlDatabase) and database.repair is not None
    try:
        async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as admin:
            await admin.execute(f'DROP TABLE "{schema}".agno_memories')
            await admin.execute(f'DROP TABLE "{schema}".agno_sessions CASCADE')

        with pytest.raises(StorageUnavailable) as reading:
            await database.sessions.get_session("s1")
        await database.repair.settled()
        after = await database.sessions.get_session("s1")
        saved = await database.sessions.save_run(new_session("s2"), {"run_id": "r2"}, session_state=None)
        memories = await database.memories.list_memories(MemoryQuery())
    finally:
        await database.close()

    assert reading.value.detail == (
        f"database '{database.id}' refused the operation (relation \"{schema}.agno_sessions\" does not exist): "
        "a table of the runtime is missing: it is being created again, empty: try again"
    )
    assert after is None and saved.session_id == "s2" and memories.total == 0


async def test_a_table_of_the_listings_stores_found_missing_is_created_again_too(schema: str, tmp_path: Path) -> None:
    database = await open_schema(schema, postgres_url(), tmp_path)
    assert isinstance(database, SqlDatabase) and database.repair is not None
    try:
        async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as admin:
            await admin.execute(f'DROP TABLE "{schema}".agno_memories')

        with pytest.raises(StorageUnavailable) as listing:
            await database.memories.list_memories(MemoryQuery())
        await database.repair.settled()
        await database.memories.upsert_memory(memory("m1"))
        memories = await database.memories.list_memories(MemoryQuery())
    finally:
        await database.close()

    assert 'agno_memories" does not exist' in listing.value.detail and "being created again" in listing.value.detail
    assert [row.memory_id for row in memories.items] == ["m1"]


async def test_a_schema_dropped_under_the_runtime_is_created_again_for_the_next_call(
    schema: str, tmp_path: Path
) -> None:
    database = await open_schema(schema, postgres_url(), tmp_path)
    assert isinstance(database, SqlDatabase) and database.repair is not None
    try:
        await drop_postgres_schema(schema)

        with pytest.raises(StorageUnavailable) as saving:
            await database.sessions.save_run(new_session("s2"), {"run_id": "r2"}, session_state=None)
        await database.repair.settled()
        await database.sessions.save_run(new_session("s2"), {"run_id": "r2"}, session_state=None)
        saved = await database.sessions.get_session("s2")
    finally:
        await database.close()

    assert "is missing: it is being created again, empty: try again" in saving.value.detail
    assert saved is not None and [run["run_id"] for run in saved.runs or []] == ["r2"]


async def test_a_column_renamed_under_the_runtime_is_unavailable_and_the_statement_never_quoted(
    schema: str, tmp_path: Path
) -> None:
    database = await open_schema(schema, postgres_url(), tmp_path)
    try:
        async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as admin:
            await admin.execute(f'ALTER TABLE "{schema}".agno_runs RENAME COLUMN status TO old_status')

        with pytest.raises(StorageUnavailable) as saving:
            await database.sessions.save_run(new_session("s1"), {"run_id": "r2"}, session_state=None)
    finally:
        await database.close()

    assert "column" in saving.value.detail and "restore the table as the runtime made it" in saving.value.detail
    assert "INSERT" not in saving.value.detail and "LINE" not in saving.value.detail


async def test_a_read_only_postgres_is_not_ready_saying_to_use_the_primary(schema: str, tmp_path: Path) -> None:
    database = await open_schema(schema, with_options(postgres_url(), "-c default_transaction_read_only=on"), tmp_path)
    try:
        with pytest.raises(StorageUnavailable) as pinging:
            await database.ping()
    finally:
        await database.close()

    assert pinging.value.detail == (
        f"database '{database.id}' takes no writes: the server is read-only (a standby, as after a failover, "
        "or default_transaction_read_only is on): point the database's URL at the primary"
    )


async def test_a_writable_postgres_is_ready(schema: str, tmp_path: Path) -> None:
    database = await open_schema(schema, postgres_url(), tmp_path)
    try:
        await database.ping()
    finally:
        await database.close()
