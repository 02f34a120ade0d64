"""MCP servers that misbehave: odd tool names, silence, floods, crashes, garbage, huge answers."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from agentos_runtime.config.mcp import McpServerConfig, McpToolSettings, is_valid_tool_name, model_tool_name
from agentos_runtime.tools.mcp import connection as connection_module
from agentos_runtime.tools.mcp import hub as hub_module
from agentos_runtime.tools.mcp.connection import (
    STDERR_LINES_PER_WINDOW,
    STDERR_WINDOW_SECONDS,
    LineBudget,
    McpConnection,
    McpToolError,
)
from agentos_runtime.tools.mcp.hub import McpHub
from agentos_runtime.tools.mcp.metrics import McpMetrics

from tests.runtime.api.harness import models_built, serve
from tests.runtime.mcp.hostile_server import BASE_TOOLS
from tests.runtime.mcp.hostile_server import __file__ as HOSTILE_SCRIPT
from tests.support.fake_openai import FakeOpenAIServer, Reply

WAIT = 20.0


@pytest.fixture
async def mcp(request: pytest.FixtureRequest) -> AsyncIterator[McpConnection]:
    """A connection to the hostile server, its options ``request.param``, calls timing out after ``WAIT``:
    a call meant to be answered is, however loaded the machine (the timeout tests make their own)."""
    connection = McpConnection(hostile(*getattr(request, "param", ()), timeout_seconds=WAIT), {}, metrics=McpMetrics())
    await connection.start(wait_seconds=WAIT)
    yield connection
    await connection.close()


def our_children() -> list[tuple[int, str]]:
    """(pid, state) of this process's child processes, zombies (state Z) included."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == os.getpid():
            children.append((int(stat.parent.name), fields[0]))
    return children


def hostile(*options: str, server_id: str = "hostile", **fields: object) -> McpServerConfig:
    """The hostile server over stdio, misbehaving as ``options`` say (``hostile_server.py``)."""
    return McpServerConfig.model_validate(
        {
            "id": server_id,
            "transport": "stdio",
            "command": sys.executable,
            "args": [HOSTILE_SCRIPT, *options],
            **fields,
        }
    )


@pytest.fixture
async def hub_of(request: pytest.FixtureRequest) -> AsyncIterator[McpHub]:
    options: Sequence[str] = request.param
    hub = McpHub([hostile(*options, timeout_seconds=WAIT)], {})
    await hub.start(wait_seconds=WAIT)
    yield hub
    await hub.close()


def test_a_valid_tool_name_is_kept_as_it_is() -> None:
    assert model_tool_name("search_issues-2") == "search_issues-2"


def test_characters_the_model_refuses_become_underscores() -> None:
    assert model_tool_name("search issues") == "search_issues"
    assert model_tool_name("repo.search/v2") == "repo_search_v2"
    assert model_tool_name("") == "_"


def test_a_name_too_long_is_cut_and_ends_in_a_hash_of_the_whole_name() -> None:
    first, second = model_tool_name("n" * 200), model_tool_name("n" * 199 + "m")
    assert len(first) == len(second) == 64
    assert first.startswith("n" * 55 + "_") and first != second
    assert model_tool_name("n" * 200) == first, "the same name each time"
    assert all(is_valid_tool_name(name) for name in (first, second))


def test_the_prefix_is_part_of_the_name_that_is_made_valid() -> None:
    assert McpToolSettings(tool_name_prefix="gh").exposed_name("repo.search") == "gh_repo_search"


@pytest.mark.parametrize("hub_of", [["odd-names"]], indirect=True)
async def test_tools_with_names_the_model_refuses_are_offered_renamed_and_call_the_servers_tool(
    hub_of: McpHub,
) -> None:
    tools = {tool.name: tool for tool in hub_of.tools_for("hostile", McpToolSettings())}
    long_name = model_tool_name("n" * 200)
    assert {"has_space", "dotted_name", long_name} <= set(tools)
    assert all(is_valid_tool_name(name) for name in tools)
    assert await tools["has_space"].call({}) == "called has space"
    assert await tools[long_name].call({}) == "called " + "n" * 200


async def test_five_thousand_tools_are_listed_and_offered() -> None:
    connection = McpConnection(hostile("tools=5000"), {}, metrics=McpMetrics())
    await connection.start(wait_seconds=WAIT)
    try:
        assert len(connection.tools) == 5000 + len(BASE_TOOLS) + 1  # and bad_structured
        assert await connection.call("t4999", {}) == "called t4999"
    finally:
        await connection.close()


async def test_a_server_that_never_answers_lets_the_start_end_with_a_warning_naming_it_and_what_to_check(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = McpHub([hostile(server_id="good"), hostile("silent", server_id="mute")], {})
    started = time.monotonic()
    await hub.start(wait_seconds=1.0)
    try:
        assert time.monotonic() - started < WAIT
        good = hub.connections["good"]
        await good.wait_for(lambda: good.connected, timeout=WAIT)  # a loaded machine may take longer than 1 s
        assert not hub.connections["mute"].connected
        [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "mute" in r.getMessage()]
        assert line.startswith("MCP server mute (mcp_servers[1]) listed no tools within 1s (no answer yet)")
        assert line.endswith("check mcp_servers[1].command and args")
        with pytest.raises(McpToolError, match="MCP server 'mute' is not connected") as raised:
            await hub.connections["mute"].call("echo", {})
        assert raised.value.outcome == "unavailable"
    finally:
        await hub.close()


async def test_a_handshake_left_unanswered_is_given_up_and_said_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection_module, "CONNECT_TIMEOUT_SECONDS", 0.5)
    connection = McpConnection(hostile("silent"), {}, metrics=McpMetrics())
    await connection.start(wait_seconds=0)
    try:
        await connection.wait_for(lambda: connection.last_error is not None, timeout=WAIT)
    finally:
        await connection.close()
    assert connection.last_error == "no answer to the handshake and tool listing within 0.5s"


async def test_a_tool_list_too_deeply_nested_to_read_is_said_to_be_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection_module, "CONNECT_TIMEOUT_SECONDS", 1.0)
    connection = McpConnection(hostile("deep=10000"), {}, metrics=McpMetrics())
    await connection.start(wait_seconds=0)
    try:
        await connection.wait_for(lambda: connection.last_error is not None, timeout=WAIT)
    finally:
        await connection.close()
    assert (connection.last_error or "").startswith(
        "no answer to the handshake and tool listing within 1s; it sent 1 message(s) that are not MCP, the last: "
    )


async def test_a_schema_nested_as_deep_as_the_sdk_reads_reaches_the_model_as_it_is() -> None:
    hub = McpHub([hostile("deep=60")], {})
    await hub.start(wait_seconds=WAIT)
    try:
        [deep] = [tool for tool in hub.tools_for("hostile", McpToolSettings()) if tool.name == "deep"]
    finally:
        await hub.close()
    schema = deep.parameters["properties"]["value"]
    for _ in range(60):
        schema = schema["properties"]["inner"]
    assert schema == {"type": "string"}


def test_a_line_budget_admits_its_lines_per_window_then_counts_the_rest_and_says_so_in_the_next() -> None:
    budget = LineBudget(2, 10.0)
    assert [budget.admit(100.0) for _ in range(5)] == [(True, 0), (True, 0), (False, 0), (False, 0), (False, 0)]
    assert budget.held == 3
    assert budget.admit(109.9) == (False, 0)
    assert budget.admit(110.0) == (True, 4)
    assert budget.held == 0


async def test_a_server_flooding_its_stderr_gets_a_bounded_number_of_log_lines_and_a_count_of_the_rest(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(connection_module, "_clock", lambda: 1000.0)  # one window for the whole test
    caplog.set_level(logging.INFO, logger=connection_module.__name__)
    connection = McpConnection(hostile("stderr-lines=5000"), {}, metrics=McpMetrics())
    await connection.start(wait_seconds=WAIT)
    try:
        assert await connection.call("echo", {"text": "still here"}) == "still here"
    finally:
        await connection.close()
    relayed = [r.getMessage() for r in caplog.records if "progress line" in r.getMessage()]
    assert len(relayed) == STDERR_LINES_PER_WINDOW
    held = 5000 - STDERR_LINES_PER_WINDOW
    expected = (
        f"MCP server hostile: {held} more line(s) of its stderr not logged "
        f"(at most {STDERR_LINES_PER_WINDOW} every {STDERR_WINDOW_SECONDS:g}s)"
    )
    assert expected in caplog.messages


@pytest.mark.parametrize("tool", ["garbage", "wrong_id", "stall"])
async def test_a_call_answered_with_garbage_a_wrong_id_or_not_at_all_times_out_and_the_next_call_works(
    tool: str,
) -> None:
    # 2 s a call: the next call's answer must come within it too, on a machine however loaded.
    mcp = McpConnection(hostile(timeout_seconds=2), {}, metrics=McpMetrics())
    await mcp.start(wait_seconds=WAIT)
    try:
        with pytest.raises(McpToolError, match=f"MCP server 'hostile' did not answer {tool} within 2s") as raised:
            await mcp.call(tool, {})
        assert raised.value.outcome == "timeout"
        assert await mcp.call("echo", {"text": "next"}) == "next"
        assert mcp.metrics.connection_failures.value(("hostile",)) == 0
    finally:
        await mcp.close()


async def test_a_result_flagged_as_an_error_is_an_error_with_its_text(mcp: McpConnection) -> None:
    with pytest.raises(McpToolError, match="^no such customer$") as raised:
        await mcp.call("refuse", {})
    assert raised.value.outcome == "error"


async def test_a_call_answered_after_a_flood_of_log_notifications_gets_its_answer(mcp: McpConnection) -> None:
    assert await mcp.call("flood", {"count": 5_000}) == "flooded"
    assert await mcp.call("echo", {"text": "next"}) == "next"


async def test_fifty_concurrent_calls_each_get_their_own_answer(mcp: McpConnection) -> None:
    texts = [f"run {i}" for i in range(50)]
    answers = await asyncio.gather(
        *(mcp.call("echo", {"text": text, "delay": (i % 5) / 20}) for i, text in enumerate(texts))
    )
    assert answers == texts


async def test_many_items_are_cut_to_max_result_chars_with_a_note_and_an_image_is_named_not_inlined() -> None:
    connection = McpConnection(hostile(max_result_chars=1000), {}, metrics=McpMetrics())
    await connection.start(wait_seconds=WAIT)
    try:
        many = await connection.call("many", {"count": 20_000})
        image = await connection.call("image", {})
    finally:
        await connection.close()
    assert many.startswith("item 0\nitem 1\n")
    assert many.endswith("\n[result cut at 1000 of 208889 characters]")
    assert len(many) < 1100
    assert image == "[image (image/png), not shown]\na chart"


@pytest.mark.parametrize(
    ("tool", "said"),
    [
        ("bad_shape", "answered bad_shape with a result that is not valid: ValidationError"),
        ("bad_structured", "answered bad_structured with a result that is not valid: RuntimeError: Invalid structured"),
    ],
)
async def test_a_result_the_sdk_cannot_take_fails_its_own_call_and_the_others_keep_the_connection(
    mcp: McpConnection, tool: str, said: str
) -> None:
    server = await mcp.call("pid", {})
    in_flight = asyncio.ensure_future(mcp.call("echo", {"text": "still here", "delay": 1}))

    with pytest.raises(McpToolError, match=f"^MCP server 'hostile' {said}") as raised:
        await mcp.call(tool, {})

    assert raised.value.outcome == "error"
    assert await in_flight == "still here"
    assert await mcp.call("pid", {}) == server  # the same process: not restarted
    assert mcp.metrics.connection_failures.value(("hostile",)) == 0


async def test_calls_failing_as_a_given_up_connection_closes_do_not_break_the_connection_made_after_it(
    mcp: McpConnection,
) -> None:
    """The runtime gives a connection up (as for a transport error under a call) while other
    calls wait on it: they fail as its transport closes, and that says nothing of the next one."""
    listed = mcp.listings
    in_flight = [asyncio.ensure_future(mcp.call("echo", {"text": "slow", "delay": d})) for d in (3, 4, 5)]
    assert await mcp.call("echo", {"text": "after them"}) == "after them"  # so they were sent
    assert mcp._client is not None
    mcp._mark_broken(mcp._client, "given up")

    outcomes = await asyncio.gather(*in_flight, return_exceptions=True)
    assert all(isinstance(o, McpToolError) and o.outcome == "unavailable" for o in outcomes), outcomes
    await mcp.wait_for(lambda: mcp.connected and mcp.listings > listed, timeout=WAIT)
    assert await mcp.call("echo", {"text": "on the new one", "delay": 1}) == "on the new one"
    assert mcp.metrics.connection_failures.value(("hostile",)) == 1


async def test_a_server_dying_under_calls_fails_them_as_unavailable_comes_back_and_leaves_no_process_behind(
    mcp: McpConnection,
) -> None:
    listed = mcp.listings
    in_flight = [asyncio.ensure_future(mcp.call("echo", {"text": "slow", "delay": 5})) for _ in range(5)]
    outcomes = await asyncio.gather(mcp.call("crash", {}), *in_flight, return_exceptions=True)
    assert all(isinstance(o, McpToolError) and o.outcome == "unavailable" for o in outcomes), outcomes
    await mcp.wait_for(lambda: mcp.connected and mcp.listings > listed, timeout=WAIT)
    assert await mcp.call("echo", {"text": "back"}) == "back"
    await mcp.close()
    assert our_children() == []


async def test_the_runtime_starts_ready_beside_a_server_that_never_answers_and_its_agent_runs_without_its_tools(
    fake_openai: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "START_WAIT_SECONDS", 0.5)
    fake_openai.script(Reply.say("Hello without tools."))
    text = f"""
models:
  - id: fake
    model: fake-model
    base_url: {fake_openai.base_url}
    api_key_env: null
mcp_servers:
  - id: mute
    transport: stdio
    command: {sys.executable}
    args: [{HOSTILE_SCRIPT}, silent]
agents:
  - id: assistant
    tools: [calculator, "mcp:mute"]
"""
    async with serve(text, data_dir=tmp_path) as served:
        await models_built(served)
        ready = await served.client.get("/ready")
        run = await served.client.post("/agents/assistant/runs", data={"message": "hi", "stream": "false"})
    assert ready.status_code == 200, ready.text
    assert run.status_code == 200, run.text
    assert run.json()["content"] == "Hello without tools."
    assert [tool["function"]["name"] for tool in fake_openai.bodies[0]["tools"]] == ["calculator"]
