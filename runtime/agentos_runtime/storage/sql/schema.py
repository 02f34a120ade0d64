"""Creating the tables a database lacks, and learning what the existing ones look like.

Runs the generated DDL (``statements.SqlText.ddl``, every statement ``IF NOT EXISTS``) of the
tables that are missing, in one transaction through the run path's executor, so opening a
database needs no SQLAlchemy; like SQLAlchemy's ``create_all``, a table that exists is left as
it is. Tables created now get Agno's schema version stamped (tables that were there keep
theirs), so Agno's migration manager leaves them alone. On PostgreSQL, replicas starting
together take turns on the advisory lock ``connecting.create_tables`` takes too, and each
table's statements go in one round trip. What differs between the two databases here
(catalog queries, the lock, the schema) is the little SQL below.
"""

from __future__ import annotations

from datetime import UTC, datetime

from agentos_runtime.storage.sql.executing import Executor, Step
from agentos_runtime.storage.sql.statements import AGNO_SCHEMA_VERSION, SqlText, Statement, quote

_TABLES = {
    "sqlite": Statement("SELECT name FROM sqlite_master WHERE type = 'table'"),
    "postgresql": Statement("SELECT table_name FROM information_schema.tables WHERE table_schema = %(schema)s"),
}
_COLUMNS = {
    "sqlite": Statement("SELECT name FROM pragma_table_info(:table)"),
    "postgresql": Statement(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %(schema)s AND table_name = %(table)s"
    ),
}
_LOCK = Statement("SELECT pg_advisory_xact_lock(hashtext(%(key)s))")


async def ensure_schema(executor: Executor, text: SqlText, *, schema: str | None, sessions_table: str) -> bool:
    """Create what is missing; return whether the sessions table has Agno 2's ``runs`` column.

    Raises ``StorageUnavailable`` when the database does not answer.
    """
    catalog = {"schema": schema or ""}
    existing = {row[0] for row in (await executor.fetch([(_TABLES[text.dialect], catalog)]))[0]}
    missing = [(table, statements) for table, statements in text.ddl if table not in existing]
    if missing:
        await executor.write(_creation(text, schema, missing))
    columns = await executor.fetch([(_COLUMNS[text.dialect], {**catalog, "table": sessions_table})])
    return "runs" in {row[0] for row in columns[0]}


def _creation(text: SqlText, schema: str | None, missing: list[tuple[str, list[Statement]]]) -> list[Step]:
    steps: list[Step] = []
    postgres = text.dialect == "postgresql"
    if postgres:
        steps.append((_LOCK, {"key": f"agentos:create_tables:{schema}"}))
        steps.append((Statement(f"CREATE SCHEMA IF NOT EXISTS {quote(schema or '')}"), {}))
    for _, statements in missing:
        if postgres:  # several statements without parameters go in one round trip
            steps.append((Statement("; ".join(statement.sql for statement in statements)), {}))
        else:
            steps.extend((statement, {}) for statement in statements)
    stamped_at = datetime.now(UTC).isoformat()
    created = {table for table, _ in missing}
    for table in text.stamped_tables:
        if table in created:
            version = {"table_name": table, "version": AGNO_SCHEMA_VERSION, "stamped_at": stamped_at}
            steps.append((text.stamp_version, version))
    return steps


PING = Statement("SELECT 1")
