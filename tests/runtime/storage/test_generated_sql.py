"""The generated SQL is current, and the tables it creates are the ones SQLAlchemy creates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.storage.factory import open_database
from agentos_runtime.storage.ports import SessionQuery, SessionRow
from agentos_runtime.storage.sql import connecting, generated_sql, sql_generation
from agentos_runtime.storage.sql.database import SqlDatabase
from agentos_runtime.storage.sql.tables import build_tables
from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection

from tests.support.databases import drop_postgres_schema, postgres_url, unique_name

# Awkward names on purpose: upper case and a space need quoting, the rest does not.
TABLES = {"sessions": "Team Sessions", "memories": "mem", "metrics": "agno_metrics", "evals": "Evals"}


def test_the_generated_sql_is_current() -> None:
    assert Path(generated_sql.__file__).read_text() == sql_generation.module_text(), (
        "stale: run .venv/bin/python -m agentos_runtime.storage.sql.sql_generation "
        "> runtime/agentos_runtime/storage/sql/generated_sql.py"
    )


def describe(sync: Connection, schema: str | None) -> dict[str, Any]:
    """Every table of ``schema`` as the database describes it: columns, keys, indexes."""
    inspector = inspect(sync)
    described: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names(schema=schema)):
        columns = [
            (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
            for c in inspector.get_columns(table, schema)
        ]
        foreign = [
            (f["constrained_columns"], f["referred_table"], f["referred_columns"], f.get("options"))
            for f in inspector.get_foreign_keys(table, schema)
        ]
        indexes = sorted(
            (i["name"], tuple(i["column_names"]), i["unique"]) for i in inspector.get_indexes(table, schema)
        )
        uniques = sorted((u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table, schema))
        primary = inspector.get_pk_constraint(table, schema)["constrained_columns"]
        described[table] = {"columns": columns, "pk": primary, "fk": foreign, "indexes": indexes, "uniques": uniques}
    return described


async def opened(kind: str, tmp_path: Path, name: str) -> SqlDatabase:
    config = DatabaseConfig.model_validate({"id": "db", "type": kind, "db_schema": name, "tables": TABLES})
    database = await open_database(config, environ={"DATABASE_URL": postgres_url()}, data_dir=tmp_path / name)
    assert isinstance(database, SqlDatabase)
    return database


@pytest.fixture(params=["sqlite", "postgres"])
async def both(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, str, str]]:
    names = (unique_name("generated"), unique_name("sqlalchemy"))
    yield request.param, *names
    if request.param == "postgres":
        for name in names:
            await drop_postgres_schema(name)


async def test_the_generated_ddl_creates_the_tables_sqlalchemy_creates(
    both: tuple[str, str, str], tmp_path: Path
) -> None:
    kind, ours_name, theirs_name = both
    schema = {"generated": ours_name, "sqlalchemy": theirs_name} if kind == "postgres" else {}
    ours = await opened(kind, tmp_path, ours_name)
    theirs = await opened(kind, tmp_path, theirs_name)
    try:
        config = DatabaseConfig.model_validate({"id": "db", "type": kind, "tables": TABLES})
        tables = build_tables(config.tables, schema=schema.get("sqlalchemy"))
        # Drop what opening created in the second database, then let SQLAlchemy create it.
        async with theirs.engine.begin() as connection:
            await connection.run_sync(tables.metadata.drop_all)
        await connecting.create_tables(theirs.engine, tables, schema=schema.get("sqlalchemy"))

        async with ours.engine.connect() as connection:
            generated = await connection.run_sync(describe, schema.get("generated"))
            stamped = sorted((await connection.execute(select(tables.versions.c.table_name))).scalars())
        async with theirs.engine.connect() as connection:
            created = await connection.run_sync(describe, schema.get("sqlalchemy"))

        assert generated == created
        assert set(generated) >= {"Team Sessions", "agno_runs", "mem", "agno_metrics", "Evals", "agno_schema_versions"}
        assert stamped == sorted(["Team Sessions", "agno_runs", "mem", "agno_metrics", "Evals"])
    finally:
        await ours.close()
        await theirs.close()


async def test_runs_saved_through_the_generated_sql_are_listed_through_sqlalchemy(
    both: tuple[str, str, str], tmp_path: Path
) -> None:
    kind, name, _ = both
    database = await opened(kind, tmp_path, name)
    try:
        new = SessionRow(session_id="s1", session_type="agent", created_at=1, agent_id="a", user_id="ana")
        await database.sessions.save_run(new, {"run_id": "r1", "agent_id": "a"}, session_state={"n": 1})

        listed = await database.sessions.list_sessions(SessionQuery(user_id="ana"))

        assert [(row.session_id, [run["run_id"] for run in row.runs or []]) for row in listed.items] == [("s1", ["r1"])]
        assert listed.items[0].session_data == {"session_state": {"n": 1}}
    finally:
        await database.close()
