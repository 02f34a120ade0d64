"""Open the ``Database`` a config entry declares, with its tables ready.

The backend's module (and its driver: SQLAlchemy, psycopg, aiosqlite, redis) is imported only
when a database of that type is opened, so a runtime that uses SQLite never loads redis and
importing the runtime stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.storage.ports import Database
from agentos_runtime.storage.urls import database_url

if TYPE_CHECKING:
    from agentos_runtime.storage.early import EarlySchemas


def sqlite_path(config: DatabaseConfig, data_dir: Path) -> Path:
    """The SQLite file: ``config.path``, else ``<data_dir>/<id>.db``."""
    return Path(config.path) if config.path else data_dir / f"{config.id}.db"


async def open_database(
    config: DatabaseConfig, *, environ: Mapping[str, str], data_dir: Path, early: EarlySchemas | None = None
) -> Database:
    """Connect to the database of ``config`` and create its tables when they are missing.

    ``early``: a PostgreSQL schema check already started (``EarlySchemas``), whose answer this
    open takes instead of checking again. Raises ``StorageUnavailable`` when the URL variable is
    missing or the database does not answer; the message never contains the URL.
    """
    if config.type == "sqlite":
        return await _open_sqlite(config, data_dir)
    if config.type == "postgres":
        url = database_url(config, environ)
        legacy_runs = await early.take(config.id) if early is not None else None
        return await _open_postgres(config, url, legacy_runs)
    return await _open_redis(config, database_url(config, environ))


async def _open_sqlite(config: DatabaseConfig, data_dir: Path) -> Database:
    from agentos_runtime.storage.sql.database import open_sqlite

    return await open_sqlite(config, path=sqlite_path(config, data_dir))


async def _open_postgres(config: DatabaseConfig, url: str, legacy_runs: bool | None) -> Database:
    from agentos_runtime.storage.sql.database import open_postgres

    return await open_postgres(config, url=url, legacy_runs=legacy_runs)


async def _open_redis(config: DatabaseConfig, url: str) -> Database:
    from agentos_runtime.storage.redis.database import open_redis

    return await open_redis(config, url=url)
