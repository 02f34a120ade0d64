"""Tables dropped under a running runtime are created again for the next call, without a restart:
the call that found one missing fails saying so, one repair runs however many calls found it, and
a repair that fails is logged and tried again by the next call that finds a table missing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.factory import open_database
from agentos_runtime.storage.ports import MemoryQuery, MemoryRow, SessionRow
from agentos_runtime.storage.sql.database import SqlDatabase
from agentos_runtime.storage.sql.repair import SchemaRepair


class Creating:
    """A stand-in for ``ensure_schema`` that waits until released, failing the first ``failures`` times."""

    def __init__(self, failures: int = 0) -> None:
        self.calls = 0
        self.failures = failures
        self.release = asyncio.Event()

    async def __call__(self) -> bool:
        self.calls += 1
        await self.release.wait()
        if self.calls <= self.failures:
            raise StorageUnavailable("database 'main' refused the operation (permission denied for schema public)")
        return False


async def test_calls_finding_tables_missing_while_a_repair_runs_start_no_other() -> None:
    creating = Creating()
    repair = SchemaRepair(creating, db_id="main", legacy_runs=False)

    for _ in range(5):
        repair.found_missing()
    await asyncio.sleep(0)  # the repair's task starts
    creating.release.set()
    await repair.settled()

    assert creating.calls == 1


async def test_a_failed_repair_is_logged_and_the_next_call_finding_tables_missing_tries_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    creating = Creating(failures=1)
    creating.release.set()
    repair = SchemaRepair(creating, db_id="main", legacy_runs=False)

    repair.found_missing()
    await repair.settled()
    repair.found_missing()
    await repair.settled()

    assert creating.calls == 2
    assert [record.getMessage() for record in caplog.records] == [
        "database 'main': creating its missing tables again failed: "
        "database 'main' refused the operation (permission denied for schema public)",
        "database 'main': tables of the runtime were missing and were created again, empty",
    ]


async def test_a_repair_under_way_is_cancelled_when_the_database_closes() -> None:
    creating = Creating()
    repair = SchemaRepair(creating, db_id="main", legacy_runs=False)
    repair.found_missing()
    await asyncio.sleep(0)

    await repair.close()

    assert creating.calls == 1 and not creating.release.is_set()


async def test_a_sqlite_table_dropped_by_hand_fails_the_call_then_is_created_again(tmp_path: Path) -> None:
    path = tmp_path / "agentos.db"
    database = await open_database(
        DatabaseConfig(id="main", type="sqlite", path=str(path)), environ={}, data_dir=tmp_path
    )
    assert isinstance(database, SqlDatabase) and database.repair is not None
    session = SessionRow(session_id="s1", session_type="agent", created_at=1_000, agent_id="assistant")
    try:
        await database.sessions.save_run(session, {"run_id": "r1"}, session_state=None)
        with sqlite3.connect(path) as admin:
            admin.execute("DROP TABLE agno_runs")
            admin.execute("DROP TABLE agno_sessions")
            admin.execute("DROP TABLE agno_memories")
        admin.close()

        with pytest.raises(StorageUnavailable) as reading:
            await database.sessions.get_session("s1")
        await database.repair.settled()
        await database.sessions.save_run(session, {"run_id": "r2"}, session_state=None)
        stored = await database.sessions.get_session("s1")
        await database.memories.upsert_memory(MemoryRow(memory_id="m1", memory="likes tea", user_id="ana"))
        memories = await database.memories.list_memories(MemoryQuery())
    finally:
        await database.close()

    assert reading.value.detail.startswith("database 'main' refused the operation (no such table: agno_")
    assert reading.value.detail.endswith(
        "a table of the runtime is missing: it is being created again, empty: try again"
    )
    assert stored is not None and [run["run_id"] for run in stored.runs or []] == ["r2"]
    assert memories.total == 1


async def test_a_sqlite_table_of_the_listings_stores_found_missing_is_created_again(tmp_path: Path) -> None:
    path = tmp_path / "agentos.db"
    database = await open_database(
        DatabaseConfig(id="main", type="sqlite", path=str(path)), environ={}, data_dir=tmp_path
    )
    assert isinstance(database, SqlDatabase) and database.repair is not None
    try:
        with sqlite3.connect(path) as admin:
            admin.execute("DROP TABLE agno_memories")
        admin.close()

        with pytest.raises(StorageUnavailable) as listing:
            await database.memories.list_memories(MemoryQuery())
        await database.repair.settled()
        listed = await database.memories.list_memories(MemoryQuery())
    finally:
        await database.close()

    assert listing.value.detail == (
        "database 'main' refused the operation (no such table: agno_memories): "
        "a table of the runtime is missing: it is being created again, empty: try again"
    )
    assert listed.total == 0
