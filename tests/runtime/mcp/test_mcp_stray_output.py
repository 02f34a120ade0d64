"""What a server sends that is not MCP is ignored, and a server that keeps dying is retried ever less often."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from agentos_runtime.tools.mcp import connection as connection_module
from agentos_runtime.tools.mcp.connection import (
    FIRST_RETRY_SECONDS,
    HEALTHY_SECONDS,
    MAX_RETRY_SECONDS,
    McpConnection,
    retry_delay,
)
from agentos_runtime.tools.mcp.metrics import McpMetrics

from tests.runtime.mcp.servers import ENVIRON, SERVER_SCRIPT, stdio_server

WAIT = 20.0

# The suite's tool server after a banner on stdout (once serving, the SDK diverts print() to stderr).
CHATTY_SERVER = f"""
import sys
sys.path.insert(0, {str(SERVER_SCRIPT.parent)!r})
print("HELLO THIS IS NOT JSON", flush=True)
from tool_server import build_server
build_server().run("stdio")
"""


@pytest.fixture
def chatty_script(tmp_path: Path) -> Path:
    script = tmp_path / "chatty_server.py"
    script.write_text(CHATTY_SERVER)
    return script


async def test_a_stdio_server_printing_a_line_that_is_not_json_stays_connected_and_its_tools_work(
    chatty_script: Path, caplog: pytest.LogCaptureFixture
) -> None:
    connection = McpConnection(stdio_server(args=[str(chatty_script)]), ENVIRON, metrics=McpMetrics())
    await connection.start(wait_seconds=WAIT)
    try:
        await connection.wait_for(lambda: connection.stray_messages >= 1, timeout=WAIT)
        assert await connection.call("lookup", {"key": "answer"}) == "42"
        assert await connection.call("lookup", {"key": "capital-of-france"}) == "Paris"
        assert connection.connected
    finally:
        await connection.close()
    assert connection.listings == 1
    assert connection.metrics.connection_failures.value(("local",)) == 0
    assert "reconnecting" not in caplog.text
    [line] = [
        r.getMessage() for r in caplog.records if r.name == connection_module.__name__ and "not MCP" in r.getMessage()
    ]
    assert line.startswith("MCP server local sent 1 message(s) that are not MCP, ignored")
    assert "\n" not in line
    assert not [r for r in caplog.records if r.name.startswith("mcp.")], "the SDK's traceback is not logged as well"


async def test_what_is_not_mcp_is_logged_at_most_once_a_minute_with_the_count_held_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    monkeypatch.setattr(connection_module, "_clock", lambda: now[0])
    connection = McpConnection(stdio_server(), ENVIRON, metrics=McpMetrics())
    for _ in range(5):
        await connection._on_message(ValueError("Invalid JSON:\n  expected value at line 1"))
    now[0] += connection_module.STRAY_LOG_SECONDS
    await connection._on_message(ValueError("the sixth"))

    lines = [r.getMessage() for r in caplog.records if "not MCP" in r.getMessage()]
    assert connection.stray_messages == 6
    assert len(lines) == 2
    assert "sent 1 message(s)" in lines[0] and lines[0].endswith("ValueError: Invalid JSON: expected value at line 1")
    assert "sent 5 message(s)" in lines[1] and lines[1].endswith("ValueError: the sixth")
    assert not connection._broken


def test_the_retry_delay_doubles_up_to_its_maximum() -> None:
    delays: list[float] = []
    delay = None
    for _ in range(10):
        delay = retry_delay(delay, None)
        delays.append(delay)
    assert delays[:5] == [FIRST_RETRY_SECONDS, 1.0, 2.0, 4.0, 8.0]
    assert delays[-1] == MAX_RETRY_SECONDS


def test_a_connection_that_dies_at_once_does_not_reset_the_delay_but_one_that_stayed_up_does() -> None:
    assert retry_delay(8.0, 0.01) == 16.0
    assert retry_delay(8.0, HEALTHY_SECONDS - 1) == 16.0
    assert retry_delay(8.0, HEALTHY_SECONDS) == FIRST_RETRY_SECONDS


class _DyingClient:
    """Connects, lists one tool, and the connection breaks right after: a server that always dies."""

    protocol_version = "2025-11-25"

    def __init__(self, connection: McpConnection) -> None:
        self.connection = connection
        self.session = self

    async def list_tools(self, params: Any = None) -> types.ListToolsResult:
        # Broken once it is the connection's client (right after this first listing).
        asyncio.get_running_loop().call_soon(self.connection._mark_broken, self, "the server exited")
        return types.ListToolsResult(tools=[types.Tool(name="t", input_schema={"type": "object"})])


async def test_a_server_that_dies_right_after_each_connect_is_retried_with_exponential_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    enough = asyncio.Event()

    async def pause(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) >= 6:
            enough.set()
            await asyncio.Event().wait()

    connection = McpConnection(stdio_server(), ENVIRON, metrics=McpMetrics())

    @asynccontextmanager
    async def dying() -> AsyncIterator[_DyingClient]:
        yield _DyingClient(connection)

    monkeypatch.setattr(connection_module, "_pause", pause)
    monkeypatch.setattr(connection, "_new_client", dying)
    await connection.start(wait_seconds=WAIT)
    try:
        async with asyncio.timeout(WAIT):
            await enough.wait()
    finally:
        await connection.close()
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert connection.listings == 6
    assert connection.metrics.connection_failures.value(("local",)) == 6
