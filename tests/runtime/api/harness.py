"""Serving the app for tests: in process, or under uvicorn on 127.0.0.1, on any backend.

``serve_on(kind, ...)`` puts the config's databases on one backend (SQLite file, PostgreSQL
schema, Redis key prefix, each isolated and removed afterwards) and opens them through the
real ``open_database`` factory. ``read_frames`` reads an event stream as a client does.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml
from agentos_runtime.api.assembly import Connectors
from agentos_runtime.api.context import RuntimeContext
from agentos_runtime.app import create_app
from agentos_runtime.config import DatabaseConfig, parse_config_text
from agentos_runtime.settings import Settings
from agentos_runtime.storage.factory import open_database
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import Database

from tests.support.databases import isolated_storage

BASIC_CONFIG = """
os_id: test-os
name: Test OS
models:
  - id: fake
    model: fake-model
    base_url: http://127.0.0.1:9/v1
    api_key_env: null
agents:
  - id: assistant
    name: Assistant
    description: Answers questions.
"""

Opener = Callable[..., Awaitable[Database]]
START_DEADLINE = 10.0
HTTP_TIMEOUT = 15.0


async def in_memory(config: DatabaseConfig, *, environ: Mapping[str, str], data_dir: Path) -> Database:
    return InMemoryDatabase(id=config.id)


class Served:
    """A running app: an HTTP client on it and its open runtime context."""

    def __init__(self, client: httpx.AsyncClient, context: RuntimeContext) -> None:
        self.client = client
        self.context = context

    def database(self, db_id: str | None = None) -> Database:
        return self.context.databases[db_id or self.context.default_db_id].database


@asynccontextmanager
async def serve(
    config_text: str,
    *,
    data_dir: Path,
    security_key: str | None = None,
    open_database: Opener = in_memory,
    environ: Mapping[str, str] | None = None,
    over_sockets: bool = False,
    **settings: Any,
) -> AsyncIterator[Served]:
    """The app on ``config_text``: in process, or under uvicorn (``over_sockets``) when a test
    must see a stream arrive frame by frame."""
    app = build_app(
        config_text,
        data_dir=data_dir,
        security_key=security_key,
        open_database=open_database,
        environ=environ,
        **settings,
    )
    if over_sockets:
        async with uvicorn_in_loop(app) as listening:
            async with httpx.AsyncClient(base_url=listening.base_url, timeout=HTTP_TIMEOUT) as client:
                yield Served(client, app.state.context)
        return
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Served(client, app.state.context)


async def models_built(served: Served, *, timeout: float = HTTP_TIMEOUT) -> None:
    """Once the model clients' start-up build is over: until then ``/ready`` says ``models: starting``
    (on a loaded machine, or where the SDK is imported first, longer than the moment each ``/ready``
    waits for it, so that loop needs no pause of its own)."""
    deadline = time.monotonic() + timeout
    while (await served.client.get("/ready")).json().get("models") == "starting":
        assert time.monotonic() < deadline, f"the model clients were not built within {timeout:g} s"


def build_app(
    config_text: str,
    *,
    data_dir: Path,
    security_key: str | None = None,
    open_database: Opener = in_memory,
    environ: Mapping[str, str] | None = None,
    **settings: Any,
) -> Any:
    config = parse_config_text(config_text)
    app_settings = Settings(os_security_key=security_key, data_dir=data_dir, **settings)
    connectors = Connectors(environ=dict(environ or {}), open_database=open_database)
    return create_app(app_settings, config, connectors=connectors)


@dataclass(frozen=True)
class Listening:
    base_url: str
    server: uvicorn.Server


@asynccontextmanager
async def uvicorn_in_loop(app: Any, *, graceful_seconds: float = 5.0) -> AsyncIterator[Listening]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in this event loop, so tests share its connections.

    Real sockets, so streamed responses arrive frame by frame (an in-process ASGI transport
    would hand over the whole body at the end). Leaving the block shuts the server down as
    SIGTERM would: open requests get ``graceful_seconds``, then the lifespan ends.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=graceful_seconds)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + START_DEADLINE
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            server.should_exit = True
            await task
            sock.close()
            raise RuntimeError("the app did not start")
        await asyncio.sleep(0.005)
    try:
        yield Listening(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        await task
        sock.close()


def with_databases(config_text: str, databases: list[dict[str, Any]]) -> str:
    document = yaml.safe_load(config_text) or {}
    document["databases"] = databases
    return yaml.safe_dump(document, allow_unicode=True)


@asynccontextmanager
async def serve_on(  # type: ignore[no-untyped-def]
    kind: str,
    config_text: str,
    tmp_path: Path,
    *,
    databases: Mapping[str, dict[str, Any]] | None = None,
    urls: Mapping[str, str] | None = None,
    **kw: Any,
):
    """``config_text`` with ``databases`` (id to extra fields) on backend ``kind``, each isolated.

    ``urls`` replaces the environment's database URLs (``DATABASE_URL``, ``REDIS_URL``).
    """
    async with serve_replicas(kind, config_text, tmp_path, databases=databases, urls=urls, **kw) as [served]:
        yield served


@asynccontextmanager
async def serve_replicas(  # type: ignore[no-untyped-def]
    kind: str,
    config_text: str,
    tmp_path: Path,
    *,
    count: int = 1,
    databases: Mapping[str, dict[str, Any]] | None = None,
    urls: Mapping[str, str] | None = None,
    **kw: Any,
):
    """``count`` apps on ``config_text`` sharing its isolated databases, as replicas do (``serve_on``)."""
    async with shared_storage(kind, tmp_path, databases=databases, urls=urls, **kw) as serving:
        async with AsyncExitStack() as replicas:
            yield [await replicas.enter_async_context(serving(config_text)) for _ in range(count)]


@asynccontextmanager
async def shared_storage(  # type: ignore[no-untyped-def]
    kind: str,
    tmp_path: Path,
    *,
    databases: Mapping[str, dict[str, Any]] | None = None,
    urls: Mapping[str, str] | None = None,
    **kw: Any,
):
    """``databases`` (id to extra fields) on backend ``kind``, each isolated, and a way to serve
    any config on them (``serving(config_text)``, an app's context): apps one after the other on
    changed configs over the same stored runs, as a redeploy gives them."""
    databases = databases or {"main-db": {}}
    ids = tuple(databases)
    async with isolated_storage(kind, tmp_path) as storage:
        base = storage.config
        entries = []
        for index, db_id in enumerate(ids):
            entry: dict[str, Any] = {"id": db_id, "type": base.type, **databases[db_id]}
            if kind == "postgres":
                entry["db_schema"] = f"{base.db_schema}_{index}"
            if kind == "redis":
                entry["key_prefix"] = f"{base.key_prefix}_{index}"
            entries.append(entry)
        environ = {**storage.environ, **(urls or {})}

        def serving(config_text: str) -> AbstractAsyncContextManager[Served]:
            text = with_databases(config_text, entries)
            return serve(text, data_dir=tmp_path, open_database=open_database, environ=environ, **kw)

        try:
            yield serving
        finally:
            await _drop(kind, base, len(ids))


async def _drop(kind: str, base: DatabaseConfig, count: int) -> None:
    from tests.support.databases import delete_redis_keys, drop_postgres_schema

    for index in range(count):
        if kind == "postgres":
            await drop_postgres_schema(f"{base.db_schema}_{index}")
        if kind == "redis":
            await delete_redis_keys(f"{base.key_prefix}_{index}")


def agent_config(base_url: str, **agent: Any) -> str:
    """One agent on the fake OpenAI server, with the calculator tool."""
    document = {
        "os_id": "runs-os",
        "models": [{"id": "fake", "model": "fake-model", "base_url": base_url, "api_key_env": None, "max_retries": 0}],
        "agents": [{"id": "assistant", "name": "Assistant", "tools": ["calculator"], **agent}],
    }
    return yaml.safe_dump(document)


CONFIRMED = {"calculator": {"requires_confirmation": True}}


def broadcast_document(base_url: str) -> dict[str, Any]:
    """Team crew broadcasting to agents assistant and checker, whose calculator calls each wait
    for a confirmation, on the fake OpenAI server; a document to adjust before serving it."""
    document: dict[str, Any] = yaml.safe_load(agent_config(base_url, tool_config=CONFIRMED))
    document["agents"].append({"id": "checker", "name": "Checker", "tools": ["calculator"], "tool_config": CONFIRMED})
    document["teams"] = [{"id": "crew", "model": "fake", "members": ["assistant", "checker"], "mode": "broadcast"}]
    return document


def crew_document(base_url: str) -> dict[str, Any]:
    """Team crew whose one member is agent assistant, whose calculator calls each wait for a
    confirmation, on the fake OpenAI server; a document to adjust before serving it."""
    document: dict[str, Any] = yaml.safe_load(agent_config(base_url, tool_config=CONFIRMED))
    document["teams"] = [{"id": "crew", "model": "fake", "members": ["assistant"]}]
    return document


@dataclass(frozen=True)
class Frame:
    """One server-sent event as a client reads it."""

    event: str
    data: dict[str, Any]


def parse_frames(raw: str) -> list[Frame]:
    """Split an event stream into frames (``event:`` and ``data:`` lines, blank line between)."""
    frames = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        assert set(fields) == {"event", "data"}, block
        frames.append(Frame(fields["event"], json.loads(fields["data"])))
    return frames


async def stream_frames(served: Served, path: str, form: dict[str, str]) -> list[Frame]:
    """Every frame of the run streamed by ``POST path`` with ``form``, read as a client reads them."""
    async with served.client.stream("POST", path, data=form) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        return [frame async for frame in read_frames(response)]


async def read_frames(response: httpx.Response) -> AsyncIterator[Frame]:
    """Frames as they arrive, frame by frame."""
    buffer = ""
    async for text in response.aiter_text():
        buffer += text
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            for frame in parse_frames(block + "\n\n"):
                yield frame
    assert buffer == "", f"unterminated frame: {buffer!r}"
