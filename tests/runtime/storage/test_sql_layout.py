"""The SQL tables we create are Agno's: same schema, names, columns, types and indexes, plus
what the runtime adds on top, named here: its schema versions table and one index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.storage.sql.database import SqlDatabase
from agno.db.postgres.schemas import get_table_schema_definition as postgres_schema
from agno.db.sqlite.schemas import get_table_schema_definition as sqlite_schema
from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql, sqlite

from tests.support.databases import IsolatedStorage, isolated_storage

TABLES = {
    "agno_sessions": "sessions",
    "agno_runs": "runs",
    "agno_memories": "memories",
    "agno_metrics": "metrics",
    "agno_eval_runs": "evals",
    "agno_schema_versions": "versions",
}
# The runtime's own additions (``migrations``, cancels across replicas): nothing Agno reads or writes is changed by them.
OUR_TABLES = {"agentos_schema_versions", "agentos_run_cancels"}
OUR_INDEXES = {"agno_sessions": {"idx_{table}_user_id"}}


@pytest.fixture(params=["sqlite", "postgres"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[IsolatedStorage]:
    async with isolated_storage(request.param, tmp_path) as isolated:
        yield isolated


async def inspected(storage: IsolatedStorage) -> dict[str, dict[str, Any]]:
    """Per table: its columns (name -> (type name, nullable, primary key)) and index names."""
    database = await storage.open()
    assert isinstance(database, SqlDatabase)
    schema = storage.config.db_schema if storage.kind == "postgres" else None

    def read(connection: Any) -> dict[str, dict[str, Any]]:
        inspector = inspect(connection)
        dialect = connection.dialect
        found: dict[str, dict[str, Any]] = {}
        for table in inspector.get_table_names(schema=schema):
            primary = set(inspector.get_pk_constraint(table, schema=schema)["constrained_columns"])
            found[table] = {
                "columns": {
                    column["name"]: (column["type"].compile(dialect), column["nullable"], column["name"] in primary)
                    for column in inspector.get_columns(table, schema=schema)
                },
                "indexes": {index["name"] for index in inspector.get_indexes(table, schema=schema)},
            }
        return found

    async with database.engine.connect() as connection:
        return await connection.run_sync(read)


def expected(kind: str, table_type: str) -> dict[str, Any]:
    """Agno's definition of the table, types compiled for the dialect as Agno's DDL would."""
    definition = (postgres_schema if kind == "postgres" else sqlite_schema)(table_type)
    columns = {name: spec for name, spec in definition.items() if not name.startswith("_")}
    dialect = postgresql.dialect() if kind == "postgres" else sqlite.dialect()
    return {
        "columns": {
            name: (spec["type"]().compile(dialect), spec.get("nullable", True), spec.get("primary_key", False))
            for name, spec in columns.items()
        },
        "indexes": {f"idx_{{table}}_{name}" for name, spec in columns.items() if spec.get("index")}
        | {f"idx_{{table}}_{'_'.join(index['columns'])}" for index in definition.get("__composite_indexes__", [])}
        # PostgreSQL lists the index behind each unique constraint; SQLite's are anonymous.
        | {f"{{table}}_{unique['name']}" for unique in definition.get("_unique_constraints", []) if kind == "postgres"},
    }


async def test_tables_match_agnos_schema_column_for_column_and_index_for_index(storage: IsolatedStorage) -> None:
    found = await inspected(storage)

    assert set(found) == set(TABLES) | OUR_TABLES
    for table, table_type in TABLES.items():
        want = expected(storage.kind, table_type)
        assert found[table]["columns"] == want["columns"], table
        indexes = {index.replace(table, "{table}") for index in found[table]["indexes"]}
        assert indexes == want["indexes"] | OUR_INDEXES.get(table, set()), table
