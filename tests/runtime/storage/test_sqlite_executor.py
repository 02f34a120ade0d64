"""SQLite's run-path connection: replicas opening one new file together, WAL mode."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.storage.factory import open_database
from agentos_runtime.storage.ports import SessionRow


async def test_replicas_opening_a_new_file_at_the_same_moment_all_open(tmp_path: Path) -> None:
    """Switching a new file to WAL fails at once while another connection holds it; each retries."""
    for attempt in range(10):
        data_dir = tmp_path / f"attempt-{attempt}"
        config = DatabaseConfig(id="shared", type="sqlite")

        replicas = await asyncio.gather(*(open_database(config, environ={}, data_dir=data_dir) for _ in range(6)))

        for replica in replicas:
            await replica.ping()
            await replica.close()


async def test_the_file_is_left_in_wal_mode_with_the_saved_run(tmp_path: Path) -> None:
    database = await open_database(DatabaseConfig(id="db", type="sqlite"), environ={}, data_dir=tmp_path)
    new = SessionRow(session_id="s1", session_type="agent", created_at=1, agent_id="a")
    await database.sessions.save_run(new, {"run_id": "r1", "agent_id": "a"}, session_state=None)
    await database.close()

    with sqlite3.connect(tmp_path / "db.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("SELECT count(*) FROM agno_runs").fetchone() == (1,)
