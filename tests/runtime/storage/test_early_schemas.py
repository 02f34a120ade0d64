"""PostgreSQL tables checked in a thread while the runtime imports, then opened with that answer."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.early import EarlySchemas
from agentos_runtime.storage.factory import open_database
from agentos_runtime.storage.ports import SessionRow

from tests.runtime.storage.test_sql_agno2_sessions import add_agno2_session, run_ids
from tests.runtime.storage.test_store_failures import at_port, closed_port
from tests.support.databases import IsolatedStorage, isolated_storage, postgres_url


def started(storage: IsolatedStorage, environ: dict[str, str] | None = None) -> EarlySchemas:
    early = EarlySchemas.start([storage.config], storage.environ if environ is None else environ)
    assert early is not None
    return early


def tables_in(schema: str) -> set[str]:
    with psycopg.connect(postgres_url()) as connection:
        rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()
    return {row[0] for row in rows}


async def test_the_early_check_creates_the_tables_before_anything_opens_them(tmp_path: Path) -> None:
    async with isolated_storage("postgres", tmp_path) as storage:
        early = started(storage)

        assert await early.take(storage.config.id) is False  # a new schema: no Agno 2 `runs` column

        assert {"agno_sessions", "agno_memories", "agno_schema_versions"} <= tables_in(storage.config.db_schema)


async def test_the_database_opened_with_the_early_answer_stores_and_reads_sessions(tmp_path: Path) -> None:
    async with isolated_storage("postgres", tmp_path) as storage:
        early = started(storage)
        database = await open_database(storage.config, environ=storage.environ, data_dir=tmp_path, early=early)
        storage.opened.append(database)

        await database.sessions.upsert_session(SessionRow(session_id="s1", session_type="agent", created_at=1))

        stored = await database.sessions.get_session("s1")
        assert stored is not None and stored.session_id == "s1"


async def test_an_agno2_schema_found_early_is_opened_as_agno2s(tmp_path: Path) -> None:
    async with isolated_storage("postgres", tmp_path) as storage:
        await add_agno2_session(storage)
        early = started(storage)

        database = await open_database(storage.config, environ=storage.environ, data_dir=tmp_path, early=early)
        storage.opened.append(database)

        assert run_ids(await database.sessions.get_session("s1")) == [("r1", "one"), ("r2", "two")]


async def test_a_server_the_check_could_not_reach_fails_the_first_open_only(tmp_path: Path) -> None:
    async with isolated_storage("postgres", tmp_path) as storage:
        unreachable = at_port(postgres_url(), closed_port(), password="hunter2")
        early = started(storage, {"DATABASE_URL": unreachable})

        with pytest.raises(StorageUnavailable) as caught:
            await open_database(storage.config, environ=storage.environ, data_dir=tmp_path, early=early)
        assert f"database '{storage.config.id}' is unavailable" in caught.value.detail
        assert "hunter2" not in caught.value.detail

        # The answer is taken once: the retry on use asks the server itself, which answers now.
        database = await open_database(storage.config, environ=storage.environ, data_dir=tmp_path, early=early)
        storage.opened.append(database)
        await database.ping()


async def test_a_missing_url_variable_is_reported_by_name(tmp_path: Path) -> None:
    async with isolated_storage("postgres", tmp_path) as storage:
        early = started(storage, {})

        with pytest.raises(StorageUnavailable, match="environment variable DATABASE_URL is not set"):
            await open_database(storage.config, environ={}, data_dir=tmp_path, early=early)


def test_only_postgresql_databases_are_checked_early() -> None:
    others = [
        DatabaseConfig.model_validate({"id": "embedded", "type": "sqlite"}),
        DatabaseConfig.model_validate({"id": "cache", "type": "redis"}),
    ]
    assert EarlySchemas.start(others, {"REDIS_URL": "redis://127.0.0.1:6379/0"}) is None
