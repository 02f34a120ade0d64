"""``/mcp``: the runtime's agents as an MCP server, off by default, behind the API's authentication."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.config.mcp import McpServerConfig
from agentos_runtime.tools.mcp.connection import McpConnection, McpToolError
from agentos_runtime.tools.mcp.metrics import McpMetrics

from tests.runtime.api.harness import Served, serve
from tests.runtime.auth.apps import jwt_app
from tests.runtime.auth.tokens import bearer, mint
from tests.support.fake_openai import FakeOpenAIServer, Reply

WAIT = 20.0
KEY = "mcp-test-security-key"


def config_text(base_url: str, *, mcp_server: bool) -> str:
    return f"""
os_id: mcp-os
mcp_server: {str(mcp_server).lower()}
models:
  - id: fake
    model: fake-model
    base_url: {base_url}
    api_key_env: null
agents:
  - id: assistant
    description: Answers questions.
teams:
  - id: desk
    members: [assistant]
"""


def client_of(base_url: str, key: str | None) -> McpConnection:
    headers = [{"name": "Authorization", "value": f"Bearer {key}"}] if key else []
    config = McpServerConfig.model_validate({"id": "runtime", "url": f"{base_url}/mcp", "headers": headers})
    return McpConnection(config, {}, metrics=McpMetrics())


async def test_the_agents_are_served_as_mcp_tools_and_a_run_answers(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(Reply.say("Paris is the capital of France."))
    text = config_text(fake_openai.base_url, mcp_server=True)
    async with serve(text, data_dir=tmp_path, security_key=KEY, over_sockets=True) as served:
        connection = client_of(str(served.client.base_url).rstrip("/"), KEY)
        await connection.start(wait_seconds=WAIT)
        try:
            assert {"get_agentos_config", "run_agent", "run_team", "run_workflow"} <= set(connection.tools)
            listing = await connection.call("get_agentos_config", {})
            answer = await connection.call(
                "run_agent", {"agent_id": "assistant", "message": "Capital of France?", "session_id": "s-mcp"}
            )
            with pytest.raises(McpToolError, match="no agent 'nobody'"):
                await connection.call("run_agent", {"agent_id": "nobody", "message": "hi"})
        finally:
            await connection.close()
        stored = await served.database().sessions.get_session("s-mcp")
    assert '"id":"assistant"' in listing.replace(" ", "") and '"id":"desk"' in listing.replace(" ", "")
    assert answer == "Paris is the capital of France."
    assert fake_openai.bodies[0]["messages"][-1] == {"role": "user", "content": "Capital of France?"}
    assert stored is not None and stored.runs and stored.runs[0]["content"] == answer


async def test_the_mcp_endpoint_needs_the_security_key(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    text = config_text(fake_openai.base_url, mcp_server=True)
    async with serve(text, data_dir=tmp_path, security_key=KEY, over_sockets=True) as served:
        refused = await served.client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        connection = client_of(str(served.client.base_url).rstrip("/"), "wrong-key")
        await connection.start(wait_seconds=0.5)
        try:
            assert not connection.connected
        finally:
            await connection.close()
    assert (refused.status_code, refused.json()) == (401, {"detail": "Authorization header required"})


async def test_the_mcp_endpoint_is_off_by_default(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    text = config_text(fake_openai.base_url, mcp_server=False)
    async with serve(text, data_dir=tmp_path) as served:
        answer = await served.client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert answer.status_code == 404


JSONRPC_HEADERS = {"Accept": "application/json, text/event-stream"}


async def tool_call(served: Served, headers: dict[str, str], name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    """One raw ``tools/call``: whether it is an error, and its text."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    answer = await served.client.post("/mcp", json=body, headers={**JSONRPC_HEADERS, **headers})
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    return bool(result.get("isError")), result["content"][0]["text"].removeprefix(f"Error executing tool {name}: ")


@pytest.fixture
async def jwt_served(fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    text = config_text(fake_openai.base_url, mcp_server=True) + "authorization:\n  user_isolation: true\n"
    async with jwt_app(tmp_path, text, over_sockets=True) as served:
        yield served


async def test_the_config_tool_asks_what_get_config_asks(jwt_served: Served) -> None:
    runner = bearer(mint(sub="ana", scopes=["agents:assistant:run"]))
    reader = bearer(mint(sub="ana", scopes=["config:read", "agents:read"]))

    refused = await tool_call(jwt_served, runner, "get_agentos_config", {})
    allowed = await tool_call(jwt_served, reader, "get_agentos_config", {})

    assert (await jwt_served.client.get("/config", headers=runner)).status_code == 403
    assert refused == (True, "Insufficient permissions. Required scope(s): config:read")
    assert allowed[0] is False and '"os_id":"mcp-os"' in allowed[1].replace(" ", "")


async def test_a_component_the_caller_may_not_run_is_refused_alike_whether_it_exists_or_not(jwt_served: Served) -> None:
    runner = bearer(mint(sub="ana", scopes=["agents:assistant:run"]))

    team = await tool_call(jwt_served, runner, "run_team", {"team_id": "desk", "message": "hi"})
    nobody = await tool_call(jwt_served, runner, "run_agent", {"agent_id": "nobody", "message": "hi"})

    assert (
        team[0]
        and nobody[0]
        and team[1].startswith("Insufficient permissions")
        and nobody[1].startswith("Insufficient permissions")
    )


@pytest.mark.parametrize(
    ("arguments", "answer"),
    [
        ({"session_id": "s" * 600}, "session_id: An id may have at most 512 characters, got 600"),
        ({"session_id": "index:user_id:bob"}, "session_id: An id may not begin with 'index:' or 'by_session:'"),
        ({"user_id": "u" * 600}, "user_id: An id may have at most 512 characters, got 600"),
    ],
)
async def test_run_ids_follow_the_run_forms_rules(
    fake_openai: FakeOpenAIServer, tmp_path: Path, arguments: dict[str, str], answer: str
) -> None:
    text = config_text(fake_openai.base_url, mcp_server=True)
    async with serve(text, data_dir=tmp_path, over_sockets=True) as served:
        error, said = await tool_call(served, {}, "run_agent", {"agent_id": "assistant", "message": "hi", **arguments})
        listed = (await served.client.get("/sessions")).json()["data"]

    assert error is True and said.startswith(answer)
    assert listed == [] and fake_openai.requests == []


async def test_an_empty_session_id_means_a_new_session_as_in_a_run_form(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(Reply.say("one"), Reply.say("two"))
    text = config_text(fake_openai.base_url, mcp_server=True)
    async with serve(text, data_dir=tmp_path, over_sockets=True) as served:
        for _ in range(2):
            await tool_call(served, {}, "run_agent", {"agent_id": "assistant", "message": "hi", "session_id": ""})
        ids = [s["session_id"] for s in (await served.client.get("/sessions")).json()["data"]]

    assert len(ids) == 2 and "" not in ids


async def test_the_stateless_endpoint_opens_no_stream_and_ends_no_session(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    text = config_text(fake_openai.base_url, mcp_server=True)
    async with serve(text, data_dir=tmp_path, over_sockets=True) as served:
        stream = await served.client.get("/mcp", headers={"Accept": "text/event-stream"})
        ended = await served.client.delete("/mcp", headers={"Mcp-Session-Id": "abc"})

    assert (stream.status_code, ended.status_code) == (405, 405)
    assert stream.headers["allow"] == "POST"


async def test_asking_for_a_prompt_is_the_callers_mistake_not_a_server_failure(
    fake_openai: FakeOpenAIServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = config_text(fake_openai.base_url, mcp_server=True)
    body = {"jsonrpc": "2.0", "id": 7, "method": "prompts/get", "params": {"name": "x"}}
    async with serve(text, data_dir=tmp_path, over_sockets=True) as served:
        answer = await served.client.post("/mcp", json=body, headers=JSONRPC_HEADERS)

    assert answer.status_code == 200
    assert answer.json()["error"] == {"code": -32602, "message": "Unknown prompt: x: this server offers tools only"}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
