"""``/mcp``: the runtime's agents as an MCP server, off by default, behind the API's authentication."""

from __future__ import annotations

from pathlib import Path

import pytest
from agentos_runtime.config.mcp import McpServerConfig
from agentos_runtime.tools.mcp.connection import McpConnection, McpToolError
from agentos_runtime.tools.mcp.metrics import McpMetrics

from tests.runtime.api.harness import serve
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
