"""The executor port: how the compiled run statements (``statements``) reach a database.

SQLite runs them on one thread with the standard library's driver (``sqlite_executor``),
PostgreSQL on a few psycopg connections of its own (``postgres_executor``). Both take a batch
of statements per call, so a run's read or save is one hop to the driver, not one per
statement; both raise ``StorageUnavailable`` when the database cannot be reached and let a
value that is not JSON fail with ``TypeError`` before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.sql.statements import Statement
from agentos_runtime.storage.urls import redact

Step = tuple[Statement, Mapping[str, Any]]
Rows = list[tuple[Any, ...]]

# A PostgreSQL server that does not answer a new connection within this many seconds is
# reported unavailable, so a readiness probe or a request fails fast instead of hanging.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 3

# libpq's TCP keepalives, on every PostgreSQL connection (both pools): a connection whose server
# vanished without a word while it sat idle is found within about a minute, not at its next use.
POSTGRES_KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def postgres_connect_options(*, behind_pooler: bool) -> dict[str, Any]:
    """psycopg's settings of every PostgreSQL connection (both pools). ``behind_pooler``: nothing
    is prepared, since a pooler in transaction mode (PgBouncer) may send the next statement to
    another server connection, where the prepared one does not exist."""
    options: dict[str, Any] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS, **POSTGRES_KEEPALIVES}
    if behind_pooler:
        options["prepare_threshold"] = None
    return options


# SQLSTATE class 54, "program limit exceeded": the server is up and refused this value (a JSONB
# object over 256 MB, a row past a limit), so it is the value's error, not an outage.
_LIMIT_EXCEEDED_CLASS = "54"


def refused_value(error: BaseException) -> ValueError | None:
    """The ``ValueError`` for a driver error saying the database refused the value as too large;
    ``None`` for any other (``StorageUnavailable`` then, if it is the connection's)."""
    sqlstate = getattr(error, "sqlstate", None)
    if not isinstance(sqlstate, str) or not sqlstate.startswith(_LIMIT_EXCEEDED_CLASS):
        return None
    diag = getattr(error, "diag", None)
    reason = getattr(diag, "message_primary", None) or "a limit of the database was exceeded"
    return ValueError(f"too large for the database: {reason}")


# SQLSTATEs of a server that is up but refuses what its state or its tables no longer allow: not
# a bug of ours and not an outage, so the caller is told what it means and what to do.
_READ_ONLY = (
    "the server is read-only (a standby, as after a failover, or default_transaction_read_only is on): "
    "point the database's URL at the primary"
)
# What to do behind a connection pooler (``postgres_connect_options``).
_BEHIND_POOLER = "set behind_pooler: true (behindPooler in an AgentOSConfig) on this database"
_POOLED_PREPARED = (
    "a prepared statement was lost: a connection pooler in transaction mode (PgBouncer) sits between the runtime "
    f"and the server: {_BEHIND_POOLER}"
)
_REFUSALS: dict[str, str] = {
    "25006": _READ_ONLY,
    # invalid_sql_statement_name, duplicate_prepared_statement: another client's server connection.
    "26000": _POOLED_PREPARED,
    "42P05": _POOLED_PREPARED,
    "42501": "the database user lacks a privilege on the runtime's tables: grant it",
    "42703": "a column of the runtime's tables is missing or renamed: restore the table as the runtime made it",
    # The server's own bounds (``deadline.server_options``): the statement was rolled back.
    "55P03": (
        "another client held a lock on a table of the runtime for longer than the database's timeout_seconds, "
        "so nothing was done: see pg_locks for what holds it"
    ),
    "57014": (
        "the statement ran longer than the database's timeout_seconds (or an administrator cancelled it), "
        "so nothing was done"
    ),
}
# A schema or table of the runtime missing (dropped under it): created again by ``repair`` when
# the caller has one, else at the next start.
_MISSING: dict[str, str] = {
    "3F000": "the runtime's schema is missing",
    "42P01": "a table of the runtime is missing",
}
_SQLITE_NO_TABLE = "no such table"


def refused_by_server(
    db_id: str, error: BaseException | None, *, found_missing: Callable[[], None] | None = None
) -> StorageUnavailable | None:
    """``StorageUnavailable`` saying why and what to do, for a driver error whose SQLSTATE says
    the server refused the operation (``_REFUSALS``, ``_MISSING``; SQLite's "no such table");
    ``None`` for any other. ``found_missing`` is told of a missing table or schema (and the
    message says it is being created again)."""
    sqlstate = getattr(error, "sqlstate", None)
    # A SQLite driver's error (the standard library's, or sqlean's on the knowledge file) has a result code.
    if isinstance(getattr(error, "sqlite_errorcode", None), int) and str(error).startswith(_SQLITE_NO_TABLE):
        sqlstate, reason = "42P01", str(error)  # names the table only
    else:
        # The primary message names the table or column, never the statement or its values.
        reason = getattr(getattr(error, "diag", None), "message_primary", None) or type(error).__name__
    if not isinstance(sqlstate, str):
        return None
    fix = _REFUSALS.get(sqlstate)
    missing = _MISSING.get(sqlstate)
    if missing is not None and found_missing is None:
        fix = f"{missing}: restart the runtime to create it again"
    elif missing is not None and found_missing is not None:
        found_missing()
        fix = f"{missing}: it is being created again, empty: try again"
    if fix is None:
        return None
    return StorageUnavailable(f"database '{db_id}' refused the operation ({reason}): {fix}")


def read_only_server(db_id: str) -> StorageUnavailable:
    """What ``/ready`` says of a PostgreSQL server that would refuse every write."""
    return StorageUnavailable(f"database '{db_id}' takes no writes: {_READ_ONLY}")


class Executor(Protocol):
    on_missing_tables: Callable[[], None] | None
    """Told when a statement finds a table or schema of the runtime missing (``repair``)."""

    async def fetch(self, steps: Sequence[Step]) -> list[Rows]:
        """Each statement's rows, in order, read together; stops after the first that finds none
        (the rows of statements not run are left out)."""
        ...

    async def write(self, steps: Sequence[Step]) -> list[Rows]:
        """Run the statements in one transaction (every one applied, or none); each one's rows
        (``RETURNING``), an empty list for a statement that returns none."""
        ...

    async def write_after(self, reads: Sequence[Step], plan: Callable[[list[Rows]], Sequence[Step]]) -> list[Rows]:
        """Run ``reads``, then the statements ``plan`` makes of their rows, in one transaction
        (the write lock taken first on SQLite; on PostgreSQL a lock among ``reads`` is held to
        the end); the rows of the planned statements. ``plan`` decides only: it does no I/O."""
        ...

    async def close(self) -> None: ...


# Longest driver message kept in an error (they can quote whole statements).
_MESSAGE_MAX_LENGTH = 300

# What a connection pooler answers to a startup option it does not pass on (PgBouncer, and the
# pooled endpoints of hosted PostgreSQL built on it).
_POOLER_REFUSAL = "unsupported startup parameter"
_POOLER_ADVICE = f": a connection pooler refused the server-side timeouts sent when connecting: {_BEHIND_POOLER}"


def unavailable(db_id: str, error: BaseException | None, url: str | None) -> StorageUnavailable:
    """``StorageUnavailable`` for the driver's ``error`` reaching PostgreSQL: its message, never
    the URL's secrets, and what to do when a pooler refused the connection's startup options."""
    message = redact(f"{type(error).__name__}: {error}", url)[:_MESSAGE_MAX_LENGTH]
    advice = _POOLER_ADVICE if _POOLER_REFUSAL in str(error) else ""
    return StorageUnavailable(f"database '{db_id}' is unavailable: {message}{advice}")
