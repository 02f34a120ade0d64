"""A connection to a real MCP server: listing, calls, failures, refresh, reconnection, secrets."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from pathlib import Path

import pytest
from agentos_runtime.config.mcp import McpServerConfig
from agentos_runtime.config.problems import ConfigError
from agentos_runtime.observability.logs import Redactor, TextFormatter
from agentos_runtime.tools.mcp import connection as connection_module
from agentos_runtime.tools.mcp.connection import MAX_STDERR_LINE_CHARS, McpConnection, McpToolError
from agentos_runtime.tools.mcp.hub import McpHub
from agentos_runtime.tools.mcp.metrics import McpMetrics

from tests.runtime.mcp.servers import (
    ENVIRON,
    SERVER_SCRIPT,
    TOKEN,
    http_server,
    serve_tool_server,
    stdio_server,
)
from tests.support.ports import free_port

WAIT = 20.0


@pytest.fixture
async def facts(http_port: int) -> AsyncIterator[McpConnection]:
    # Calls given WAIT seconds: a call meant to be answered is, however loaded the machine.
    connection = McpConnection(http_server(http_port, timeout_seconds=WAIT), ENVIRON, metrics=McpMetrics())
    await connection.start(wait_seconds=WAIT)
    yield connection
    await connection.close()


def calls(connection: McpConnection, tool: str, outcome: str) -> float:
    return connection.metrics.calls.value((connection.id, tool, outcome))


async def test_tools_are_listed_at_start_over_streamable_http(facts: McpConnection) -> None:
    assert facts.connected and facts.protocol_version == "2026-07-28"
    assert {"lookup", "fail", "stall", "huge", "whoami", "grow"} <= set(facts.tools)
    assert facts.tools["lookup"].description == "Look up a fact by its key."


async def test_a_calls_result_is_the_text_the_tool_returned(facts: McpConnection) -> None:
    assert await facts.call("lookup", {"key": "capital-of-france"}) == "Paris"
    assert calls(facts, "lookup", "ok") == 1


async def test_headers_carry_the_values_of_their_environment_variables(facts: McpConnection) -> None:
    assert await facts.call("whoami", {}) == "robot-1"


async def test_a_header_value_ending_in_a_newline_is_sent_without_it(http_port: int) -> None:
    # A token Secret made from a file ends so; no header can carry it.
    environ = {**ENVIRON, "FACTS_TOKEN": ENVIRON["FACTS_TOKEN"] + "\n"}
    connection = McpConnection(http_server(http_port, timeout_seconds=WAIT), environ, metrics=McpMetrics())
    await connection.start(wait_seconds=WAIT)
    try:
        assert await connection.call("whoami", {}) == "robot-1"
    finally:
        await connection.close()


async def test_a_tool_reporting_an_error_becomes_an_error_with_its_message(facts: McpConnection) -> None:
    with pytest.raises(McpToolError, match="failed on purpose: disk full") as raised:
        await facts.call("fail", {"reason": "disk full"})
    assert raised.value.outcome == "error"
    assert calls(facts, "fail", "error") == 1


async def test_a_slow_tool_times_out_and_the_connection_stays_usable(http_port: int) -> None:
    # 2 s a call: the next call's answer must come within it too, on a machine however loaded.
    facts = McpConnection(http_server(http_port, timeout_seconds=2), ENVIRON, metrics=McpMetrics())
    await facts.start(wait_seconds=WAIT)
    try:
        with pytest.raises(McpToolError, match="did not answer stall within 2s") as raised:
            await facts.call("stall", {})
        assert raised.value.outcome == "timeout"
        assert calls(facts, "stall", "timeout") == 1
        assert await facts.call("lookup", {"key": "answer"}) == "42"
    finally:
        await facts.close()


async def test_a_huge_result_is_cut_with_a_note(http_port: int) -> None:
    connection = McpConnection(http_server(http_port, max_result_chars=1000), ENVIRON, metrics=McpMetrics())
    await connection.start(wait_seconds=WAIT)
    try:
        text = await connection.call("huge", {"size": 250_000})
    finally:
        await connection.close()
    assert text == "x" * 1000 + "\n[result cut at 1000 of 250000 characters]"


async def test_a_tool_the_server_does_not_offer_is_an_error(facts: McpConnection) -> None:
    with pytest.raises(McpToolError, match="does not offer the tool 'teleport'"):
        await facts.call("teleport", {})


async def test_the_tool_list_is_refreshed_when_the_server_announces_a_change(facts: McpConnection) -> None:
    listed = facts.listings
    assert "second_lookup" not in facts.tools
    await facts.call("grow", {})
    await facts.wait_for(lambda: facts.listings > listed, timeout=WAIT)
    assert "second_lookup" in facts.tools
    assert await facts.call("second_lookup", {"key": "answer"}) == "42"


async def test_a_server_down_at_start_makes_calls_fail_as_unavailable_and_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = McpServerConfig(id="gone", url=f"http://127.0.0.1:{free_port()}/mcp")
    connection = McpConnection(config, {}, metrics=McpMetrics())
    await connection.start(wait_seconds=0.2)
    try:
        await connection.wait_for(lambda: connection.last_error is not None, timeout=WAIT)
        with pytest.raises(McpToolError, match="MCP server 'gone' is not connected") as raised:
            await connection.call("lookup", {"key": "answer"})
    finally:
        await connection.close()
    assert raised.value.outcome == "unavailable"
    assert connection.metrics.calls.value(("gone", "lookup", "unavailable")) == 1
    assert connection.metrics.connection_failures.value(("gone",)) >= 1
    assert "MCP server gone: ConnectError" in caplog.text


async def test_a_server_that_restarts_is_reconnected_by_itself() -> None:
    port = free_port()
    connection = McpConnection(http_server(port), ENVIRON, metrics=McpMetrics())
    with serve_tool_server(port):
        await connection.start(wait_seconds=WAIT)
        assert await connection.call("lookup", {"key": "answer"}) == "42"
    try:
        await connection.wait_for(lambda: not connection.connected, timeout=WAIT)
        with pytest.raises(McpToolError) as raised:
            await connection.call("lookup", {"key": "answer"})
        assert raised.value.outcome == "unavailable"
        with serve_tool_server(port):
            await connection.wait_for(lambda: connection.connected, timeout=WAIT)
            assert await connection.call("lookup", {"key": "answer"}) == "42"
    finally:
        await connection.close()


async def test_a_stdio_server_is_started_with_its_environment_and_refreshed() -> None:
    connection = McpConnection(stdio_server(), ENVIRON, metrics=McpMetrics())
    await connection.start(wait_seconds=WAIT)
    try:
        assert "lookup" in connection.tools
        assert await connection.call("environment", {"name": "GREETING"}) == "hello from the runtime"
        listed = connection.listings
        await connection.call("grow", {})
        await connection.wait_for(lambda: connection.listings > listed, timeout=WAIT)
        assert "second_lookup" in connection.tools
    finally:
        await connection.close()


async def test_the_header_secret_is_never_logged_nor_told_to_the_model(
    http_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = TOKEN.split()[1]
    down = http_server(free_port())
    hub = McpHub([http_server(http_port, timeout_seconds=2), down.model_copy(update={"id": "down"})], ENVIRON)
    await hub.start(wait_seconds=0.5)  # the server that is down is waited for no longer than that
    messages = []
    try:
        facts = hub.connections["facts"]
        await facts.wait_for(lambda: facts.connected, timeout=WAIT)  # a loaded machine may take longer
        for server, tool, arguments in [
            ("facts", "whoami", {}),
            ("facts", "fail", {"reason": "x"}),
            ("facts", "stall", {}),
            ("down", "whoami", {}),
        ]:
            try:
                messages.append(await hub.connections[server].call(tool, arguments))
            except McpToolError as error:
                messages.append(str(error))
    finally:
        await hub.close()
    assert messages[0] == "robot-1"  # the header was sent
    assert caplog.records, "the test must capture the debug logs of the SDK and HTTP client"
    assert secret not in caplog.text
    assert not any(secret in message for message in messages)
    assert secret not in repr(hub.connections["facts"])


def test_a_header_variable_that_is_not_set_is_a_config_problem_naming_it() -> None:
    with pytest.raises(ConfigError) as raised:
        McpHub([http_server(1)], {})
    assert str(raised.value) == (
        "mcp_servers[0]: header Authorization: environment variable FACTS_TOKEN is not set; "
        "give it the value, or take the header out of the server's declaration"
    )


@pytest.mark.parametrize("blank", ["", "  ", "\n"])
def test_a_header_variable_set_to_nothing_counts_as_not_set_and_no_empty_header_is_sent(blank: str) -> None:
    with pytest.raises(ConfigError) as raised:
        McpHub([http_server(1)], {**ENVIRON, "FACTS_TOKEN": blank})
    assert str(raised.value) == (
        "mcp_servers[0]: header Authorization: environment variable FACTS_TOKEN is empty; "
        "give it the value, or take the header out of the server's declaration"
    )


def test_a_stdio_env_variable_set_to_nothing_counts_as_not_set() -> None:
    with pytest.raises(ConfigError) as raised:
        McpHub([stdio_server()], {**ENVIRON, "LOCAL_GREETING": ""})
    assert str(raised.value).startswith("mcp_servers[0]: env GREETING: environment variable LOCAL_GREETING is empty;")


class _Lines(logging.Handler):
    """Formats records as the runtime's log does and tells when a line containing ``wanted`` arrived."""

    def __init__(self, formatter: logging.Formatter, wanted: str) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[str] = []
        self.wanted = wanted
        self.arrived = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.lines.append(line)
        if self.wanted in line:
            self.arrived.set()


async def test_a_stdio_servers_stderr_reaches_the_log_with_its_secret_env_values_redacted() -> None:
    secret = ENVIRON["LOCAL_GREETING"]
    lines = _Lines(TextFormatter(Redactor([secret])), "my GREETING is")
    logger = logging.getLogger("agentos_runtime.tools.mcp.connection")
    logger.addHandler(lines)
    previous = logger.level
    logger.setLevel(logging.INFO)
    connection = McpConnection(stdio_server(), ENVIRON, metrics=McpMetrics())
    try:
        await connection.start(wait_seconds=WAIT)
        await connection.call("confess", {"name": "GREETING"})
        async with asyncio.timeout(WAIT):
            await lines.arrived.wait()
    finally:
        await connection.close()
        logger.removeHandler(lines)
        logger.setLevel(previous)
    [line] = [line for line in lines.lines if "my GREETING is" in line]
    assert line.endswith("MCP server local: my GREETING is ***")
    assert not any(secret in line for line in lines.lines)


# The suite's tool server after one stderr line of 300 KB (a progress bar, a dump), longer than
# asyncio's line limit (64 KiB).
LONG_LINE_SERVER = f"""
import sys
sys.path.insert(0, {str(SERVER_SCRIPT.parent)!r})
sys.stderr.write("progress " + "#" * 300_000 + "\\n")
sys.stderr.flush()
from tool_server import build_server
build_server().run("stdio")
"""


async def test_a_stdio_server_writing_a_huge_stderr_line_is_logged_cut_keeps_answering_and_closes(
    tmp_path: Path,
) -> None:
    script = tmp_path / "long_line_server.py"
    script.write_text(LONG_LINE_SERVER)
    lines = _Lines(TextFormatter(), "my GREETING-")
    logger = logging.getLogger("agentos_runtime.tools.mcp.connection")
    logger.addHandler(lines)
    previous = logger.level
    logger.setLevel(logging.INFO)
    connection = McpConnection(stdio_server(args=[str(script)]), ENVIRON, metrics=McpMetrics())
    try:
        await connection.start(wait_seconds=WAIT)
        for _ in range(20):  # far more than a pipe holds, were nobody reading it
            assert await connection.call("confess", {"name": "GREETING" + "-" * 5000}) == "written"
        async with asyncio.timeout(WAIT):
            await lines.arrived.wait()
        await connection.close()
    finally:
        logger.removeHandler(lines)
        logger.setLevel(previous)
    [progress] = [line for line in lines.lines if "progress" in line]
    assert progress.endswith(" [cut]") and len(progress) < MAX_STDERR_LINE_CHARS + 100
    assert not any("left behind" in line or "reconnecting" in line for line in lines.lines)
    assert connection.metrics.connection_failures.value(("local",)) == 0


async def test_a_call_cancelled_with_its_run_counts_as_cancelled_and_the_connection_stays_usable(
    http_port: int,
) -> None:
    connection = McpConnection(http_server(http_port, timeout_seconds=60), ENVIRON, metrics=McpMetrics())
    await connection.start(wait_seconds=WAIT)
    try:
        stalled = asyncio.get_running_loop().create_task(connection.call("stall", {}))
        assert await connection.call("lookup", {"key": "answer"}) == "42"  # the stalled call is in flight
        stalled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stalled
        assert await connection.call("lookup", {"key": "answer"}) == "42"
    finally:
        await connection.close()
    assert calls(connection, "stall", "cancelled") == 1
    assert calls(connection, "stall", "ok") == 0


async def test_a_handshake_era_connection_is_refreshed_by_the_list_changed_notification(http_port: int) -> None:
    connection = McpConnection(http_server(http_port), ENVIRON, metrics=McpMetrics(), mode="legacy")
    await connection.start(wait_seconds=WAIT)
    try:
        assert connection.protocol_version == "2025-11-25"
        listed = connection.listings
        await connection.call("grow", {})
        await connection.wait_for(lambda: connection.listings > listed, timeout=WAIT)
        assert "second_lookup" in connection.tools
    finally:
        await connection.close()


async def test_a_stdio_server_that_dies_is_started_again_by_itself() -> None:
    connection = McpConnection(stdio_server(), ENVIRON, metrics=McpMetrics())
    await connection.start(wait_seconds=WAIT)
    try:
        listed = connection.listings
        with pytest.raises(McpToolError, match="MCP server 'local' closed the connection during crash") as raised:
            await connection.call("crash", {})
        assert raised.value.outcome == "unavailable"
        await connection.wait_for(lambda: connection.connected and connection.listings > listed, timeout=WAIT)
        assert await connection.call("lookup", {"key": "answer"}) == "42"
    finally:
        await connection.close()
    assert connection.metrics.connection_failures.value(("local",)) >= 1


async def test_closing_does_not_wait_forever_for_a_transport_that_will_not_let_go(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(connection_module, "CLOSE_SECONDS", 0.05)
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with suppress(asyncio.CancelledError):
                await release.wait()

    connection = McpConnection(http_server(free_port()), ENVIRON, metrics=McpMetrics())
    connection._task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)  # the task is waiting when it is cancelled

    await connection.close()

    assert "did not close within 0.05s" in caplog.text
    release.set()


# A stdio server that never answers, tells (a file) once its stdin is closed, and does not exit.
SILENT_SERVER = """
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
sys.stdin.buffer.read()
open(sys.argv[2], "w").close()
time.sleep(120)
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped yet, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_closing_while_a_timed_out_handshake_stops_its_server_stops_the_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The handshake times out; as the transport stops the process (stdin closed, a grace, then
    signals), the connection is closed: the process is stopped all the same, not left behind."""
    monkeypatch.setattr(connection_module, "CONNECT_TIMEOUT_SECONDS", 0.5)
    pid_file, stopping = tmp_path / "pid", tmp_path / "stdin-closed"
    config = McpServerConfig.model_validate(
        {
            "id": "silent",
            "transport": "stdio",
            "command": sys.executable,
            "args": ["-c", SILENT_SERVER, str(pid_file), str(stopping)],
        }
    )
    connection = McpConnection(config, {}, metrics=McpMetrics())
    await connection.start(wait_seconds=0)
    try:
        await eventually(stopping.exists, what="the transport stopping the server after the handshake timed out")
    finally:
        await connection.close()

    pid = int(pid_file.read_text())
    still = alive(pid)
    if still:
        os.kill(pid, signal.SIGKILL)
    assert not still, "the server's process was left running"


async def eventually(probe: Callable[[], object], *, what: str, timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not probe():
            await asyncio.sleep(0.01)
