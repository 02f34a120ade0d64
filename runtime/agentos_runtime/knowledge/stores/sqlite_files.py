"""The knowledge file of a SQLite database: where it is, and its one connection on one thread.

The vector extension needs a SQLite that can load it: the standard library's module when the
interpreter's build allows it, else ``sqlean`` (a drop-in module with extension loading), never
both on one file. Calls run on the file's own thread, one at a time (one writer); driver errors
come back as ours.
"""

from __future__ import annotations

import asyncio
import importlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.knowledge.stores.checking import UnstorableData
from agentos_runtime.knowledge.stores.sqlite_filters import JSON_CONTAINS, json_contains_sql

T = TypeVar("T")
Connection = Any  # sqlite3.Connection or sqlean's twin (no type information of its own)

# How long a statement waits for another connection's write lock before giving up.
BUSY_TIMEOUT_MS = 20_000


def driver_module() -> ModuleType:
    """The standard library's sqlite3 when it can load extensions, else ``sqlean`` (never both
    on one file: they may link different SQLite builds)."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    return importlib.import_module("sqlean")


def knowledge_path(database_path: Path) -> Path:
    """The knowledge file beside the database file: ``agentos.db`` -> ``agentos.knowledge.db``."""
    return database_path.with_name(f"{database_path.stem}.knowledge{database_path.suffix or '.db'}")


class SqliteKnowledgeFile:
    """The knowledge file of one database: one connection, on one thread, opened on first use."""

    def __init__(self, path: Path, *, db_id: str) -> None:
        self.path = path
        self.db_id = db_id
        self._driver = driver_module()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"agentos-knowledge-{db_id}")
        self._connection: Connection | None = None

    async def call(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` on the file's thread; driver errors turned into ours."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, work)
        except self._driver.IntegrityError as error:
            raise UnstorableData(f"database '{self.db_id}' refused the data: {error}") from error
        except self._driver.DataError as error:
            raise UnstorableData(f"database '{self.db_id}' refused the data: {error}") from error
        except (self._driver.OperationalError, OSError) as error:
            raise StorageUnavailable(f"database '{self.db_id}' (knowledge) is unavailable: {error}") from error
        except self._driver.Error as error:  # a file that is not a database, say
            raise StorageUnavailable(f"database '{self.db_id}' (knowledge) cannot be used: {error}") from error

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    # The methods below run on the file's thread only.

    def _run(self, work: Callable[[Connection], T]) -> T:
        return work(self._open())

    def _open(self) -> Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = self._driver.connect(str(self.path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                connection.enable_load_extension(True)
                importlib.import_module("sqlite_vec").load(connection)
                connection.enable_load_extension(False)
                for pragma in ("PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"):
                    _with_lock_retries(connection, pragma, self._driver)
                connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                connection.create_function(JSON_CONTAINS, 2, json_contains_sql, deterministic=True)
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _with_lock_retries(connection: Connection, statement: str, driver: ModuleType) -> None:
    """Switching a new file to WAL needs it to itself and fails at once (no busy wait) while
    another connection holds it: retry until ``BUSY_TIMEOUT_MS``."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    attempt = 0
    while True:
        attempt += 1
        try:
            connection.execute(statement)
            return
        except driver.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(min(0.001 * attempt, 0.05))


def transaction(connection: Connection, work: Callable[[Connection], T]) -> T:
    """``work`` in one write transaction (the write lock taken first), rolled back on any error."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = work(connection)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return result
