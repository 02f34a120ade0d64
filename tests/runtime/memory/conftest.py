"""Fixtures of the memory tests: the local OpenAI-compatible server, and the one-agent app on
the backend of each param (``tests/runtime/conftest.py``'s)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.api.harness import agent_config, serve_on
from tests.support.fake_openai import FakeOpenAIServer, fake_openai, fake_openai_server

__all__ = ["fake_openai", "fake_openai_server"]


@pytest.fixture
def serve(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> Callable[..., Any]:
    """Serve the one-agent config on ``backend``, the agent's fields as given."""

    def serving(**agent: Any) -> Any:
        return serve_on(backend, agent_config(fake_openai.base_url, **agent), tmp_path)

    return serving
