"""Creating the tables a database lacks, and learning what the existing ones look like.

Runs the generated DDL (``statements.SqlText.ddl``, every statement ``IF NOT EXISTS``) in one
transaction through the run path's executor, so opening a database needs no SQLAlchemy.
Tables created now get Agno's schema version stamped (tables that were there keep theirs), so
Agno's migration manager leaves them alone. On PostgreSQL replicas starting together take
turns on the same advisory lock ``connecting.create_tables`` takes. What differs between the
two databases here (catalog queries, the lock, the schema) is the little SQL below.
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
    steps: list[Step] = []
    if text.dialect == "postgresql":
        steps.append((_LOCK, {"key": f"agentos:create_tables:{schema}"}))
        steps.append((Statement(f"CREATE SCHEMA IF NOT EXISTS {quote(schema or '')}"), {}))
    steps.extend((statement, {}) for statement in text.ddl)
    stamped_at = datetime.now(UTC).isoformat()
    for table in text.stamped_tables:
        if table not in existing:
            version = {"table_name": table, "version": AGNO_SCHEMA_VERSION, "stamped_at": stamped_at}
            steps.append((text.stamp_version, version))
    await executor.write(steps)
    columns = await executor.fetch([(_COLUMNS[text.dialect], {**catalog, "table": sessions_table})])
    return "runs" in {row[0] for row in columns[0]}


PING = Statement("SELECT 1")
