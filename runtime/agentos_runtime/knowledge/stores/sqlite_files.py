"""The knowledge file of a SQLite database: where it is, and the executor that opens it.

The file is run by the run path's ``SqliteExecutor`` (one connection on one thread, one writer,
WAL, ``synchronous=NORMAL``), with its own ``connect``: the vector extension needs a SQLite that
can load it, the standard library's module when the interpreter's build allows it, else
``sqlean`` (a drop-in module with extension loading), never both on one file. Each connection
loads sqlite-vec and the filters' containment function before its first statement.
"""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

from agentos_runtime.knowledge.stores.sqlite_filters import JSON_CONTAINS, json_contains_sql
from agentos_runtime.storage.sql.sqlite_executor import SqliteExecutor

Connection = Any  # sqlite3.Connection or sqlean's twin (no type information of its own)


def driver_module() -> ModuleType:
    """The standard library's sqlite3 when it can load extensions, else ``sqlean`` (never both
    on one file: they may link different SQLite builds)."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    return importlib.import_module("sqlean")


def knowledge_path(database_path: Path) -> Path:
    """The knowledge file beside the database file: ``agentos.db`` -> ``agentos.knowledge.db``."""
    return database_path.with_name(f"{database_path.stem}.knowledge{database_path.suffix or '.db'}")


def connect_knowledge(path: Path, **options: Any) -> Connection:
    """A connection to the knowledge file at ``path`` (``options`` as ``sqlite3.connect``'s) with
    sqlite-vec and the containment function loaded; its directory is made when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = driver_module().connect(str(path), **options)
    try:
        connection.enable_load_extension(True)
        importlib.import_module("sqlite_vec").load(connection)
        connection.enable_load_extension(False)
        connection.create_function(JSON_CONTAINS, 2, json_contains_sql, deterministic=True)
    except BaseException:
        connection.close()
        raise
    return connection


def knowledge_executor(path: Path, *, db_id: str) -> SqliteExecutor:
    """The executor of the knowledge file at ``path``; nothing connects before its first call.
    Its driver's errors are told as the runtime's own file's are (``file_problem``)."""
    return SqliteExecutor(path, db_id=db_id, connect=connect_knowledge, driver=driver_module())
