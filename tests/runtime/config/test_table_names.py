"""Declared table names: SQL identifiers, one table each, never a table the runtime or SQLite keeps
for itself; a knowledge base's table apart from its database's; vectors an SQLite base can hold.
Each of these passed validation once, and the server then answered 500 or 503 on every request."""

from __future__ import annotations

from typing import Any

import pytest
from agentos_operator.resources import validate_resource
from agentos_runtime.config import ConfigError, parse_config

from tests.operator.offline.inputs import resource_body


def config(**extra: Any) -> dict[str, Any]:
    return {"models": [{"id": "m", "api_key_env": None}], "agents": [{"id": "a", "model": "m"}], **extra}


def problems_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(document)
    return [str(p) for p in raised.value.problems]


@pytest.mark.parametrize(
    ("tables", "problem"),
    [
        (
            {"sessions": "x", "memories": "x"},
            "databases[0].tables: sessions and memories are both 'x' (one table to SQLite): give each its own name",
        ),
        (
            {"sessions": "agno_runs"},
            "databases[0].tables: sessions: 'agno_runs' is a table the runtime keeps beside the declared ones:"
            " choose another name",
        ),
        (
            {"metrics": "agentos_schema_versions"},
            "databases[0].tables: metrics: 'agentos_schema_versions' is a table the runtime keeps beside the"
            " declared ones: choose another name",
        ),
        (
            {"evals": "sqlite_stat1"},
            "databases[0].tables: evals: 'sqlite_stat1': SQLite keeps the tables named 'sqlite_...' for itself:"
            " choose another name",
        ),
        (
            {"sessions": "Notes", "memories": "notes"},
            "databases[0].tables: sessions and memories are both 'Notes' and 'notes' (one table to SQLite):"
            " give each its own name",
        ),
        (
            {"sessions": "AGNO_RUNS"},
            "databases[0].tables: sessions: 'AGNO_RUNS' is a table the runtime keeps beside the declared ones: choose another name",
        ),
        ({"memories": ""}, "databases[0].tables.memories: String should match pattern '^[A-Za-z_][A-Za-z0-9_ -]*$'"),
        (
            {"memories": 'my "memories"'},
            "databases[0].tables.memories: String should match pattern '^[A-Za-z_][A-Za-z0-9_ -]*$'",
        ),
        ({"sessions": "s" * 41}, "databases[0].tables.sessions: String should have at most 40 characters"),
    ],
)
def test_a_table_name_no_database_can_hold_apart_is_refused(tables: dict[str, str], problem: str) -> None:
    document = config(databases=[{"id": "main", "type": "sqlite", "tables": tables}])

    assert problems_of(document) == [problem]


def test_agnos_default_names_and_names_of_ones_own_are_accepted() -> None:
    tables = {"sessions": "team_a_sessions", "memories": "Team A memories", "metrics": "m", "evals": "e-vals"}
    parsed = parse_config(config(databases=[{"id": "main", "type": "postgres", "tables": tables}]))

    assert parsed.databases[0].tables.by_field() == {**tables, "knowledge": "agno_knowledge"}


def test_a_knowledge_base_may_not_take_a_table_of_its_database() -> None:
    databases = [{"id": "main", "type": "postgres", "tables": {"memories": "notes"}}]
    bases = [
        {"id": "k1", "db": "main", "table": "notes"},
        {"id": "k2", "table": "agno_runs"},
        {"id": "k3", "db": "main", "table": "agno_memories"},  # main's memories are 'notes'
    ]

    assert problems_of(config(databases=databases, knowledge_bases=bases)) == [
        "knowledge_bases[0].table: 'notes' is the database's memories table: choose another name",
        "knowledge_bases[1].table: 'agno_runs' is a table the runtime keeps beside the declared ones:"
        " choose another name",
    ]


def test_an_sqlite_knowledge_base_holds_vectors_sqlite_vec_can_hold() -> None:
    big = [{"id": "k", "embedder": {"dimensions": 8193}}]
    on_postgres = [{"id": "k", "db": "pg", "embedder": {"dimensions": 16000}}]

    assert problems_of(config(knowledge_bases=big)) == [
        "knowledge_bases[0].embedder.dimensions: 8193 dimensions: an SQLite knowledge base holds vectors of at"
        " most 8192 (sqlite-vec): use a model with fewer, or a postgres database"
    ]
    parse_config(config(knowledge_bases=[{"id": "k", "embedder": {"dimensions": 8192}}]))
    parse_config(config(databases=[{"id": "pg", "type": "postgres"}], knowledge_bases=on_postgres))


def test_a_resource_is_held_to_the_same_rules() -> None:
    spec = {
        "agents": [{"id": "a"}],
        "databases": [
            {
                "id": "main",
                "type": "postgres",
                "urlSecretRef": {"name": "pg", "key": "url"},
                "tables": {"sessions": "x", "evals": "x"},
            }
        ],
    }

    assert [str(p) for p in validate_resource(resource_body(spec))] == [
        "spec.databases[0].tables: sessions and evals are both 'x' (one table to SQLite): give each its own name"
    ]
