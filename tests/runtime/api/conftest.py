"""Fixtures for the HTTP API: the app on a given config, served in process with its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from agentos_runtime.api.context import RuntimeContext
from agentos_runtime.app import AppDependencies, create_app
from agentos_runtime.config import DatabaseConfig, parse_config_text
from agentos_runtime.settings import Settings
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import Database

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
    **settings: Any,
) -> AsyncIterator[Served]:
    config = parse_config_text(config_text)
    app_settings = Settings(os_security_key=security_key, data_dir=data_dir, **settings)
    dependencies = AppDependencies(environ=dict(environ or {}), open_database=open_database)
    app = create_app(app_settings, config, dependencies=dependencies)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Served(client, app.state.context)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with serve(BASIC_CONFIG, data_dir=tmp_path) as running:
        yield running
