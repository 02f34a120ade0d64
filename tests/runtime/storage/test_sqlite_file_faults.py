"""SQLite: a file that cannot serve (damaged, not a database, read-only, removed while in use) is
``StorageUnavailable`` naming the file and what to do, never a driver error, on the run path and
SQLAlchemy's alike, and once it is fixed or put back the next call works."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.factory import open_database
from agentos_runtime.storage.ports import MemoryQuery, MemoryRow
from agentos_runtime.storage.sql.database import SqlDatabase
from agentos_runtime.storage.sql.sqlite_executor import SqliteExecutor
from agentos_runtime.storage.sql.statements import Statement

from tests.runtime.api.harness import BASIC_CONFIG, serve_on

CREATE = Statement("CREATE TABLE IF NOT EXISTS saved (id TEXT PRIMARY KEY)")
INSERT = Statement("INSERT INTO saved (id) VALUES (:id)")
COUNT = Statement("SELECT count(*) FROM saved")


def config(path: Path) -> DatabaseConfig:
    return DatabaseConfig(id="main", type="sqlite", path=str(path))


async def test_a_file_that_is_not_a_database_at_start_is_unavailable_naming_it_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "agentos.db"
    path.write_bytes(b"this is no SQLite file, whatever its name says" * 100)

    with pytest.raises(StorageUnavailable) as raised:
        await open_database(config(path), environ={}, data_dir=tmp_path)

    assert raised.value.detail == (
        f"database 'main': the file {path} is not a SQLite database or is damaged (file is not a database): "
        "restore it from a backup, or move it aside to start with an empty one"
    )


async def test_a_path_whose_symbolic_links_loop_is_unavailable_naming_it_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "agentos.db"
    path.symlink_to(tmp_path / "other.db")
    (tmp_path / "other.db").symlink_to(path)

    with pytest.raises(StorageUnavailable) as raised:
        await open_database(config(path), environ={}, data_dir=tmp_path)

    assert raised.value.detail == (
        f"database 'main': cannot open {path}: its symbolic links loop: point them at a file"
    )


async def test_once_the_damaged_file_is_moved_aside_the_database_opens(tmp_path: Path) -> None:
    path = tmp_path / "agentos.db"
    path.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(StorageUnavailable):
        await open_database(config(path), environ={}, data_dir=tmp_path)

    path.rename(tmp_path / "agentos.db.damaged")
    database = await open_database(config(path), environ={}, data_dir=tmp_path)
    try:
        assert (await database.memories.list_memories(MemoryQuery())).total == 0
    finally:
        await database.close()


async def test_a_file_opened_read_only_fails_the_write_saying_so_and_the_next_write_opens_it_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agentos.db"
    opened: list[sqlite3.Connection] = []

    def connect(database: Path, **options: Any) -> sqlite3.Connection:
        connection = sqlite3.connect(database, **options)
        if not opened:  # the first connection finds the file read-only, as a file without write permission
            connection.execute("PRAGMA query_only = ON")
        opened.append(connection)
        return connection

    executor = SqliteExecutor(path, db_id="main", connect=connect)
    try:
        with pytest.raises(StorageUnavailable) as refused:
            await executor.write([(CREATE, {})])

        await executor.write([(CREATE, {}), (INSERT, {"id": "a"})])
        count = await executor.fetch([(COUNT, {})])
    finally:
        await executor.close()

    assert refused.value.detail == (
        f"database 'main': the file {path} cannot be written (attempt to write a readonly database): "
        "make it and its directory writable by the runtime's user"
    )
    assert count == [[(1,)]]


async def test_the_listings_and_edits_engine_opens_a_file_again_after_it_was_read_only(tmp_path: Path) -> None:
    database = await open_database(config(tmp_path / "agentos.db"), environ={}, data_dir=tmp_path)
    assert isinstance(database, SqlDatabase)
    try:
        async with database.engine.connect() as connection:  # this pooled connection now finds the file read-only
            await connection.exec_driver_sql("PRAGMA query_only = ON")
        row = MemoryRow(memory_id="m1", memory="likes tea", user_id="ana")

        with pytest.raises(StorageUnavailable, match="attempt to write a readonly database"):
            await database.memories.upsert_memory(row)
        await database.memories.upsert_memory(row)
        stored = await database.memories.list_memories(MemoryQuery())
    finally:
        await database.close()

    assert stored.total == 1


def remove_database_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def test_a_file_removed_while_in_use_fails_every_call_instead_of_writing_where_nothing_is_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agentos.db"
    executor = SqliteExecutor(path, db_id="main")
    try:
        await executor.write([(CREATE, {}), (INSERT, {"id": "a"})])
        remove_database_files(path)

        with pytest.raises(StorageUnavailable) as writing:
            await executor.write([(INSERT, {"id": "b"})])
        with pytest.raises(StorageUnavailable) as reading:
            await executor.fetch([(COUNT, {})])
    finally:
        await executor.close()

    assert writing.value.detail == (
        f"database 'main': the file {path} was removed while in use: "
        "restore it, or restart the runtime to start a new one"
    )
    assert reading.value.detail == writing.value.detail
    assert not path.exists()


async def test_a_file_restored_in_place_of_the_removed_one_is_the_one_used(tmp_path: Path) -> None:
    path = tmp_path / "agentos.db"
    executor = SqliteExecutor(path, db_id="main")
    try:
        await executor.write([(CREATE, {}), (INSERT, {"id": "a"})])
        remove_database_files(path)
        with sqlite3.connect(path) as restored:
            restored.execute(CREATE.sql)
            restored.executemany(INSERT.sql, [{"id": "x"}, {"id": "y"}])
        restored.close()

        count = await executor.fetch([(COUNT, {})])
    finally:
        await executor.close()

    assert count == [[(2,)]]


def backup(path: Path, to: Path) -> None:
    with sqlite3.connect(path) as source, sqlite3.connect(to) as copy:
        source.backup(copy)
    source.close()
    copy.close()


async def test_a_data_directory_removed_under_the_app_answers_503_naming_the_file_until_it_is_restored(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    path = (data_dir / "main-db.db").resolve()
    async with serve_on("sqlite", BASIC_CONFIG, data_dir) as served:
        client = served.client
        assert (await client.post("/sessions", json={"session_id": "kept"})).status_code == 201
        backup(path, tmp_path / "backup.db")
        shutil.rmtree(data_dir)

        refused = [
            await client.post("/sessions", json={"session_id": "lost"}),
            await client.post("/memories", json={"memory": "likes tea", "user_id": "ana"}),
            await client.get("/sessions"),
        ]
        assert not path.exists()  # nothing connected to make an empty file in its place

        data_dir.mkdir()
        (tmp_path / "backup.db").rename(path)
        created = await client.post("/sessions", json={"session_id": "after"})
        remembered = await client.post("/memories", json={"memory": "likes tea", "user_id": "ana"})
        listed = await client.get("/sessions")

    assert [(response.status_code, response.json()) for response in refused] == 3 * [
        (
            503,
            {
                "detail": f"database 'main-db': the file {path} was removed while in use: "
                "restore it, or restart the runtime to start a new one"
            },
        )
    ]
    assert created.status_code == 201
    assert remembered.status_code == 200
    assert sorted(session["session_id"] for session in listed.json()["data"]) == ["after", "kept"]


async def test_the_listings_and_edits_engine_reads_the_file_that_replaced_the_one_it_opened(tmp_path: Path) -> None:
    path = tmp_path / "agentos.db"
    database = await open_database(config(path), environ={}, data_dir=tmp_path)
    try:
        await database.memories.upsert_memory(MemoryRow(memory_id="m1", memory="likes tea", user_id="ana"))
        backup(path, tmp_path / "other.db")
        with sqlite3.connect(tmp_path / "other.db") as other:
            other.execute("UPDATE agno_memories SET memory = json_quote('likes coffee')")
        other.close()
        remove_database_files(path)
        (tmp_path / "other.db").rename(path)

        stored = await database.memories.list_memories(MemoryQuery())
    finally:
        await database.close()

    assert [row.memory for row in stored.items] == ["likes coffee"]


async def test_a_file_locked_by_another_connection_past_the_wait_fails_the_write_naming_it_and_works_once_let_go(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agentos.db"
    executor = SqliteExecutor(path, db_id="main", busy_timeout_ms=50)
    try:
        await executor.write([(CREATE, {})])
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # a writer that does not let go, as an open sqlite3 shell's
        with pytest.raises(StorageUnavailable) as refused:
            await executor.write([(INSERT, {"id": "a"})])
        holder.execute("COMMIT")
        holder.close()
        await executor.write([(INSERT, {"id": "a"})])
        count = await executor.fetch([(COUNT, {})])
    finally:
        await executor.close()

    assert refused.value.detail == (
        f"database 'main': the file {path} was locked by another connection for over 0.05 s (database is locked): "
        "try again; if it lasts, end what holds it (a long transaction, an open sqlite3 shell)"
    )
    assert count == [[(1,)]]
