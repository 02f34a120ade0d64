"""PostgreSQL behind PgBouncer in transaction mode (``scripts/services.sh`` runs one on 6432), as
platforms put it in front of their databases: it refuses the server-side timeouts the runtime
sends when connecting, and hands each transaction whichever server connection is free, where a
statement prepared on another does not exist. The error says to set ``behind_pooler``; with it,
every store works through the pooler, again and again and at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from agentos_runtime.config import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.factory import open_database
from agentos_runtime.storage.ports import MemoryQuery, MemoryRow, SessionRow
from agentos_runtime.storage.sql.executing import refused_by_server
from agentos_runtime.storage.sql.postgres_executor import PoolSettings, connection_options

from tests.support.databases import drop_postgres_schema, pgbouncer_url, unique_name

ADVICE = "set behind_pooler: true (behindPooler in an AgentOSConfig) on this database"


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name = unique_name("pooled")
    yield name
    await drop_postgres_schema(name)


def config(schema: str, **fields: object) -> DatabaseConfig:
    return DatabaseConfig.model_validate({"id": "pooled", "type": "postgres", "db_schema": schema, **fields})


def new_session(session_id: str) -> SessionRow:
    return SessionRow(session_id=session_id, session_type="agent", created_at=1_000, agent_id="assistant")


async def test_pgbouncer_refusing_the_server_timeouts_fails_the_opening_saying_to_set_behind_pooler(
    schema: str, tmp_path: Path
) -> None:
    with pytest.raises(StorageUnavailable) as opening:
        await open_database(config(schema), environ={"DATABASE_URL": pgbouncer_url()}, data_dir=tmp_path)

    assert opening.value.detail.startswith("database 'pooled' is unavailable: ")
    assert "unsupported startup parameter: options" in opening.value.detail
    assert "6432" not in opening.value.detail and "127.0.0.1" not in opening.value.detail
    assert opening.value.detail.endswith(
        f": a connection pooler refused the server-side timeouts sent when connecting: {ADVICE}"
    )


async def test_behind_pooler_every_store_works_through_pgbouncer_again_and_again_and_at_once(
    schema: str, tmp_path: Path
) -> None:
    database = await open_database(
        config(schema, behind_pooler=True), environ={"DATABASE_URL": pgbouncer_url()}, data_dir=tmp_path
    )
    try:
        # Past psycopg's threshold (5 uses) for preparing a statement, one after the other ...
        for n in range(12):
            await database.sessions.save_run(new_session(f"s{n}"), {"run_id": f"r{n}"}, session_state=None)
            await database.memories.upsert_memory(MemoryRow(memory_id=f"m{n}", memory="likes tea", user_id="ana"))
        # ... and at once, round after round, so that connections which prepared their statements
        # get whichever server connection is free.
        for _ in range(8):
            stored = await asyncio.gather(*(database.sessions.get_session(f"s{n}") for n in range(12)))
            listed = await asyncio.gather(*(database.memories.list_memories(MemoryQuery()) for _ in range(12)))
    finally:
        await database.close()

    assert [[run["run_id"] for run in s.runs or []] if s else None for s in stored] == [[f"r{n}"] for n in range(12)]
    assert {listing.total for listing in listed} == {12}


async def test_a_prepared_statement_lost_by_a_pooler_says_to_set_behind_pooler() -> None:
    # Prepared on one server connection, run on another: what a transaction pooler makes of it.
    async with await psycopg.AsyncConnection.connect(pgbouncer_url(), autocommit=True) as connection:
        with pytest.raises(psycopg.errors.InvalidSqlStatementName) as lost:
            await connection.execute("EXECUTE never_prepared")

    refusal = refused_by_server("pooled", lost.value)

    assert refusal is not None
    assert refusal.detail == (
        "database 'pooled' refused the operation (prepared statement \"never_prepared\" does not exist): "
        "a prepared statement was lost: a connection pooler in transaction mode (PgBouncer) sits between the "
        f"runtime and the server: {ADVICE}"
    )


def test_behind_a_pooler_no_server_timeouts_are_sent_and_nothing_is_prepared() -> None:
    url = "postgresql://u@db:5432/app?options=-c%20search_path%3Dagents"

    direct = connection_options(PoolSettings(timeout=2.5), url)
    pooled = connection_options(PoolSettings(timeout=2.5, behind_pooler=True), url)

    assert direct["options"] == (
        "-c statement_timeout=2500 -c lock_timeout=2250 -c idle_in_transaction_session_timeout=2500 "
        "-c search_path=agents"
    )
    assert "prepare_threshold" not in direct
    assert "options" not in pooled and pooled["prepare_threshold"] is None and pooled["connect_timeout"] == 3


def test_pgoptions_from_the_environment_still_apply_after_the_server_timeouts_unless_the_url_sets_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGOPTIONS", "-c application_name=agents")

    plain = connection_options(PoolSettings(timeout=1), "postgresql://u@db:5432/app")["options"]
    with_url_options = connection_options(
        PoolSettings(timeout=1), "postgresql://u@db:5432/app?options=-c%20search_path%3Dagents"
    )["options"]

    assert plain.endswith(" -c application_name=agents") and plain.startswith("-c statement_timeout=1000 ")
    assert with_url_options.endswith(" -c search_path=agents") and "application_name" not in with_url_options
