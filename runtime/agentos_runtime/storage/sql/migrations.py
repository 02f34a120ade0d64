"""The runtime's schema versions, and what brings an existing table from one to the next.

Each table that holds data (``statements.TABLE_KINDS``) has a version in
``agentos_schema_versions``, apart from the one Agno keeps in ``agno_schema_versions`` (which
says which of Agno's shapes a table has, and which this runtime leaves as Agno stamped it). A
table this runtime creates has every migration already (``tables`` is the latest shape) and is
stamped ``SCHEMA_VERSION``. A table with no version of ours was made before versions were kept,
by this runtime or by Agno 3 (or by Agno 2 and brought to Agno 3 by Agno's own migration, its
``runs`` column kept), which is version 1: every migration after 1 is applied to it. Agno 2's
tables as Agno 2 left them lack columns and types of version 1: ``schema`` refuses them.

A migration is additive (a column that may be NULL or has a default, an index), so a replica
still on the previous version keeps working while a rolling update runs, and so do Agno's own
classes on a database they share. Planning is pure (``plan``): from the tables that exist and
their versions, the statements to run. ``schema`` runs the plan in one transaction, after the
lock and the reads it is made from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agentos_runtime.config.databases import MIGRATIONS_TABLE
from agentos_runtime.storage.sql.executing import Step
from agentos_runtime.storage.sql.statements import AGNO_SCHEMA_VERSION, TABLE_KINDS, SqlText, Statement, quote

# The version of a table made before this runtime kept versions (by it or by Agno).
BASELINE_VERSION = 1


@dataclass(frozen=True)
class Migration:
    """What brings a table of kind ``table`` (one of ``TABLE_KINDS``) to ``version``."""

    version: int
    table: str
    description: str
    statements: Callable[[SqlText], list[Statement]]


def create_index(table: str, index: str) -> Callable[[SqlText], list[Statement]]:
    """The statement creating an index the generated DDL has: ``index`` with ``{table}`` for the
    table's name in the database (``idx_{table}_user_id``)."""

    def statements(text: SqlText) -> list[Statement]:
        name = text.tables[table]
        return [text.index_ddl(name, index.format(table=name))]

    return statements


def add_column(table: str, column: str, types: Mapping[str, str]) -> Callable[[SqlText], list[Statement]]:
    """``ALTER TABLE ... ADD COLUMN`` with the column's type per dialect (and its default or
    ``NULL`` allowance: existing rows and older replicas must do without it)."""

    def statements(text: SqlText) -> list[Statement]:
        sql = f"ALTER TABLE {text.qualified(text.tables[table])} ADD COLUMN {quote(column)} {types[text.dialect]}"
        return [Statement(sql)]

    return statements


def unwrap_json_text(table: str, columns: Sequence[str]) -> Callable[[SqlText], list[Statement]]:
    """On SQLite, ``columns`` holding an object or list as its JSON text inside a JSON string
    rewritten as the object or list itself; nothing on PostgreSQL, which never stored them so.

    Agno 2's ``SqliteDb`` encoded a session's JSON columns before its JSON column encoded them
    again, and Agno's own 3.0 migration leaves them so: SQLite's JSON functions (a run's state
    set inside ``session_data``, a session's metrics read in SQL) find a string there, not an
    object, and change or read nothing. A value that is anything else is left as it is.
    """

    def statements(text: SqlText) -> list[Statement]:
        if text.dialect != "sqlite":
            return []
        name = text.qualified(text.tables[table])
        unwrapped = []
        for column in map(quote, columns):
            inner = f"json_extract({column}, '$')"
            # Nested CASEs: json_type() of text that is not JSON is an error, so each test runs
            # only once the one before it held.
            wrapped = (
                f"CASE WHEN json_valid({column}) THEN CASE WHEN json_type({column}) = 'text' THEN "
                f"CASE WHEN json_valid({inner}) THEN json_type({inner}) IN ('object', 'array') END END END"
            )
            unwrapped.append(Statement(f"UPDATE {name} SET {column} = json({inner}) WHERE {wrapped}"))
        return unwrapped

    return statements


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=2,
        table="sessions",
        description="index the sessions' user_id (a user's sessions, listed and checked under access control)",
        statements=create_index("sessions", "idx_{table}_user_id"),
    ),
    Migration(
        version=3,
        table="sessions",
        description="SQLite: session columns Agno 2 stored as JSON text in a JSON string hold the object itself",
        statements=unwrap_json_text(
            "sessions", ("session_data", "agent_data", "team_data", "workflow_data", "metadata", "summary")
        ),
    ),
)


def latest_version(migrations: Sequence[Migration]) -> int:
    return max((migration.version for migration in migrations), default=BASELINE_VERSION)


SCHEMA_VERSION = latest_version(MIGRATIONS)

_VERSIONS = {
    "sqlite": f"SELECT table_name, version FROM {MIGRATIONS_TABLE}",
    "postgresql": f"SELECT table_name, version FROM @@schema@@.{MIGRATIONS_TABLE}",
}
_STAMP = {
    "sqlite": (
        f"INSERT INTO {MIGRATIONS_TABLE} (table_name, version, migrated_at) VALUES (:table_name, :version, :now) "
        "ON CONFLICT (table_name) DO UPDATE SET version = excluded.version, migrated_at = excluded.migrated_at"
    ),
    "postgresql": (
        f"INSERT INTO @@schema@@.{MIGRATIONS_TABLE} (table_name, version, migrated_at) "
        "VALUES (%(table_name)s, %(version)s, %(now)s) "
        "ON CONFLICT (table_name) DO UPDATE SET version = excluded.version, migrated_at = excluded.migrated_at"
    ),
}


def read_versions(text: SqlText, schema: str | None) -> Statement:
    """Every table's version of ours: rows of ``(table_name, version)``."""
    return Statement(_VERSIONS[text.dialect].replace("@@schema@@", quote(schema or "")))


def _stamp(text: SqlText, schema: str | None) -> Statement:
    return Statement(_STAMP[text.dialect].replace("@@schema@@", quote(schema or "")))


@dataclass(frozen=True)
class Found:
    """What a database has: its tables (names) and our version of each versioned one."""

    tables: frozenset[str]
    versions: Mapping[str, int]


def plan(
    text: SqlText,
    schema: str | None,
    found: Found,
    *,
    migrations: Sequence[Migration] = MIGRATIONS,
    now: int,
    stamped_at: str,
) -> list[Step]:
    """The statements that bring the database from ``found`` to the latest schema: the missing
    tables created (Agno's version and ours stamped on them), then for each older table the
    migrations after its version, in order, and its new version. Empty when it is current.

    A table stamped newer than ``migrations`` know (a newer replica migrated it) is left alone.
    """
    latest = latest_version(migrations)
    postgres = text.dialect == "postgresql"
    steps: list[Step] = []
    created: set[str] = set()
    for table, statements in text.ddl:
        if table in found.tables:
            continue
        created.add(table)
        if postgres:  # several statements without parameters go in one round trip
            steps.append((Statement("; ".join(statement.sql for statement in statements)), {}))
        else:
            steps.extend((statement, {}) for statement in statements)
    for table in text.stamped_tables:
        if table in created:
            version = {"table_name": table, "version": AGNO_SCHEMA_VERSION, "stamped_at": stamped_at}
            steps.append((text.stamp_version, version))
    for kind in TABLE_KINDS:
        table = text.tables[kind]
        stored = found.versions.get(table)
        current = latest if table in created else (stored or BASELINE_VERSION)
        for migration in sorted(migrations, key=lambda each: each.version):
            if migration.table == kind and migration.version > current:
                steps.extend((statement, {}) for statement in migration.statements(text))
        if stored is None or stored < latest:
            steps.append((_stamp(text, schema), {"table_name": table, "version": max(current, latest), "now": now}))
    return steps


def found_in(tables: Sequence[tuple[object, ...]], versions: Sequence[tuple[object, ...]]) -> Found:
    """``Found`` from the rows of the catalog's table names and of ``read_versions``."""
    return Found(
        tables=frozenset(str(row[0]) for row in tables),
        versions={str(row[0]): int(str(row[1])) for row in versions},
    )
