"""The SQL tables, column for column and index for index as Agno 3 creates them.

Agno's ``agno_sessions`` row holds a session without its runs; each run is a row of
``agno_runs`` (``run_data`` is the run's dict, ``run_index`` its position in the session);
``agno_memories`` holds one memory per row; ``agno_metrics`` and ``agno_eval_runs`` are in
``analytics_tables``; ``agno_schema_versions`` records which schema version each table has,
so Agno's migration manager leaves tables we created alone. ``agentos_run_cancels`` holds the
cancels sent to one replica for a run another one drives. ``agentos_schema_versions`` records
the runtime's own version of each table (``migrations``): what is added here beyond Agno's
tables (the sessions' ``user_id`` index) reaches existing tables through a migration.
Dialect differences are types: JSONB and TEXT on PostgreSQL, JSON and VARCHAR on SQLite.
PostgreSQL keeps the tables in a schema (``ai`` by default), SQLite has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from agentos_runtime.config.databases import CANCELS_TABLE, MIGRATIONS_TABLE, RUNS_TABLE, VERSIONS_TABLE, TableNames
from agentos_runtime.storage.sql.analytics_tables import evals_table, metrics_table

# The schema version Agno 3 stamps on a table it creates; Agno migrates tables stamped lower.
AGNO_SCHEMA_VERSION = "3.0.0"


def _json() -> TypeEngine[Any]:
    # SQL NULL (not JSON 'null') for None, as a missing value reads the same in both.
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _text() -> TypeEngine[str]:
    return Text().with_variant(String(), "sqlite")


@dataclass(frozen=True)
class Tables:
    metadata: MetaData
    sessions: Table
    runs: Table
    memories: Table
    metrics: Table
    evals: Table
    versions: Table
    migrations: Table
    cancels: Table


def _indexed(table: Table, *columns: str) -> None:
    for column in columns:
        Index(f"idx_{table.name}_{column}", table.c[column])


def _sessions(metadata: MetaData, name: str, schema: str | None, *, legacy_runs: bool) -> Table:
    # Agno 2 kept a session's runs in its row; Agno 3 leaves that column in place as a backup.
    legacy = [Column("runs", _json())] if legacy_runs else []
    table = Table(
        name,
        metadata,
        Column("session_id", String, primary_key=True, nullable=False),
        Column("session_type", String, nullable=False),
        Column("agent_id", String),
        Column("team_id", String),
        Column("workflow_id", String),
        Column("user_id", String),
        Column("session_data", _json()),
        Column("agent_data", _json()),
        Column("team_data", _json()),
        Column("workflow_data", _json()),
        Column("metadata", _json()),
        Column("summary", _json()),
        Column("created_at", BigInteger, nullable=False),
        Column("updated_at", BigInteger),
        *legacy,
        schema=schema,
    )
    # user_id: a user's sessions, listed and checked on every request under access control
    # (an index Agno does not make; migration 2 adds it to existing tables).
    _indexed(table, "session_type", "created_at", "user_id")
    return table


def _runs(metadata: MetaData, name: str, sessions: Table, schema: str | None) -> Table:
    table = Table(
        name,
        metadata,
        Column("run_id", String, primary_key=True, nullable=False),
        Column("session_id", String, ForeignKey(sessions.c.session_id, ondelete="CASCADE"), nullable=False),
        Column("run_type", String, nullable=False),
        Column("agent_id", String),
        Column("team_id", String),
        Column("workflow_id", String),
        Column("user_id", String),
        Column("parent_run_id", String),
        Column("status", String),
        Column("run_index", BigInteger),
        Column("run_data", _json(), nullable=False),
        Column("created_at", BigInteger, nullable=False),
        Column("updated_at", BigInteger),
        schema=schema,
    )
    _indexed(table, "session_id", "run_type", "agent_id", "team_id", "workflow_id", "user_id", "status", "created_at")
    # "The latest N runs of a session" is served by this index.
    Index(f"idx_{name}_session_id_run_index", table.c.session_id, table.c.run_index)
    return table


def _memories(metadata: MetaData, name: str, schema: str | None) -> Table:
    table = Table(
        name,
        metadata,
        Column("memory_id", String, primary_key=True, nullable=False),
        Column("memory", _json(), nullable=False),
        Column("feedback", _text()),
        Column("input", _text()),
        Column("agent_id", String),
        Column("team_id", String),
        Column("user_id", String),
        Column("topics", _json()),
        Column("created_at", BigInteger, nullable=False),
        Column("updated_at", BigInteger),
        schema=schema,
    )
    _indexed(table, "user_id", "created_at", "updated_at")
    return table


def _versions(metadata: MetaData, schema: str | None) -> Table:
    table = Table(
        VERSIONS_TABLE,
        metadata,
        Column("table_name", String, primary_key=True, nullable=False),
        Column("version", String, nullable=False),
        Column("created_at", String, nullable=False),
        Column("updated_at", String),
        schema=schema,
    )
    _indexed(table, "created_at")
    return table


def _migrations(metadata: MetaData, schema: str | None) -> Table:
    return Table(
        MIGRATIONS_TABLE,
        metadata,
        Column("table_name", String, primary_key=True, nullable=False),
        Column("version", BigInteger, nullable=False),
        Column("migrated_at", BigInteger, nullable=False),
        schema=schema,
    )


def _cancels(metadata: MetaData, schema: str | None) -> Table:
    # A cancel sent to one replica for a run another one drives: the replica running it reads
    # the intents of its runs while they go on (``runs.registry``); expired rows are deleted.
    table = Table(
        CANCELS_TABLE,
        metadata,
        Column("run_id", String, primary_key=True, nullable=False),
        Column("expires_at", BigInteger, nullable=False),
        schema=schema,
    )
    _indexed(table, "expires_at")
    return table


def build_tables(names: TableNames, *, schema: str | None, legacy_runs: bool = False) -> Tables:
    """The tables named in ``names`` (plus Agno's runs and versions tables, and ours) in ``schema``.

    ``legacy_runs``: the stored sessions table still has Agno 2's ``runs`` column.
    """
    metadata = MetaData()
    sessions = _sessions(metadata, names.sessions, schema, legacy_runs=legacy_runs)
    return Tables(
        metadata=metadata,
        sessions=sessions,
        runs=_runs(metadata, RUNS_TABLE, sessions, schema),
        memories=_memories(metadata, names.memories, schema),
        metrics=metrics_table(metadata, names.metrics, schema),
        evals=evals_table(metadata, names.evals, schema),
        versions=_versions(metadata, schema),
        migrations=_migrations(metadata, schema),
        cancels=_cancels(metadata, schema),
    )
