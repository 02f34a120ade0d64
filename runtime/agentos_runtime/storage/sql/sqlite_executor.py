"""SQLite for the run path: one connection on one thread, with the standard library's driver.

One thread means one writer: saves never wait on each other's locks (SQLite's busy handler
sleeps in steps of up to 100 ms, which showed as second-long tail latencies under load), and a
whole read or save is one hop to the thread instead of one per statement. The file is in WAL
mode with ``synchronous=NORMAL``: a commit appends to the log without an fsync, which happens at
checkpoints; a crash of the process loses nothing, a power cut at most the last commits, the
trade-off SQLite documents for WAL. Other connections (SQLAlchemy's, Agno's) may write the same
file: this one waits for their locks up to ``BUSY_TIMEOUT_MS``, on its thread, not the loop.
A file that cannot serve (damaged, not a database, read-only, unopenable, failing, full, locked
past the wait) is ``StorageUnavailable`` naming it and the fix (``file_problem``), whichever
driver made the error (the standard library's, or ``sqlean`` on the knowledge file). After a
fault that stays with the connection (``fails_connection``: damaged, read-only, unopenable,
I/O) the connection is closed, so the file is opened again, fixed, by the next call; a full
disk or a lock passes with the connection kept. A file removed while in use fails every call
(the connection would go on writing to the removed file, never read again) until a file is
back at its path, which is then opened (``sqlite_file``: the check SQLAlchemy's connections to
the file make too).
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Literal, TypeVar

from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.sql.executing import Rows, Step, refused_by_server
from agentos_runtime.storage.sql.sqlite_file import FileIdentity, SqliteFile

T = TypeVar("T")

# How long a statement waits for another connection's write lock before giving up.
BUSY_TIMEOUT_MS = 20_000


def pragmas(busy_timeout_ms: int) -> tuple[str, ...]:
    """What each new connection runs first."""
    return (
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",
        f"PRAGMA busy_timeout = {busy_timeout_ms}",
    )


def _with_lock_retries(connection: sqlite3.Connection, statement: str, *, busy_timeout_ms: int) -> None:
    """Run ``statement``, retrying while the file is locked: switching a new file to WAL needs
    it to itself and fails at once (without SQLite's busy wait) while another connection, say a
    replica starting at the same moment, holds it. Runs on the executor's thread."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    for attempt in itertools.count(1):
        try:
            connection.execute(statement)
            return
        except connection.OperationalError as error:  # the driver's own (DB-API), whichever made it
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(min(0.001 * attempt, 0.05))


FileFault = Literal["damaged", "read-only", "unopenable", "failing", "full", "locked"]
# Primary result codes (the low byte of an extended one; the same in every SQLite driver) of a
# file that cannot serve: damaged or not a database at all, not writable (for this connection:
# it was opened read-only), not openable (its directory missing or not writable), failing on
# its volume, full, or locked by another connection past the busy wait.
_FAULTS: dict[int, FileFault] = {
    sqlite3.SQLITE_NOTADB: "damaged",
    sqlite3.SQLITE_CORRUPT: "damaged",
    sqlite3.SQLITE_READONLY: "read-only",
    sqlite3.SQLITE_CANTOPEN: "unopenable",
    sqlite3.SQLITE_IOERR: "failing",
    sqlite3.SQLITE_FULL: "full",
    sqlite3.SQLITE_BUSY: "locked",
}
# Faults that stay with the connection that met them (a file opened read-only stays so for it,
# pages of a damaged one may be cached): it is closed, and the next call opens the file again.
_CONNECTION_FAULTS: frozenset[FileFault] = frozenset({"damaged", "read-only", "unopenable", "failing"})


def file_fault(error: BaseException) -> FileFault | None:
    """Which fault of the database file ``error`` is (an ``OSError`` making the connection:
    ``unopenable``); ``None`` for any other error (a statement's, a missing table)."""
    if isinstance(error, OSError):
        return "unopenable"
    code = getattr(error, "sqlite_errorcode", None)
    return _FAULTS.get(code & 0xFF) if isinstance(code, int) else None


def fails_connection(error: BaseException) -> bool:
    """Whether ``error`` is a fault of the file that stays with the connection: close it."""
    return file_fault(error) in _CONNECTION_FAULTS


def file_problem(error: BaseException, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> str | None:
    """What ``error`` says of the database file at ``path`` and what to do about it; ``None``
    when it is not the file's problem."""
    fault = file_fault(error)
    if fault is None:
        return None
    said = f"the file {path}"
    fixes: dict[FileFault, str] = {
        "damaged": f"{said} is not a SQLite database or is damaged ({error}): "
        "restore it from a backup, or move it aside to start with an empty one",
        "read-only": f"{said} cannot be written ({error}): make it and its directory writable by the runtime's user",
        "unopenable": f"{said} cannot be opened ({error}): "
        "make its directory exist, and it and its directory readable and writable by the runtime's user",
        "failing": f"{said} could not be read or written ({error}): check the volume it is on (mounted, not failing)",
        "full": f"{said} cannot grow ({error}): free space on its volume, or give it a larger one",
        "locked": f"{said} was locked by another connection for over {busy_timeout_ms / 1000:g} s ({error}): "
        "try again; if it lasts, end what holds it (a long transaction, an open sqlite3 shell)",
    }
    return fixes[fault]


class SqliteExecutor:
    """The ``Executor`` on the SQLite file at ``path``; the connection opens on first use, made
    by ``connect`` (called as ``sqlite3.connect``: a driver with the same interface may be used,
    given as ``driver``, the module whose errors its connections raise). ``file`` is what every
    connection to the file checks (SQLAlchemy's too, when given it). A statement waits up to
    ``busy_timeout_ms`` for another connection's lock."""

    def __init__(
        self,
        path: Path,
        *,
        db_id: str,
        connect: Callable[..., sqlite3.Connection] = sqlite3.connect,
        driver: ModuleType = sqlite3,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self._path = path
        self._db_id = db_id
        self._connect = connect
        # The driver's DB-API errors: the standard library's are not sqlean's (nor subclasses).
        self._database_error: type[Exception] = driver.DatabaseError
        self._operational_error: type[Exception] = driver.OperationalError
        self._busy_timeout_ms = busy_timeout_ms
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"agentos-sqlite-{db_id}")
        self._connection: sqlite3.Connection | None = None
        self.file = SqliteFile(path, db_id=db_id)
        self.on_missing_tables: Callable[[], None] | None = None
        self._opened_file: FileIdentity | None = None

    async def fetch(self, steps: Sequence[Step]) -> list[Rows]:
        return await self._call(self._fetch, steps)

    async def write(self, steps: Sequence[Step]) -> list[Rows]:
        return await self._call(self._write, steps)

    async def write_after(self, reads: Sequence[Step], plan: Callable[[list[Rows]], Sequence[Step]]) -> list[Rows]:
        return await self._call(lambda steps: self._write(steps, plan), reads)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    async def _call(self, work: Callable[[Sequence[Step]], T], steps: Sequence[Step]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._reopening, work, steps)
        except (self._database_error, OSError) as error:  # OSError: making the connection (its directory)
            problem = file_problem(error, self._path, busy_timeout_ms=self._busy_timeout_ms)
            if problem is not None:
                raise StorageUnavailable(f"database '{self._db_id}': {problem}") from error
            refusal = refused_by_server(self._db_id, error, found_missing=self.on_missing_tables)
            if refusal is not None:
                raise refusal from error
            if not isinstance(error, self._operational_error):
                raise
            raise StorageUnavailable(f"database '{self._db_id}' is unavailable: {error}") from error

    # The methods below run on the executor's thread only.

    def _reopening(self, work: Callable[[Sequence[Step]], T], steps: Sequence[Step]) -> T:
        """``work``, closing the connection when the file failed it (``fails_connection``): a
        file opened read-only stays so for the connection, a replaced one stays the old one, so
        the next call opens the file again and works once it is fixed."""
        try:
            return work(steps)
        except self._database_error as error:
            if fails_connection(error):
                self._close()
            raise

    def _open(self) -> sqlite3.Connection:
        if self._connection is not None and not self.file.is_open_on(self._opened_file):
            # Removed or replaced since it was opened: the connection would go on with what was
            # removed (nothing of it ever read again).
            self._close()
        connection = self._connection
        if connection is None:
            self.file.before_connect()
            # ``isolation_level=None``: transactions are begun here, explicitly.
            connection = self._connect(self._path, isolation_level=None, timeout=self._busy_timeout_ms / 1000)
            try:
                for pragma in pragmas(self._busy_timeout_ms):
                    _with_lock_retries(connection, pragma, busy_timeout_ms=self._busy_timeout_ms)
            except BaseException:
                connection.close()
                raise
            self._connection = connection
            self._opened_file = self.file.connected()
        return connection

    def _fetch(self, steps: Sequence[Step]) -> list[Rows]:
        connection = self._open()
        found: list[Rows] = []
        connection.execute("BEGIN")  # one snapshot for every statement
        try:
            for statement, params in steps:
                rows = connection.execute(statement.sql, statement.bind(params)).fetchall()
                found.append(rows)
                if not rows:
                    break
        finally:
            if connection.in_transaction:
                connection.execute("COMMIT")
        return found

    def _write(self, steps: Sequence[Step], plan: Callable[[list[Rows]], Sequence[Step]] | None = None) -> list[Rows]:
        """``steps`` in one transaction holding the write lock; with ``plan``, ``steps`` are
        reads and the statements ``plan`` makes of their rows follow (their rows returned)."""
        connection = self._open()
        connection.execute("BEGIN IMMEDIATE")
        try:
            found = [
                connection.execute(statement.sql, statement.bind(params)).fetchall() for statement, params in steps
            ]
            if plan is not None:
                found = [
                    connection.execute(statement.sql, statement.bind(params)).fetchall()
                    for statement, params in plan(found)
                ]
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:  # some errors end the transaction by themselves
                connection.execute("ROLLBACK")
            raise
        return found

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
