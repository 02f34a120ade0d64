"""Bringing a database to the runtime's schema: missing tables created, older ones migrated.

Opening a database reads which tables exist and their versions (``migrations``); when anything
is missing or older, one transaction takes the schema's lock, reads again (another replica may
have done the work meanwhile), and runs what ``migrations.plan`` makes of it: the generated DDL
(``statements.SqlText.ddl``) of the missing tables, with Agno's schema version stamped on them
so Agno's migration manager leaves them alone (tables that were there keep theirs), and the
migrations each older table lacks. Every statement runs in that transaction, so a migration that
fails leaves the database as it was. Replicas starting together take turns: on PostgreSQL on an
advisory lock held to the end of the transaction (the one ``connecting.create_tables`` takes
too), on SQLite on the write lock (``BEGIN IMMEDIATE``). A database that is current costs reads
only. It all goes through the run path's executor, so opening a database needs no SQLAlchemy.
What differs between the two databases here (catalog queries, the lock, the schema) is the
little SQL below.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from agentos_runtime.config.databases import MIGRATIONS_TABLE
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.sql.executing import Executor, Rows, Step
from agentos_runtime.storage.sql.migrations import (
    MIGRATIONS,
    Migration,
    found_in,
    latest_version,
    plan,
    read_versions,
)
from agentos_runtime.storage.sql.statements import SqlText, Statement, quote

_TABLES = {
    "sqlite": Statement("SELECT name FROM sqlite_master WHERE type = 'table'"),
    "postgresql": Statement("SELECT table_name FROM information_schema.tables WHERE table_schema = %(schema)s"),
}
_COLUMNS = {
    "sqlite": Statement(
        "SELECT tables.name, columns.name, columns.type FROM sqlite_master AS tables "
        "JOIN pragma_table_info(tables.name) AS columns WHERE tables.type = 'table'"
    ),
    "postgresql": Statement(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = %(schema)s"
    ),
}
# What to do with tables Agno 2 made: Agno's own migration brings them to Agno 3's shape.
_AGNO_MIGRATION = (
    "run Agno's MigrationManager(db).up() on this database (Agno 2's tables to Agno 3's), then start again"
)
_LOCK = Statement("SELECT pg_advisory_xact_lock(hashtext(%(key)s))")


def creation_lock_key(schema: str | None) -> str:
    """The advisory lock's key of whatever creates tables in PostgreSQL's ``schema`` (the runtime's
    and the knowledge bases'): one at a time, so two never both find the schema missing and
    create it (the second would fail on the first's)."""
    return f"agentos:create_tables:{schema}"


async def ensure_schema(
    executor: Executor,
    text: SqlText,
    *,
    schema: str | None,
    sessions_table: str,
    db_id: str,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> bool:
    """Create what is missing, migrate what is older; return whether the sessions table has
    Agno 2's ``runs`` column.

    Raises ``StorageUnavailable`` when the database does not answer, when a migration fails
    (then nothing was changed), or when a table lacks what the runtime reads and writes
    (``shape_problems``: tables Agno 2 made that Agno's own migration has not brought to Agno 3;
    then nothing is written).
    """
    catalog = {"schema": schema or ""}
    read = await executor.fetch([(_TABLES[text.dialect], catalog), (_COLUMNS[text.dialect], catalog)])
    tables, columns = read[0], _columns(text, read[1] if len(read) > 1 else [])
    problems = shape_problems(text, columns)
    if problems:  # refused before anything is written
        raise StorageUnavailable(f"database '{db_id}': {'; '.join(problems)}: {_AGNO_MIGRATION}")
    versions: Rows = []
    if MIGRATIONS_TABLE in {row[0] for row in tables}:
        versions = (await executor.fetch([(read_versions(text, schema), {})]))[0]
    if _plan(text, schema, tables, versions, migrations):
        await _migrate(executor, text, schema, migrations, db_id=db_id)
    # A sessions table created just now has no ``runs`` column: it was not among ``columns``.
    return "runs" in columns.get(_table_key(text, sessions_table), {})


def _table_key(text: SqlText, table: str) -> str:
    # SQLite's names are one table in any case.
    return table.casefold() if text.dialect == "sqlite" else table


def _columns(text: SqlText, rows: Rows) -> dict[str, dict[str, str]]:
    """Each table's columns with their types, lower case, from the rows of ``_COLUMNS``."""
    found: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        found.setdefault(_table_key(text, str(table)), {})[str(column)] = str(kind).lower()
    return found


def shape_problems(text: SqlText, found: dict[str, dict[str, str]]) -> list[str]:
    """What the data tables in ``found`` lack that the runtime reads and writes: columns (Agno
    before 2.3 had no ``created_at``, ``feedback`` on memories, Agno 2 no ``user_id`` on evals
    and metrics), and on PostgreSQL JSONB where Agno before 2.3 made JSON (the run's save, which
    sets the state inside ``session_data`` as JSONB, fails on it)."""
    problems = []
    for table, expected in text.data_columns.items():
        present = found.get(_table_key(text, table))
        if present is None:
            continue
        missing = [column for column in expected if column not in present]
        if missing:
            problems.append(f"table '{table}' has no column {', '.join(missing)}")
        if text.dialect == "postgresql":
            plain = [column for column, kind in expected.items() if kind == "JSONB" and present.get(column) == "json"]
            if plain:
                problems.append(f"table '{table}' has JSON, not JSONB, in {', '.join(plain)}")
    return problems


def _plan(
    text: SqlText, schema: str | None, tables: Rows, versions: Rows, migrations: Sequence[Migration]
) -> list[Step]:
    stamped_at = datetime.now(UTC)
    found = found_in(tables, versions)
    return plan(text, schema, found, migrations=migrations, now=int(time.time()), stamped_at=stamped_at.isoformat())


async def _migrate(
    executor: Executor, text: SqlText, schema: str | None, migrations: Sequence[Migration], *, db_id: str
) -> None:
    """Lock, read again, and run the plan, in one transaction."""
    reads: list[Step] = []
    if text.dialect == "postgresql":
        reads.append((_LOCK, {"key": creation_lock_key(schema)}))
        reads.append((Statement(f"CREATE SCHEMA IF NOT EXISTS {quote(schema or '')}"), {}))
    reads.extend((statement, {}) for statement in dict(text.ddl)[MIGRATIONS_TABLE])
    reads.append((_TABLES[text.dialect], {"schema": schema or ""}))
    reads.append((read_versions(text, schema), {}))

    def decide(rows: list[Rows]) -> list[Step]:
        return _plan(text, schema, rows[-2], rows[-1], migrations)

    try:
        await executor.write_after(reads, decide)
    except Exception as error:  # an outage, or a statement the database refused: rolled back either way
        reason = error.detail if isinstance(error, StorageUnavailable) else f"{type(error).__name__}: {error}"
        raise StorageUnavailable(
            f"database '{db_id}': upgrading its tables to schema version {latest_version(migrations)} failed, "
            f"nothing was changed: {reason[:300]}"
        ) from error


# What ``/ready`` asks: whether the server would take a write. PostgreSQL says so without one (a
# standby, or ``default_transaction_read_only`` set for the database or the user); SQLite's file
# is found read-only by the write itself (``sqlite_executor``), so its ping only answers.
PING = {
    "sqlite": Statement("SELECT 1"),
    "postgresql": Statement("SELECT current_setting('transaction_read_only')"),
}


def ping_statement(text: SqlText, sessions_table: str) -> Statement:
    """``PING``; on PostgreSQL it also reads the sessions table, so a lock another client holds
    on it (every run reads and writes it) fails the ping after the server's lock timeout."""
    if text.dialect != "postgresql":
        return PING[text.dialect]
    return Statement(
        "SELECT current_setting('transaction_read_only'), "
        f"EXISTS (SELECT 1 FROM {text.qualified(sessions_table)} LIMIT 1)"
    )
