"""Failures: writes that fail leave nothing half-written; a database that is down says so, fast."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.factory import open_database
from agentos_runtime.storage.ports import (
    Database,
    MemoryQuery,
    MemoryRow,
    SessionChanges,
    SessionQuery,
    SessionRow,
)

from tests.runtime.storage.tcp_proxy import TcpProxy
from tests.support.databases import (
    BACKENDS,
    delete_redis_keys,
    drop_postgres_schema,
    fresh_database,
    postgres_url,
    redis_url,
    storage_config,
    unique_name,
)
from tests.support.ports import free_port

PASSWORD = "s3cret-Pa55word"
# Far below what a hung connect would take; the store's connect timeout is 3 s.
FAST_SECONDS = 5.0


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database(request.param, tmp_path) as database:
        yield database


def session(**fields: object) -> SessionRow:
    values: dict[str, object] = {"session_type": "agent", "created_at": 1_000, "agent_id": "assistant"}
    values.update(fields)
    return SessionRow(session_id="s1", **values)  # type: ignore[arg-type]


def run(run_id: str, **fields: object) -> dict[str, object]:
    return {"run_id": run_id, "agent_id": "assistant", **fields}


def closed_port() -> int:
    """A port nothing listens on (``free_port``: nor is one likely to, unlike a port the kernel hands out)."""
    return free_port()


def at_port(url: str, port: int, *, password: str | None = None) -> str:
    """``url`` pointed at ``port`` on 127.0.0.1, with ``password`` when given."""
    parts = urlsplit(url)
    user = parts.username or ""
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return parts._replace(netloc=f"{credentials}127.0.0.1:{port}").geturl()


async def test_a_run_that_fails_to_write_leaves_the_stored_session_unchanged(db: Database) -> None:
    await db.sessions.save_run(session(), run("r1", content="kept"), session_state={"n": 1})
    before = await db.sessions.get_session("s1")

    with pytest.raises(TypeError):
        await db.sessions.save_run(session(), run("r2", content=object()), session_state={"n": 2})
    with pytest.raises(TypeError):
        await db.sessions.save_run(session(), run("r1", content={1, 2}), session_state={"n": 3})

    assert await db.sessions.get_session("s1") == before


async def test_a_failed_first_run_creates_no_session(db: Database) -> None:
    with pytest.raises(TypeError):
        await db.sessions.save_run(session(), run("r1", content=object()), session_state=None)

    assert await db.sessions.get_session("s1") is None
    assert (await db.sessions.list_sessions(SessionQuery())).total == 0


async def test_a_failed_session_upsert_leaves_the_previous_row_and_runs(db: Database) -> None:
    before = await db.sessions.upsert_session(session(metadata={"v": 1}, runs=[run("r1"), run("r2")]))

    with pytest.raises(TypeError):
        await db.sessions.upsert_session(session(metadata={"v": 2}, runs=[run("r1"), run("r3", content=object())]))

    assert await db.sessions.get_session("s1") == before


async def test_a_failed_session_update_changes_nothing(db: Database) -> None:
    before = await db.sessions.upsert_session(session(session_data={"session_name": "Kept"}))

    with pytest.raises(TypeError):
        await db.sessions.update_session("s1", SessionChanges(session_name="Lost", metadata={"bad": object()}))

    assert await db.sessions.get_session("s1") == before


async def test_a_missing_url_variable_is_reported_by_name(tmp_path: Path) -> None:
    config = DatabaseConfig(id="main", type="postgres", url_env="MAIN_DB_URL")

    with pytest.raises(StorageUnavailable, match="MAIN_DB_URL is not set"):
        await open_database(config, environ={}, data_dir=tmp_path)


async def test_a_url_of_another_database_kind_is_refused_without_showing_it(tmp_path: Path) -> None:
    config = DatabaseConfig(id="main", type="postgres")

    with pytest.raises(StorageUnavailable) as raised:
        await open_database(config, environ={"DATABASE_URL": f"mysql://root:{PASSWORD}@db/x"}, data_dir=tmp_path)

    assert PASSWORD not in str(raised.value)
    assert "DATABASE_URL" in str(raised.value)


async def test_a_sqlite_file_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("a file")
    config = DatabaseConfig(id="main", type="sqlite", path=str(tmp_path / "not-a-dir" / "agentos.db"))

    with pytest.raises(StorageUnavailable, match="main"):
        await open_database(config, environ={}, data_dir=tmp_path)


@pytest.mark.parametrize(("kind", "base_url"), [("postgres", postgres_url), ("redis", redis_url)])
async def test_an_unreachable_server_is_unavailable_quickly_and_the_error_hides_the_password(
    kind: str, base_url: Callable[[], str], tmp_path: Path
) -> None:
    url = at_port(base_url(), closed_port(), password=PASSWORD)
    config = storage_config(kind, name=unique_name("down"))
    started = time.monotonic()

    with pytest.raises(StorageUnavailable) as raised:
        await open_database(config, environ={"DATABASE_URL": url, "REDIS_URL": url}, data_dir=tmp_path)

    assert time.monotonic() - started < FAST_SECONDS
    assert PASSWORD not in str(raised.value) and PASSWORD not in repr(raised.value.__cause__)
    assert config.id in str(raised.value)


def calls_while_down(database: Database) -> list[Callable[[], Awaitable[object]]]:
    return [
        database.ping,
        lambda: database.sessions.get_session("s1"),
        lambda: database.sessions.list_sessions(SessionQuery()),
        lambda: database.sessions.save_run(session(), run("r2"), session_state=None),
        lambda: database.sessions.update_session("s1", SessionChanges(session_name="x")),
        lambda: database.sessions.delete_sessions(["s1"]),
        lambda: database.memories.list_memories(MemoryQuery()),
        lambda: database.memories.upsert_memory(MemoryRow(memory_id="m1", memory="x")),
        lambda: database.memories.list_topics(),
    ]


@pytest.mark.parametrize(("kind", "base_url"), [("postgres", postgres_url), ("redis", redis_url)])
async def test_every_call_fails_fast_while_the_server_is_down_and_works_again_when_it_is_back(
    kind: str, base_url: Callable[[], str], tmp_path: Path
) -> None:
    server = urlsplit(base_url())
    proxy = TcpProxy(server.hostname or "127.0.0.1", server.port or 0)
    await proxy.start()
    name = unique_name("outage")
    url = at_port(base_url(), proxy.port)
    database = await open_database(
        storage_config(kind, name=name), environ={"DATABASE_URL": url, "REDIS_URL": url}, data_dir=tmp_path
    )
    try:
        await database.sessions.save_run(session(), run("r1"), session_state=None)
        written = await database.sessions.get_session("s1")

        await proxy.stop()
        for call in calls_while_down(database):
            started = time.monotonic()
            with pytest.raises(StorageUnavailable):
                await call()
            assert time.monotonic() - started < FAST_SECONDS

        await proxy.start()
        await database.ping()
        assert await database.sessions.get_session("s1") == written
    finally:
        await database.close()
        await proxy.stop()
        if kind == "postgres":
            await drop_postgres_schema(name)
        else:
            await delete_redis_keys(name)
