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
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

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


MODERN = {"MCP-Protocol-Version": "2026-07-28"}
NUL_CALL = {
    "jsonrpc": "2.0",
    "id": 9,
    "method": "tools/call",
    "params": {"name": "run_agent", "arguments": {"agent_id": "assistant", "message": "a\x00b"}},
}
BATCH = [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]


@pytest.mark.parametrize(
    ("decoded", "version", "expected"),
    [
        (BATCH, None, (400, -32600, None)),
        (BATCH, "2026-07-28", (400, -32600, None)),
        ("text", None, (400, -32600, None)),
        (NUL_CALL, None, (200, -32602, 9)),
        (NUL_CALL, "2026-07-28", (400, -32602, 9)),
        ({**NUL_CALL, "id": None}, None, (400, -32602, None)),
        ({"jsonrpc": "2.0", "id": "x", "method": "tools/\x00list"}, None, (400, -32600, "x")),
        ({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"n": float("nan")}}, None, (200, -32602, 3)),
        ({"jsonrpc": "2.0", "id": 4}, None, (400, -32600, 4)),
        ({"jsonrpc": "1.0", "id": 5, "method": "tools/list"}, None, (400, -32600, 5)),
        ({"jsonrpc": "2.0", "id": [1], "method": "tools/list"}, None, (400, -32600, None)),
    ],
)
def test_what_the_sdk_is_not_given_is_refused_with_a_json_rpc_error(
    decoded: Any, version: str | None, expected: tuple[int, int, Any]
) -> None:
    from agentos_runtime.api.routes.mcp import rejection

    refused = rejection(decoded, protocol_version=version)

    assert refused is not None and (refused.status, refused.code, refused.id) == expected
    assert "validation error" not in refused.message.lower() and "pydantic" not in refused.message


def test_a_well_formed_request_is_left_to_the_sdk() -> None:
    from agentos_runtime.api.routes.mcp import rejection

    for version in (None, "2025-06-18", "2026-07-28"):
        assert rejection({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, protocol_version=version) is None
        assert rejection({"jsonrpc": "2.0", "method": "notifications/initialized"}, protocol_version=version) is None


async def post_raw(served: Served, body: Any, headers: dict[str, str] | None = None) -> Any:
    import json

    # Encoded by hand: httpx refuses a lone surrogate, and NUL must reach the server as \u0000.
    return await served.client.post(
        "/mcp",
        content=json.dumps(body).encode(),
        headers={**JSONRPC_HEADERS, "Content-Type": "application/json", **(headers or {})},
    )


async def test_a_nul_in_a_tool_argument_is_a_json_rpc_invalid_params_error_and_runs_nothing(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    text = config_text(fake_openai.base_url, mcp_server=True)
    async with serve(text, data_dir=tmp_path, over_sockets=True) as served:
        handshake_era = await post_raw(served, NUL_CALL)
        modern = await post_raw(served, NUL_CALL, MODERN)
        sessions = (await served.client.get("/sessions")).json()["data"]

    error = {
        "code": -32602,
        "message": "Invalid params: params.arguments.message: Text may not contain a NUL character (\\u0000)",
    }
    assert (handshake_era.status_code, handshake_era.json()) == (200, {"jsonrpc": "2.0", "id": 9, "error": error})
    assert (modern.status_code, modern.json()) == (400, {"jsonrpc": "2.0", "id": 9, "error": error})
    assert fake_openai.requests == [] and sessions == []


async def sdk_answer(body: Any, headers: dict[str, str]) -> Any:
    """What the MCP SDK's own streamable-HTTP app (as the route configures it) answers ``body``."""
    import json

    import httpx
    from agentos_runtime.api.routes.mcp import build_server
    from mcp.server.transport_security import TransportSecuritySettings

    server = build_server()
    app = server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    async with server.session_manager.run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sdk") as client:
            return await client.post(
                "/mcp",
                content=json.dumps(body).encode(),
                headers={**JSONRPC_HEADERS, "Content-Type": "application/json", **headers},
            )


async def test_a_batch_is_refused_as_the_sdk_refuses_it_at_the_2026_revision_whatever_the_version(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    sdk = await sdk_answer(BATCH, MODERN)
    text = config_text(fake_openai.base_url, mcp_server=True)
    async with serve(text, data_dir=tmp_path, over_sockets=True) as served:
        answers = [
            await post_raw(served, BATCH),
            await post_raw(served, BATCH, {"MCP-Protocol-Version": "2025-06-18"}),
            await post_raw(served, BATCH, MODERN),
        ]
        malformed = await post_raw(served, {"jsonrpc": "2.0", "id": 4, "params": {}})

    assert sdk.status_code == 400 and sdk.json()["error"]["code"] == -32600 and sdk.json()["id"] is None
    for answer in answers:
        assert answer.status_code == 400
        assert answer.json() == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {
                "code": -32600,
                "message": "Invalid request: a batch (a JSON array) is not accepted: send one JSON-RPC request or"
                " notification per POST",
            },
        }
    assert (malformed.status_code, malformed.json()) == (
        400,
        {
            "jsonrpc": "2.0",
            "id": 4,
            "error": {"code": -32600, "message": "Invalid request: method: required, a string"},
        },
    )


async def call_result(served: Served, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """One raw ``tools/call``'s result, as the client receives it."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    answer = await served.client.post("/mcp", json=body, headers=JSONRPC_HEADERS)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["result"]
    return result


async def test_a_run_tool_answers_with_the_runs_ids_and_status_beside_its_text(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(Reply.say("Hello."))
    async with serve(config_text(fake_openai.base_url, mcp_server=True), data_dir=tmp_path) as served:
        result = await call_result(served, "run_agent", {"agent_id": "assistant", "message": "hi"})
        stored = (await served.client.get("/sessions", params={"type": "agent"})).json()["data"]

    [session] = stored
    assert result["content"] == [{"type": "text", "text": "Hello."}] and not result.get("isError")
    structured = result["structuredContent"]
    assert (structured["status"], structured["content"], structured["agent_id"]) == ("COMPLETED", "Hello.", "assistant")
    assert structured["session_id"] == session["session_id"] and structured["run_id"]


async def test_a_run_paused_for_a_confirmation_says_so_and_where_to_continue_it(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    text = config_text(fake_openai.base_url, mcp_server=True).replace(
        "    description: Answers questions.\n",
        "    description: Answers questions.\n    tools: [calculator]\n"
        "    tool_config: {calculator: {requires_confirmation: true}}\n",
    )
    fake_openai.script(Reply.call(FakeToolCall("calculator", '{"expression": "1 + 1"}', id="c1")))
    async with serve(text, data_dir=tmp_path) as served:
        result = await call_result(served, "run_agent", {"agent_id": "assistant", "message": "add", "session_id": "s"})

    structured = result["structuredContent"]
    assert structured["status"] == "PAUSED" and len(structured["requirements"]) == 1
    assert f"POST /agents/assistant/runs/{structured['run_id']}/continue" in result["content"][0]["text"]
    assert structured["content"] == result["content"][0]["text"]


@pytest.mark.parametrize("enabled", [True, False])
async def test_info_says_whether_the_mcp_server_is_on_and_where(
    fake_openai: FakeOpenAIServer, tmp_path: Path, enabled: bool
) -> None:
    async with serve(config_text(fake_openai.base_url, mcp_server=enabled), data_dir=tmp_path) as served:
        mcp = (await served.client.get("/info")).json()["mcp"]

    assert (mcp["enabled"], mcp["path"]) == ((True, "/mcp") if enabled else (False, None))
