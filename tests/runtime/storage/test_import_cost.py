"""Importing the storage layer loads no database driver; opening SQLite loads no Redis client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DRIVERS = ("sqlalchemy", "redis", "psycopg", "aiosqlite")


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {DRIVERS!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_importing_the_factory_and_the_in_memory_store_loads_no_driver() -> None:
    assert loaded_after("import agentos_runtime.storage.factory, agentos_runtime.storage.memory") == set()


def test_opening_a_sqlite_database_loads_neither_redis_nor_psycopg(tmp_path: Path) -> None:
    code = (
        "import asyncio, pathlib\n"
        "from agentos_runtime.config.databases import DatabaseConfig\n"
        "from agentos_runtime.storage.factory import open_database\n"
        "async def main():\n"
        "    db = await open_database(DatabaseConfig(id='main', type='sqlite'), environ={},"
        f" data_dir=pathlib.Path({str(tmp_path)!r}))\n"
        "    await db.ping()\n"
        "    await db.close()\n"
        "asyncio.run(main())"
    )

    assert loaded_after(code) == {"sqlalchemy", "aiosqlite"}
