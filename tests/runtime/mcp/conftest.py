"""Fixtures of the MCP tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runtime.mcp.servers import serve_tool_server
from tests.support.fake_openai import fake_openai, fake_openai_server

__all__ = ["fake_openai", "fake_openai_server"]


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    with serve_tool_server() as port:
        yield port
