"""Fixtures for conformance: the runtime under uvicorn on 127.0.0.1, driven by Agno's own code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from tests.runtime.api.agno_client import serve_for_agno
from tests.runtime.api.harness import Served, agent_config
from tests.support.fake_openai import FakeOpenAIServer, fake_openai, fake_openai_server  # noqa: F401

SECURITY_KEY = "conformance-key"


@pytest.fixture
async def runtime(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:  # noqa: F811
    """The runtime on ``backend`` with one agent on the fake model, behind a security key.

    Agno's client keeps one shared httpx client per process; it is closed after each test so
    the next test (on its own event loop) gets a fresh one.
    """
    config = agent_config(fake_openai.base_url, add_history_to_context=True, description="Answers briefly.")
    async with serve_for_agno(backend, config, tmp_path, security_key=SECURITY_KEY) as running:
        yield running


@pytest.fixture
async def components_runtime(fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:  # noqa: F811
    """One agent, a team of it and a workflow of it on SQLite, behind the security key (for
    answers that do not depend on the backend, which the other conformance tests vary)."""
    document = yaml.safe_load(agent_config(fake_openai.base_url))
    document["teams"] = [{"id": "crew", "name": "Crew", "members": ["assistant"]}]
    document["workflows"] = [{"id": "flow", "name": "Flow", "steps": [{"name": "answer", "agent": "assistant"}]}]
    config = yaml.safe_dump(document)
    async with serve_for_agno("sqlite", config, tmp_path, security_key=SECURITY_KEY) as running:
        yield running
