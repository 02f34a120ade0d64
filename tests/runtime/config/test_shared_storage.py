"""Declared databases never share storage by accident: a PostgreSQL schema of one server, Redis key
prefixes one of which holds the other's keys, a SQLite file, PostgreSQL's own schemas, schema names PostgreSQL
would cut to one. Each validated once; then runs failed on a foreign key, a database listed
another's sessions and memories, or every request answered 503."""

from __future__ import annotations

from typing import Any

import pytest
from agentos_operator.resources import validate_resource
from agentos_runtime.config import ConfigError, parse_config

from tests.operator.offline.inputs import resource_body


def problems_of(*databases: dict[str, Any]) -> list[str]:
    document = {"models": [{"id": "m", "api_key_env": None}], "agents": [{"id": "a", "model": "m"}]}
    try:
        parse_config({**document, "databases": list(databases)})
    except ConfigError as error:
        return [str(p) for p in error.problems]
    return []


def test_two_postgres_databases_of_one_server_may_not_share_a_schema() -> None:
    assert problems_of(
        {"id": "pa", "type": "postgres", "db_schema": "shared"},
        {"id": "pb", "type": "postgres", "db_schema": "shared", "tables": {"sessions": "other_sessions"}},
    ) == [
        "databases[1].db_schema: database 'pa' uses schema 'shared' of the same server: give each database"
        " a schema of its own"
    ]
    assert (
        problems_of(
            {"id": "pa", "type": "postgres", "db_schema": "shared"},
            {"id": "pb", "type": "postgres", "db_schema": "shared", "url_env": "OTHER_DATABASE_URL"},
        )
        == []
    )


def test_two_sqlite_databases_may_not_share_a_file() -> None:
    assert problems_of(
        {"id": "memory", "type": "sqlite", "path": "/data/agentos.db"},
        {"id": "sessions", "type": "sqlite", "path": "/data/./agentos.db", "tables": {"sessions": "other_sessions"}},
    ) == [
        "databases[1].path: database 'memory' uses the SQLite file '/data/agentos.db' too: give each database"
        " a file of its own, or declare one database and refer to it from both"
    ]
    assert (
        problems_of(
            {"id": "memory", "type": "sqlite", "path": "/data/memory.db"},
            {"id": "sessions", "type": "sqlite", "path": "/data/sessions.db"},
            {"id": "other", "type": "sqlite"},
            {"id": "more", "type": "sqlite"},
        )
        == []
    )


@pytest.mark.parametrize(("first", "second"), [("ov", "ov"), ("ov", "ov:sessions"), ("ov:memories", "ov")])
def test_two_redis_databases_of_one_server_may_not_share_keys(first: str, second: str) -> None:
    found = problems_of(
        {"id": "ra", "type": "redis", "key_prefix": first}, {"id": "rb", "type": "redis", "key_prefix": second}
    )

    assert len(found) == 1 and found[0].startswith(
        f"databases[1].key_prefix: database 'ra' keeps its keys under '{first}:'"
    )


def test_prefixes_that_only_begin_alike_are_apart() -> None:
    assert (
        problems_of(
            {"id": "ra", "type": "redis", "key_prefix": "ov"}, {"id": "rb", "type": "redis", "key_prefix": "ovx"}
        )
        == []
    )


@pytest.mark.parametrize("schema", ["pg_catalog", "pg_temp", "pg_mine", "information_schema"])
def test_postgresqls_own_schemas_are_refused(schema: str) -> None:
    assert problems_of({"id": "p", "type": "postgres", "db_schema": schema}) == [
        f"databases[0].db_schema: '{schema}' is PostgreSQL's own (pg_*, information_schema): choose another schema"
    ]


def test_a_schema_name_postgresql_would_cut_is_refused() -> None:
    assert problems_of({"id": "p", "type": "postgres", "db_schema": "s" * 63}) == []
    assert problems_of({"id": "p", "type": "postgres", "db_schema": "s" * 64}) == [
        "databases[0].db_schema: String should have at most 63 characters"
    ]


def test_a_resources_databases_of_one_secret_are_one_server() -> None:
    url = {"name": "pg", "key": "url"}
    spec = {
        "models": [{"id": "m", "apiKeySecretRef": {"name": "openai", "key": "k"}}],
        "agents": [{"id": "a"}],
        "databases": [
            {"id": "one", "type": "postgres", "urlSecretRef": url},
            {"id": "two", "type": "postgres", "urlSecretRef": url},
            {"id": "three", "type": "postgres", "urlSecretRef": {"name": "pg", "key": "other"}},
        ],
    }

    assert [str(p) for p in validate_resource(resource_body(spec))] == [
        "spec.databases[1].dbSchema: database 'one' uses schema 'ai' of the same server: give each database"
        " a schema of its own"
    ]
