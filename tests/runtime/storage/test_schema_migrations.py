"""Schema migrations: a database made by the previous schema, or by Agno, is brought to the
current one on open (its rows kept, Agno still reading it); replicas migrating together all
succeed; a migration that fails changes nothing; a current database is opened with reads only."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.factory import sqlite_path
from agentos_runtime.storage.ports import Database, RecentRuns, SessionRow
from agentos_runtime.storage.sql.executing import Executor, Rows, Step
from agentos_runtime.storage.sql.migrations import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Found,
    Migration,
    add_column,
    plan,
)
from agentos_runtime.storage.sql.postgres_executor import PostgresExecutor
from agentos_runtime.storage.sql.schema import ensure_schema
from agentos_runtime.storage.sql.sqlite_executor import SqliteExecutor
from agentos_runtime.storage.sql.statements import SqlText, Statement, quote
from sqlalchemy import create_engine

from tests.runtime.storage.test_agno_compatibility import agno_db, agno_run
from tests.runtime.storage.test_generated_sql import describe
from tests.support.databases import IsolatedStorage, isolated_storage, postgres_url

V1_DDL = json.loads((Path(__file__).parent / "data" / "schema_v1.json").read_text())["dialects"]
DATA_TABLES = ("agno_sessions", "agno_runs", "agno_memories", "agno_metrics", "agno_eval_runs")
USER_INDEX = "idx_agno_sessions_user_id"
_PLACEHOLDER = re.compile(r"@@(\w*)\|(\w+)\|(\w*)@@")
DEFAULT_NAMES = {"sessions": "agno_sessions", "memories": "agno_memories", "metrics": "agno_metrics"}
DEFAULT_NAMES["evals"] = "agno_eval_runs"


@pytest.fixture(params=["sqlite", "postgres"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[IsolatedStorage]:
    async with isolated_storage(request.param, tmp_path) as isolated:
        yield isolated


def dialect(storage: IsolatedStorage) -> str:
    return "postgresql" if storage.kind == "postgres" else "sqlite"


def schema_of(storage: IsolatedStorage) -> str | None:
    return storage.config.db_schema if storage.kind == "postgres" else None


def database_file(storage: IsolatedStorage) -> Path:
    path = sqlite_path(storage.config, storage.data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


async def run_sql(storage: IsolatedStorage, statements: Sequence[str]) -> list[Any]:
    """Run ``statements`` in one transaction outside the runtime; the last one's rows."""
    if storage.kind == "sqlite":
        with sqlite3.connect(database_file(storage)) as connection:
            rows: list[Any] = []
            for statement in statements:
                rows = connection.execute(statement).fetchall()
            return rows
    async with await psycopg.AsyncConnection.connect(postgres_url()) as connection:
        rows = []
        for statement in statements:
            cursor = await connection.execute(statement)
            rows = await cursor.fetchall() if cursor.description else []
        return rows


def v1_ddl(storage: IsolatedStorage) -> list[str]:
    """The previous schema's DDL, kept as it was, for this database's names."""
    names = {**DEFAULT_NAMES, "schema": schema_of(storage) or ""}

    def render(match: re.Match[str]) -> str:
        return quote(match[1] + names[match[2]] + match[3])

    statements = [f"CREATE SCHEMA {quote(names['schema'])}"] if storage.kind == "postgres" else []
    for _, creating in V1_DDL[dialect(storage)]:
        statements.extend(_PLACEHOLDER.sub(render, sql) for sql in creating)
    return statements


def table(storage: IsolatedStorage, name: str) -> str:
    schema = schema_of(storage)
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


async def make_v1_database(storage: IsolatedStorage) -> None:
    """A database as the previous runtime left it: its tables, Agno's stamps, a session with a run."""
    stamps = ", ".join(f"('{name}', '3.0.0', '2026-01-01', '2026-01-01')" for name in DATA_TABLES)
    await run_sql(
        storage,
        [
            *v1_ddl(storage),
            f"INSERT INTO {table(storage, 'agno_schema_versions')} VALUES {stamps}",
            f"INSERT INTO {table(storage, 'agno_sessions')} (session_id, session_type, agent_id, user_id, created_at)"
            " VALUES ('s1', 'agent', 'assistant', 'ana', 1000)",
            f"INSERT INTO {table(storage, 'agno_runs')} (run_id, session_id, run_type, run_index, run_data, created_at)"
            """ VALUES ('r1', 's1', 'agent', 0, '{"run_id": "r1", "content": "kept"}', 1000)""",
        ],
    )


async def indexes(storage: IsolatedStorage, table_name: str) -> set[str]:
    if storage.kind == "sqlite":
        rows = await run_sql(storage, [f"SELECT name FROM pragma_index_list('{table_name}')"])
    else:
        rows = await run_sql(
            storage,
            [
                f"SELECT indexname FROM pg_indexes WHERE schemaname = '{schema_of(storage)}'"
                f" AND tablename = '{table_name}'"
            ],
        )
    return {row[0] for row in rows}


async def our_versions(storage: IsolatedStorage) -> dict[str, int]:
    rows = await run_sql(storage, [f"SELECT table_name, version FROM {table(storage, 'agentos_schema_versions')}"])
    return {name: int(version) for name, version in rows}


def shape(storage: IsolatedStorage) -> dict[str, Any]:
    """Every table as the database describes it (columns, keys, indexes)."""
    url = (
        f"sqlite:///{database_file(storage)}"
        if storage.kind == "sqlite"
        else postgres_url().replace("postgresql://", "postgresql+psycopg://", 1)
    )
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return describe(connection, schema_of(storage))
    finally:
        engine.dispose()


def executor_for(storage: IsolatedStorage) -> Executor:
    if storage.kind == "sqlite":
        return SqliteExecutor(database_file(storage), db_id=storage.config.id)
    return PostgresExecutor(postgres_url(), db_id=storage.config.id)


async def migrate(storage: IsolatedStorage, migrations: Sequence[Migration]) -> None:
    """What opening does to the schema, with ``migrations`` instead of the runtime's."""
    executor = executor_for(storage)
    text = SqlText(dialect(storage), storage.config.tables, schema=schema_of(storage))
    try:
        await ensure_schema(
            executor,
            text,
            schema=schema_of(storage),
            sessions_table="agno_sessions",
            db_id=storage.config.id,
            migrations=migrations,
        )
    finally:
        await executor.close()


async def test_a_database_of_the_previous_schema_gains_the_new_index_and_keeps_its_rows(
    storage: IsolatedStorage, tmp_path: Path
) -> None:
    await make_v1_database(storage)
    assert USER_INDEX not in await indexes(storage, "agno_sessions")

    database = await storage.open()

    assert USER_INDEX in await indexes(storage, "agno_sessions")
    assert await our_versions(storage) == dict.fromkeys(DATA_TABLES, SCHEMA_VERSION)
    stored = await database.sessions.get_session("s1")
    assert stored is not None and stored.user_id == "ana"
    assert [run["content"] for run in stored.runs or []] == ["kept"]


def agno2_sqlite_session(session_id: str) -> str:
    """An INSERT of a session as Agno 2's ``SqliteDb`` stored it (and Agno's 3.0 migration left
    it): each JSON column holds its value's JSON text as a JSON string, the runs in the row."""
    name = {"session_name": "Old one", "session_state": {"k": 1}}
    runs = [{"run_id": "r0", "agent_id": "assistant", "content": "old answer"}]
    twice = [json.dumps(json.dumps(value)).replace("'", "''") for value in (name, runs, {"m": 1})]
    return (
        "INSERT INTO agno_sessions (session_id, session_type, agent_id, user_id, session_data, runs, metadata,"
        f" created_at) VALUES ('{session_id}', 'agent', 'assistant', 'ana', '{twice[0]}', '{twice[1]}', '{twice[2]}',"
        " 1000)"
    )


async def test_sqlite_sessions_agno_2_stored_as_json_text_keep_their_values_and_take_a_runs_state(
    tmp_path: Path,
) -> None:
    async with isolated_storage("sqlite", tmp_path) as storage:
        await make_v1_database(storage)
        await run_sql(storage, ["ALTER TABLE agno_sessions ADD COLUMN runs JSON", agno2_sqlite_session("old")])

        database = await storage.open()
        new = SessionRow(session_id="old", session_type="agent", created_at=1000, user_id="ana")
        await database.sessions.save_run(new, {"run_id": "r1", "agent_id": "assistant"}, session_state={"k": 2})
        stored = await database.sessions.get_session("old")

    assert stored is not None and stored.session_data == {"session_name": "Old one", "session_state": {"k": 2}}
    assert stored.metadata == {"m": 1}
    assert [run["run_id"] for run in stored.runs or []] == ["r0", "r1"]


async def test_a_sqlite_session_agno_2_writes_as_json_text_after_the_migration_is_read_with_its_values(
    tmp_path: Path,
) -> None:
    async with isolated_storage("sqlite", tmp_path) as storage:
        database = await storage.open()
        await run_sql(storage, ["ALTER TABLE agno_sessions ADD COLUMN runs JSON"])
        database = await storage.open()  # sees the runs column
        await run_sql(storage, [agno2_sqlite_session("late")])

        stored = await database.sessions.get_session("late", recent_runs=RecentRuns(limit=3))

    assert stored is not None and stored.session_data == {"session_name": "Old one", "session_state": {"k": 1}}
    assert [run["run_id"] for run in stored.runs or []] == ["r0"]


def agno_2_2_tables(storage: IsolatedStorage) -> list[str]:
    """The sessions and memories tables as Agno 2.2 made them (before its 2.3 and 3.0 migrations):
    JSON (not JSONB) on PostgreSQL, no ``created_at`` or ``feedback`` on memories."""
    json_type = "JSON" if storage.kind == "sqlite" else "json"
    json_columns = ", ".join(f"{name} {json_type}" for name in (*SESSION_JSON, "runs"))
    schema = [f"CREATE SCHEMA {quote(schema_of(storage) or '')}"] if storage.kind == "postgres" else []
    return [
        *schema,
        f"CREATE TABLE {table(storage, 'agno_sessions')} (session_id VARCHAR NOT NULL UNIQUE, session_type VARCHAR"
        f" NOT NULL, agent_id VARCHAR, team_id VARCHAR, workflow_id VARCHAR, user_id VARCHAR, {json_columns},"
        " created_at BIGINT NOT NULL, updated_at BIGINT)",
        f"CREATE TABLE {table(storage, 'agno_memories')} (memory_id VARCHAR NOT NULL PRIMARY KEY, memory {json_type}"
        f" NOT NULL, input VARCHAR, agent_id VARCHAR, team_id VARCHAR, user_id VARCHAR, topics {json_type},"
        " updated_at BIGINT)",
    ]


SESSION_JSON = ("session_data", "agent_data", "team_data", "workflow_data", "metadata", "summary")


async def test_tables_agno_2_left_unmigrated_are_refused_at_open_saying_what_they_lack_and_nothing_is_written(
    storage: IsolatedStorage,
) -> None:
    await run_sql(storage, agno_2_2_tables(storage))
    before = shape(storage)

    with pytest.raises(StorageUnavailable) as raised:
        await storage.open()

    message = str(raised.value)
    assert f"database '{storage.config.id}'" in message
    assert "table 'agno_memories' has no column feedback, created_at" in message
    assert "MigrationManager(db).up()" in message
    if storage.kind == "postgres":  # where a run's save failed: its state is set as JSONB
        assert f"table 'agno_sessions' has JSON, not JSONB, in {', '.join(SESSION_JSON)}" in message
    assert shape(storage) == before


async def test_an_upgraded_database_has_exactly_the_shape_of_a_new_one(storage: IsolatedStorage) -> None:
    await make_v1_database(storage)
    await storage.open()
    upgraded = shape(storage)

    async with isolated_storage(storage.kind, storage.data_dir.parent / "fresh") as fresh:
        await fresh.open()
        created = shape(fresh)

    assert upgraded == created


async def test_tables_agno_made_are_migrated_then_shared_both_ways(storage: IsolatedStorage) -> None:
    with agno_db(storage) as agno:
        agno.upsert_session(agno_session("s1", [agno_run(0)]))
        agno.upsert_run(agno_run(0), session_id="s1", user_id="ana", run_index=0)
    assert USER_INDEX not in await indexes(storage, "agno_sessions")

    database = await storage.open()
    ours = await database.sessions.get_session("s1")
    new = SessionRow(session_id="s1", session_type="agent", created_at=1_700_000_000, agent_id="assistant")
    await database.sessions.save_run(new, agno_run(1).to_dict(), session_state=None)

    assert USER_INDEX in await indexes(storage, "agno_sessions")
    assert await our_versions(storage) == dict.fromkeys(DATA_TABLES, SCHEMA_VERSION)
    assert ours is not None and [run["run_id"] for run in ours.runs or []] == ["run-0"]
    with agno_db(storage) as agno:
        from agno.db.base import SessionType

        seen = agno.get_session("s1", session_type=SessionType.AGENT)
        agno_versions = [agno.get_latest_schema_version(name) for name in ("agno_sessions", "agno_runs")]
    assert [run.run_id for run in seen.runs] == ["run-0", "run-1"]
    assert agno_versions == ["3.0.0", "3.0.0"]


def agno_session(session_id: str, runs: list[Any]) -> Any:
    from agno.session.agent import AgentSession

    return AgentSession(session_id=session_id, agent_id="assistant", user_id="ana", runs=runs, created_at=1_700_000_000)


async def test_replicas_opening_an_old_database_at_once_all_succeed_and_migrate_it_once(
    storage: IsolatedStorage,
) -> None:
    await make_v1_database(storage)

    opened: list[Database] = list(await asyncio.gather(*(storage.open() for _ in range(4))))

    assert len(opened) == 4
    assert USER_INDEX in await indexes(storage, "agno_sessions")
    assert await our_versions(storage) == dict.fromkeys(DATA_TABLES, SCHEMA_VERSION)
    for database in opened:
        assert await database.sessions.get_session("s1") is not None


async def test_replicas_adding_a_column_at_once_all_succeed_and_add_it_once(storage: IsolatedStorage) -> None:
    await make_v1_database(storage)

    await asyncio.gather(*(migrate(storage, [*MIGRATIONS, note_migration()]) for _ in range(4)))

    assert "note" in [column[0] for column in shape(storage)["agno_memories"]["columns"]]
    assert await our_versions(storage) == dict.fromkeys(DATA_TABLES, SCHEMA_VERSION + 1)


async def test_replicas_opening_an_empty_database_at_once_all_succeed(storage: IsolatedStorage) -> None:
    opened = await asyncio.gather(*(storage.open() for _ in range(4)))

    assert len(opened) == 4
    assert await our_versions(storage) == dict.fromkeys(DATA_TABLES, SCHEMA_VERSION)


def note_migration() -> Migration:
    """A column added to the memories (a migration that cannot be applied twice on SQLite)."""
    return Migration(
        version=SCHEMA_VERSION + 1,
        table="memories",
        description="a note on each memory",
        statements=add_column("memories", "note", {"sqlite": "VARCHAR", "postgresql": "VARCHAR"}),
    )


def failing_migration() -> Migration:
    """A column added, then a statement the database refuses, in one migration."""

    def statements(text: SqlText) -> list[Statement]:
        added = add_column("memories", "note", {"sqlite": "VARCHAR", "postgresql": "VARCHAR"})(text)
        return [*added, Statement(f"ALTER TABLE {text.qualified('no_such_table')} ADD COLUMN x VARCHAR")]

    return Migration(version=SCHEMA_VERSION + 1, table="memories", description="fails", statements=statements)


async def test_a_migration_that_fails_leaves_the_database_as_it_was(storage: IsolatedStorage) -> None:
    await make_v1_database(storage)
    before = shape(storage)

    with pytest.raises(StorageUnavailable) as raised:
        await migrate(storage, [*MIGRATIONS, failing_migration()])

    assert shape(storage) == before
    assert f"database '{storage.config.id}'" in str(raised.value)
    assert "nothing was changed" in str(raised.value)


async def test_a_new_column_reaches_an_existing_database_once_and_an_older_replica_leaves_it(
    storage: IsolatedStorage,
) -> None:
    await storage.open()
    note = note_migration()

    await migrate(storage, [*MIGRATIONS, note])
    await migrate(storage, [*MIGRATIONS, note])  # current now: nothing is applied twice
    await migrate(storage, MIGRATIONS)  # a replica of the previous version

    memories = shape(storage)["agno_memories"]
    assert "note" in [column[0] for column in memories["columns"]]
    assert await our_versions(storage) == dict.fromkeys(DATA_TABLES, SCHEMA_VERSION + 1)


class WritesCounted:
    """An executor that counts the transactions that write."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.writes = 0

    async def fetch(self, steps: Sequence[Step]) -> list[Rows]:
        return await self.executor.fetch(steps)

    async def write(self, steps: Sequence[Step]) -> list[Rows]:
        self.writes += 1
        return await self.executor.write(steps)

    async def write_after(self, reads: Sequence[Step], plan: Callable[[list[Rows]], Sequence[Step]]) -> list[Rows]:
        self.writes += 1
        return await self.executor.write_after(reads, plan)

    async def close(self) -> None:
        await self.executor.close()


async def test_opening_a_current_database_writes_nothing(storage: IsolatedStorage) -> None:
    await storage.open()
    counted = WritesCounted(executor_for(storage))
    text = SqlText(dialect(storage), storage.config.tables, schema=schema_of(storage))
    try:
        await ensure_schema(
            counted, text, schema=schema_of(storage), sessions_table="agno_sessions", db_id=storage.config.id
        )
    finally:
        await counted.close()

    assert counted.writes == 0


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_current_database_plans_nothing_so_opening_it_only_reads(kind: str) -> None:
    text = SqlText(kind, DEFAULT_TABLE_NAMES, schema="ai" if kind == "postgresql" else None)
    found = Found(tables=frozenset(name for name, _ in text.ddl), versions=dict.fromkeys(DATA_TABLES, SCHEMA_VERSION))

    assert plan(text, "ai", found, now=0, stamped_at="") == []


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_table_a_newer_replica_migrated_is_left_alone(kind: str) -> None:
    text = SqlText(kind, DEFAULT_TABLE_NAMES, schema="ai" if kind == "postgresql" else None)
    versions = {**dict.fromkeys(DATA_TABLES, SCHEMA_VERSION), "agno_sessions": SCHEMA_VERSION + 5}
    found = Found(tables=frozenset(name for name, _ in text.ddl), versions=versions)

    assert plan(text, "ai", found, now=0, stamped_at="") == []


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_unversioned_table_gets_every_migration_after_the_first_version_then_its_stamp(kind: str) -> None:
    text = SqlText(kind, DEFAULT_TABLE_NAMES, schema="ai" if kind == "postgresql" else None)
    versions = dict.fromkeys(DATA_TABLES, SCHEMA_VERSION)
    del versions["agno_sessions"]
    found = Found(tables=frozenset(name for name, _ in text.ddl), versions=versions)

    steps = plan(text, "ai", found, now=7, stamped_at="")

    assert [statement.sql for statement, _ in steps][0].startswith(
        'CREATE INDEX IF NOT EXISTS "idx_agno_sessions_user_id"'
    )
    assert steps[-1][1] == {"table_name": "agno_sessions", "version": SCHEMA_VERSION, "now": 7}
    # SQLite also unwraps the six JSON columns Agno 2 stored as JSON text (migration 3).
    unwrapped = [statement.sql for statement, _ in steps[1:-1]]
    assert len(unwrapped) == (6 if kind == "sqlite" else 0)
    assert all(sql.startswith('UPDATE "agno_sessions" SET ') for sql in unwrapped)


def _default_names() -> Any:
    from agentos_runtime.config.databases import TableNames

    return TableNames()


DEFAULT_TABLE_NAMES = _default_names()
