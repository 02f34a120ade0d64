"""SQLite's knowledge file (run with sqlean's driver where the interpreter's cannot load the
vector extension) that cannot serve is told as the runtime's own file is: damaged or truncated,
read-only, full, locked past the wait, unopenable. Each is ``StorageUnavailable`` naming the
file and the fix, so every ``/knowledge`` route answers 503 with its detail and a run's search
ends with the tool's error, never a 500; once the file is fixed the next call works, on a
connection opened again where the fault stayed with the old one."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.knowledge.base import KnowledgeBase, Upload
from agentos_runtime.knowledge.records import Chunk, Content
from agentos_runtime.knowledge.stores import sqlite_files
from agentos_runtime.knowledge.stores.sqlite_files import connect_knowledge, driver_module, knowledge_path
from agentos_runtime.knowledge.stores.sqlite_vec import SqliteVecStore
from agentos_runtime.storage.factory import sqlite_path
from agentos_runtime.storage.sql.sqlite_executor import SqliteExecutor, file_problem

from tests.runtime.api.harness import Served, read_frames
from tests.runtime.knowledge.search_fakes import LAPTOPS, VACATION, search_call
from tests.runtime.knowledge.serving import knowledge_config, serve_knowledge
from tests.runtime.knowledge.stores.conftest import store_settings
from tests.support.fake_embeddings import fake_embedding
from tests.support.fake_openai import FakeOpenAIServer, Reply, fake_openai, fake_openai_server

__all__ = ["fake_openai", "fake_openai_server"]

DIMENSIONS = 8
DAMAGED = "is not a SQLite database or is damaged"
MOVE_ASIDE = "restore it from a backup, or move it aside to start with an empty one"


@dataclass
class Volume:
    """What the knowledge file's volume does to the connections made while it is so: the file
    read-only to them, or no room for another page. Set by the test, read by the connections."""

    read_only: bool = False
    full: bool = False


def connecting_on(volume: Volume) -> Callable[..., Any]:
    """``connect_knowledge`` whose connections meet ``volume``'s faults when a write begins."""
    driver = driver_module()

    class OnVolume(driver.Connection):  # type: ignore[misc, name-defined]
        def __init__(self, *args: Any, **options: Any) -> None:
            super().__init__(*args, **options)
            self.read_only = volume.read_only  # a file opened read-only stays so for the connection

        def execute(self, sql: str, *args: Any) -> Any:
            if sql == "BEGIN IMMEDIATE":
                super().execute(f"PRAGMA query_only = {'ON' if self.read_only else 'OFF'}")
                pages = int(super().execute("PRAGMA page_count").fetchone()[0])
                super().execute(f"PRAGMA max_page_count = {pages if volume.full else 1 << 30}")
            return super().execute(sql, *args)

    def connect(path: Path, **options: Any) -> Any:
        return connect_knowledge(path, factory=OnVolume, **options)

    return connect


@asynccontextmanager
async def knowledge_store(
    path: Path, *, connect: Callable[..., Any] = connect_knowledge, busy_timeout_ms: int = 20_000
) -> AsyncIterator[SqliteVecStore]:
    executor = SqliteExecutor(
        path, db_id="main", connect=connect, driver=driver_module(), busy_timeout_ms=busy_timeout_ms
    )
    store = SqliteVecStore(executor, store_settings(chunks_table="knowledge_docs", dimensions=DIMENSIONS))
    try:
        await store.prepare()
        yield store
    finally:
        await executor.close()


def content(content_id: str) -> Content:
    return Content(id=content_id, name=f"{content_id}.md", linked_to="docs", created_at=100, updated_at=100)


def chunks(content_id: str, text: str, count: int = 1) -> list[Chunk]:
    return [
        Chunk(
            id=f"{content_id}-{n}",
            content_id=content_id,
            name=f"{content_id}.md",
            content=f"{text} ({n})",
            embedding=fake_embedding(text, DIMENSIONS),
        )
        for n in range(count)
    ]


async def completed(store: SqliteVecStore, content_id: str, text: str, count: int = 1) -> None:
    await store.add_content(content(content_id))
    assert await store.complete_content(content_id, chunks(content_id, text, count), updated_at=200)


async def found(store: SqliteVecStore, text: str) -> list[str]:
    return [hit.content_id or "" for hit in await store.search(fake_embedding(text, DIMENSIONS), limit=5)]


def backup(path: Path, to: Path) -> None:
    """A consistent copy of the knowledge file (its WAL included)."""
    source, copy = connect_knowledge(path), connect_knowledge(to)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()


def copy_of(path: Path, tmp_path: Path) -> bytes:
    backup(path, tmp_path / "copy.db")
    return (tmp_path / "copy.db").read_bytes()


def put_in_place(path: Path, data: bytes) -> None:
    """``data`` as the file at ``path``, a new file (a copy restored or broken over it), no WAL beside it."""
    staged = path.with_name(f"{path.name}.staged")
    staged.write_bytes(data)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    staged.replace(path)


def opened_read_only(path: Path, volume: Volume, tmp_path: Path) -> None:
    """The knowledge file read-only from now on: ``volume`` made read-only and a copy restored over
    the file, so every connection opens it again, read-only."""
    volume.read_only = True
    put_in_place(path, copy_of(path, tmp_path))


def damaged(path: Path, tmp_path: Path) -> bytes:
    """Garbage put in place of the knowledge file; the file as it was, to put back."""
    saved = copy_of(path, tmp_path)
    put_in_place(path, b"\x00garbage" * 1000)
    return saved


# --- the store on the knowledge file ------------------------------------------------------------


@asynccontextmanager
async def holding_vacation_days(tmp_path: Path, **options: Any) -> AsyncIterator[tuple[Path, SqliteVecStore]]:
    """A store on a knowledge file in ``tmp_path`` (``knowledge_store`` with ``options``) holding ``c1``,
    "vacation days", before any fault: the file's path and the store."""
    path = tmp_path / "agentos.knowledge.db"
    async with knowledge_store(path, **options) as store:
        await completed(store, "c1", "vacation days")
        yield path, store


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda data: b"this is no SQLite file, whatever its name says" * 100, "file is not a database"),
        (lambda data: data[:4096], "database disk image is malformed"),  # the first page left: every table cut off
    ],
    ids=["garbage", "truncated"],
)
async def test_a_damaged_knowledge_file_fails_every_call_naming_it_and_its_backup_put_back_works(
    tmp_path: Path, damage: Callable[[bytes], bytes], said: str
) -> None:
    async with holding_vacation_days(tmp_path) as (path, store):
        backup(path, tmp_path / "backup.db")
        put_in_place(path, damage((tmp_path / "backup.db").read_bytes()))

        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "search": lambda: found(store, "vacation days"),
            "list": lambda: store.list_contents(page=1, limit=10),
            "get": lambda: store.get_content("c1"),
            "add": lambda: store.add_content(content("c2")),
            "delete": lambda: store.delete_content("c1"),
        }
        details: dict[str, str] = {}
        for name, call in calls.items():
            with pytest.raises(StorageUnavailable) as refused:
                await call()
            details[name] = refused.value.detail

        put_in_place(path, (tmp_path / "backup.db").read_bytes())
        after = await found(store, "vacation days")
        await completed(store, "c2", "expense reports")

    expected = f"database 'main': the file {path} {DAMAGED} ({said}): {MOVE_ASIDE}"
    assert details == dict.fromkeys(calls, expected)
    assert after == ["c1"]


async def test_a_knowledge_file_opened_read_only_fails_writes_saying_so_and_once_writable_takes_them(
    tmp_path: Path,
) -> None:
    volume = Volume()
    async with holding_vacation_days(tmp_path, connect=connecting_on(volume)) as (path, store):
        opened_read_only(path, volume, tmp_path)

        with pytest.raises(StorageUnavailable) as adding:
            await store.add_content(content("c2"))
        still_found = await found(store, "vacation days")  # reading needs no write
        with pytest.raises(StorageUnavailable) as deleting:
            await store.delete_content("c1")
        volume.read_only = False
        await completed(store, "c2", "expense reports")
        listed, total = await store.list_contents(page=1, limit=10)

    assert adding.value.detail == (
        f"database 'main': the file {path} cannot be written (attempt to write a readonly database): "
        "make it and its directory writable by the runtime's user"
    )
    assert deleting.value.detail == adding.value.detail
    assert still_found == ["c1"] and total == 2 and {item.id for item in listed} == {"c1", "c2"}


async def test_a_full_volume_fails_the_write_naming_the_file_and_once_there_is_room_the_next_write_is_kept(
    tmp_path: Path,
) -> None:
    volume = Volume()
    async with holding_vacation_days(tmp_path, connect=connecting_on(volume)) as (path, store):
        await store.add_content(content("c2"))
        volume.full = True

        with pytest.raises(StorageUnavailable) as completing:
            await store.complete_content("c2", chunks("c2", "expense reports", count=200), updated_at=300)
        volume.full = False
        assert await store.complete_content("c2", chunks("c2", "expense reports", count=200), updated_at=300)
        counted = await store.counts()

    assert completing.value.detail == (
        f"database 'main': the file {path} cannot grow (database or disk is full): "
        "free space on its volume, or give it a larger one"
    )
    assert counted == (2, 201)


async def test_a_knowledge_file_locked_by_another_connection_past_the_wait_fails_the_write_and_works_once_let_go(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agentos.knowledge.db"
    async with knowledge_store(path, busy_timeout_ms=50) as store:
        holder = driver_module().connect(str(path), isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # a writer that does not let go, as an open sqlite3 shell's

            with pytest.raises(StorageUnavailable) as adding:
                await store.add_content(content("c1"))
            listed = await store.list_contents(page=1, limit=10)  # readers do not wait for a writer (WAL)
            holder.execute("COMMIT")
            await completed(store, "c1", "vacation days")
        finally:
            holder.close()
        after = await found(store, "vacation days")

    assert adding.value.detail == (
        f"database 'main': the file {path} was locked by another connection for over 0.05 s (database is locked): "
        "try again; if it lasts, end what holds it (a long transaction, an open sqlite3 shell)"
    )
    assert listed == ([], 0) and after == ["c1"]


async def test_a_knowledge_file_whose_directory_cannot_be_made_fails_naming_it_and_opens_once_it_can(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "agentos.knowledge.db"
    (tmp_path / "data").write_text("a file where the data directory should be")
    executor = SqliteExecutor(path, db_id="main", connect=connect_knowledge, driver=driver_module())
    store = SqliteVecStore(executor, store_settings(chunks_table="docs", dimensions=8))
    try:
        with pytest.raises(StorageUnavailable) as preparing:
            await store.prepare()
        (tmp_path / "data").unlink()
        await store.prepare()
        await store.add_content(content("c1"))
    finally:
        await executor.close()

    assert preparing.value.detail.startswith(f"database 'main': the file {path} cannot be opened (")
    assert str(tmp_path / "data") in preparing.value.detail
    assert preparing.value.detail.endswith(
        "make its directory exist, and it and its directory readable and writable by the runtime's user"
    )


async def test_a_knowledge_file_removed_while_in_use_fails_every_call_until_it_is_restored(tmp_path: Path) -> None:
    async with holding_vacation_days(tmp_path) as (path, store):
        saved = copy_of(path, tmp_path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

        with pytest.raises(StorageUnavailable) as searching:
            await found(store, "vacation days")
        put_in_place(path, saved)
        after = await found(store, "vacation days")

    assert searching.value.detail == (
        f"database 'main': the file {path} was removed while in use: "
        "restore it, or restart the runtime to start a new one"
    )
    assert after == ["c1"]


# --- what a driver's error says of the file: the same for the standard library's and sqlean's -----


def driver_error(driver: Any, message: str, code: int) -> Exception:
    error: Exception = driver.OperationalError(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]  # as the driver sets it
    return error


@pytest.mark.parametrize("driver", [sqlite3, driver_module()], ids=["sqlite3", "knowledge driver"])
@pytest.mark.parametrize(
    ("message", "code", "said"),
    [
        ("disk I/O error", 778, "could not be read or written (disk I/O error): check the volume it is on"),
        ("attempt to write a readonly database", 1544, "cannot be written (attempt to write a readonly database)"),
        ("database is locked", 517, "was locked by another connection for over 20 s (database is locked)"),
        ("unable to open database file", 14, "cannot be opened (unable to open database file)"),
    ],
    ids=["io write", "read-only directory", "busy snapshot", "cannot open"],
)
def test_an_extended_result_code_is_told_by_its_primary_one(driver: Any, message: str, code: int, said: str) -> None:
    problem = file_problem(driver_error(driver, message, code), Path("/data/agentos.knowledge.db"))

    assert problem is not None and problem.startswith(f"the file /data/agentos.knowledge.db {said}")


def test_a_statement_error_is_not_the_files() -> None:
    error = driver_error(driver_module(), "no such column: x", 1)

    assert file_problem(error, Path("/data/agentos.knowledge.db")) is None


# --- over HTTP, through the app ---------------------------------------------------------------


def served_knowledge_file(served: Served, data_dir: Path) -> Path:
    (opened,) = served.context.databases.values()
    return knowledge_path(sqlite_path(opened.config, data_dir)).resolve()


@dataclass
class ServedDocs:
    """The app serving knowledge base ``docs`` on SQLite, with VACATION uploaded and ingested."""

    base: KnowledgeBase
    client: httpx.AsyncClient
    path: Path  # its knowledge file
    content_id: str  # VACATION's


@asynccontextmanager
async def serving_vacation(fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[ServedDocs]:
    async with serve_knowledge("sqlite", knowledge_config(fake_openai.base_url, {"id": "docs"}), tmp_path) as served:
        assert served.context.knowledge is not None
        base, client = served.context.knowledge["docs"], served.client
        uploaded = await client.post("/knowledge/content", data={"text_content": VACATION})
        await base.wait_idle()
        yield ServedDocs(base, client, served_knowledge_file(served, tmp_path), uploaded.json()["id"])


async def test_every_knowledge_route_on_a_damaged_file_answers_503_naming_it_and_works_once_it_is_restored(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    async with serving_vacation(fake_openai, tmp_path) as docs:
        client, content_id = docs.client, docs.content_id
        saved = damaged(docs.path, tmp_path)
        calls = {
            "search": lambda: client.post("/knowledge/search", json={"query": "vacation days"}),
            "list": lambda: client.get("/knowledge/content"),
            "get": lambda: client.get(f"/knowledge/content/{content_id}"),
            "upload": lambda: client.post("/knowledge/content", data={"text_content": LAPTOPS}),
            "delete": lambda: client.delete(f"/knowledge/content/{content_id}"),
        }
        refused = {route: await call() for route, call in calls.items()}

        put_in_place(docs.path, saved)
        answered = {route: await call() for route, call in calls.items()}
        await docs.base.wait_idle()
        found = await client.post("/knowledge/search", json={"query": "laptop replacement"})

    detail = f"database 'main-db': the file {docs.path} {DAMAGED} (file is not a database): {MOVE_ASIDE}"
    assert {route: (response.status_code, response.json()) for route, response in refused.items()} == dict.fromkeys(
        calls, (503, {"detail": detail})
    )
    assert {route: response.status_code for route, response in answered.items()} == {
        "search": 200,
        "list": 200,
        "get": 200,
        "upload": 202,
        "delete": 200,
    }
    assert [hit["content"] for hit in answered["search"].json()["data"]] == [VACATION]
    assert [hit["content"] for hit in found.json()["data"]] == [LAPTOPS]


async def test_the_write_routes_on_a_read_only_knowledge_file_answer_503_saying_so_and_the_reads_still_work(
    fake_openai: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    volume = Volume()
    monkeypatch.setattr(sqlite_files, "connect_knowledge", connecting_on(volume))
    async with serving_vacation(fake_openai, tmp_path) as docs:
        client = docs.client
        opened_read_only(docs.path, volume, tmp_path)

        refused = [
            await client.post("/knowledge/content", data={"text_content": LAPTOPS}),
            await client.delete(f"/knowledge/content/{docs.content_id}"),
        ]
        searched = await client.post("/knowledge/search", json={"query": "vacation days"})
        listed = await client.get("/knowledge/content")
        volume.read_only = False
        await client.post("/knowledge/content", data={"text_content": LAPTOPS})  # the read-only connection goes
        added = await client.post("/knowledge/content", data={"text_content": LAPTOPS, "name": "it.md"})
        await docs.base.wait_idle()

    detail = (
        f"database 'main-db': the file {docs.path} cannot be written (attempt to write a readonly database): "
        "make it and its directory writable by the runtime's user"
    )
    assert [(response.status_code, response.json()) for response in refused] == 2 * [(503, {"detail": detail})]
    assert searched.status_code == 200 and [hit["content"] for hit in searched.json()["data"]] == [VACATION]
    assert listed.status_code == 200 and listed.json()["meta"]["total_count"] == 1
    assert added.status_code == 202


def helpdesk_config(model_url: str) -> str:
    return knowledge_config(model_url, {"id": "handbook"}, agents=[{"id": "helpdesk", "knowledge": "handbook"}])


async def test_a_run_whose_search_finds_the_knowledge_file_damaged_completes_with_the_tools_error_naming_it(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    async with serve_knowledge("sqlite", helpdesk_config(fake_openai.base_url), tmp_path) as served:
        assert served.context.knowledge is not None
        handbook, client = served.context.knowledge["handbook"], served.client
        path = served_knowledge_file(served, tmp_path)
        await handbook.add(Upload(name="vacation.md", text=VACATION))
        await handbook.wait_idle()
        saved = damaged(path, tmp_path)
        run = {"message": "Vacation?", "session_id": "s-1"}

        fake_openai.script(Reply.call(search_call("vacation")), Reply.say("I cannot search the handbook now."))
        async with client.stream("POST", "/agents/helpdesk/runs", data=run) as streamed:
            frames = [frame async for frame in read_frames(streamed)]
        put_in_place(path, saved)
        fake_openai.script(Reply.call(search_call("vacation")), Reply.say("25 days."))
        after = await client.post("/agents/helpdesk/runs", data={**run, "stream": "false"})

    names = [frame.event for frame in frames]
    assert streamed.status_code == 200 and names[-1] == "RunCompleted" and "RunError" not in names
    tool = frames[names.index("ToolCallCompleted")].data["tool"]
    assert tool["tool_call_error"] is True
    assert tool["result"] == (
        "Error: KnowledgeSearchError: knowledge base 'handbook' could not be searched: "
        f"database 'main-db': the file {path} {DAMAGED} (file is not a database): {MOVE_ASIDE}"
    )
    assert after.status_code == 200 and after.json()["status"] == "COMPLETED"
    assert [found["content"] for found in after.json()["references"][0]["references"]] == [VACATION]
