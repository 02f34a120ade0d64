"""Fixtures of the MCP tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runtime.mcp.servers import serve_tool_server


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    with serve_tool_server() as port:
        yield port
