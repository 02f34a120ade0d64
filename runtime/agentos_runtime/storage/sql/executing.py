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

from agentos_runtime.storage.sql.statements import Statement

Step = tuple[Statement, Mapping[str, Any]]
Rows = list[tuple[Any, ...]]

# libpq's TCP keepalives, on every PostgreSQL connection (both pools): a connection whose server
# vanished without a word while it sat idle is found within about a minute, not at its next use.
POSTGRES_KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


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


class Executor(Protocol):
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
