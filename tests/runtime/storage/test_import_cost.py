"""Importing the storage layer loads no database driver; SQLite runs agents on the standard library alone."""

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


def sqlite_script(tmp_path: Path, *calls: str) -> str:
    body = "".join(f"    {call}\n" for call in calls)
    return (
        "import asyncio, pathlib\n"
        "from agentos_runtime.config.databases import DatabaseConfig\n"
        "from agentos_runtime.storage.factory import open_database\n"
        "from agentos_runtime.storage.ports import RecentRuns, SessionQuery, SessionRow\n"
        "async def main():\n"
        "    db = await open_database(DatabaseConfig(id='main', type='sqlite'), environ={},"
        f" data_dir=pathlib.Path({str(tmp_path)!r}))\n"
        "    new = SessionRow(session_id='s1', session_type='agent', created_at=1, agent_id='a')\n"
        f"{body}"
        "    await db.close()\n"
        "asyncio.run(main())"
    )


def test_opening_sqlite_and_running_agents_on_it_loads_no_driver_library(tmp_path: Path) -> None:
    """A run's session read and save go through the standard library's sqlite3, not SQLAlchemy."""
    code = sqlite_script(
        tmp_path,
        "await db.ping()",
        "await db.sessions.get_session('s1', recent_runs=RecentRuns(limit=3))",
        "await db.sessions.save_run(new, {'run_id': 'r1', 'agent_id': 'a'}, session_state={'n': 1})",
        "assert (await db.sessions.get_session('s1')).runs[0]['run_id'] == 'r1'",
    )

    assert loaded_after(code) == set()


def test_listing_sessions_loads_sqlalchemy_on_first_use_but_neither_redis_nor_psycopg(tmp_path: Path) -> None:
    code = sqlite_script(
        tmp_path,
        "await db.sessions.save_run(new, {'run_id': 'r1', 'agent_id': 'a'}, session_state=None)",
        "assert (await db.sessions.list_sessions(SessionQuery())).total == 1",
    )

    assert loaded_after(code) == {"sqlalchemy", "aiosqlite"}


def test_the_start_check_of_shared_stores_reads_urls_with_a_driver_only_when_two_variables_are_compared() -> None:
    code = (
        "import pathlib\n"
        "from agentos_runtime.config.databases import DatabaseConfig as D\n"
        "from agentos_runtime.storage.sharing import shared_stores\n"
        "configs = [D(id='a', type='postgres'), D(id='b', type='postgres', db_schema='b'), D(id='c', type='redis'),"
        " D(id='d', type='redis', key_prefix='d'), D(id='e', type='sqlite')]\n"
        "environ = {'DATABASE_URL': 'postgresql://db/app', 'REDIS_URL': 'redis://db'}\n"
        "assert shared_stores(configs, environ, pathlib.Path('.')) == []\n"
    )

    assert loaded_after(code) == set()  # one variable per kind: the config's own check compared them
    two_variables = code.replace("type='postgres', db_schema='b'", "type='postgres', url_env='OTHER_URL'")
    assert loaded_after(two_variables) == {"psycopg"}
