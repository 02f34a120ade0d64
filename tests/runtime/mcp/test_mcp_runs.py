"""MCP tools in agents: chosen per agent, called in a run like built-in tools, wired at start-up."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.api.assembly import Connectors, close_context, open_context
from agentos_runtime.config import parse_config
from agentos_runtime.config.problems import ConfigError
from agentos_runtime.llm.ports import Completion, Message, ToolSchema
from agentos_runtime.observability.logs import secret_values
from agentos_runtime.observability.runtime_metrics import RuntimeMetrics
from agentos_runtime.runs import RunEvent, RunRequest
from agentos_runtime.settings import Settings
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.tools import resolve_tools
from agentos_runtime.tools.mcp.hub import McpHub

from tests.runtime.engine.fakes import FakeChatModel, call, make_agent, say
from tests.runtime.mcp.servers import ENVIRON, http_server, stdio_server
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

WAIT = 20.0


@pytest.fixture
async def hub(http_port: int) -> AsyncIterator[McpHub]:
    hub = McpHub([http_server(http_port, timeout_seconds=WAIT)], ENVIRON)  # calls answered however loaded the machine
    await hub.start(wait_seconds=WAIT)
    yield hub
    await hub.close()


class AnsweringFromTools(FakeChatModel):
    """A model that calls one tool, then answers with what the tool returned."""

    def __init__(self, name: str, arguments: dict[str, Any]) -> None:
        super().__init__(call(name, json.dumps(arguments)))

    async def complete(self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None) -> Completion:
        if not self.scripts:
            results = [m["content"] for m in messages if m["role"] == "tool"]
            self.scripts.append(say(f"The tool says: {results[-1]}"))
        return await super().complete(messages, tools)


def names(tools: Iterable[Any]) -> list[str]:
    return [tool.name for tool in tools]


async def test_a_run_calls_the_mcp_tool_and_answers_with_its_result(hub: McpHub) -> None:
    database = InMemoryDatabase(id="db")
    tools = resolve_tools(["mcp:facts"], {"mcp:facts": {"include_tools": ["lookup"]}}, mcp=hub)
    model = AnsweringFromTools("lookup", {"key": "capital-of-france"})
    agent = make_agent(model, tools=tools, database=database)

    output = await agent.complete(RunRequest(message="Capital of France?", session_id="s1"))

    assert output["status"] == "COMPLETED"
    assert output["content"] == "The tool says: Paris"
    assert [(t["tool_name"], t["tool_args"], t["result"], t["tool_call_error"]) for t in output["tools"]] == [
        ("lookup", {"key": "capital-of-france"}, "Paris", False)
    ]
    row = await database.sessions.get_session("s1")
    assert row is not None and row.runs is not None
    assert row.runs[0]["tools"][0]["result"] == "Paris"
    assert model.offered_tools[0] == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look up a fact by its key.",
                "parameters": hub.connections["facts"].tools["lookup"].input_schema,
            },
        }
    ]


async def test_an_mcp_servers_nul_characters_reach_neither_the_model_nor_the_stored_run(hub: McpHub) -> None:
    tools = resolve_tools(["mcp:facts"], {"mcp:facts": {"include_tools": ["odd"]}}, mcp=hub)
    model = AnsweringFromTools("odd", {})
    agent = make_agent(model, tools=tools)

    output = await agent.complete(RunRequest(message="Odd?", session_id="s1"))

    assert output["status"] == "COMPLETED"
    assert output["tools"][0]["result"] == "binary\ufffdpage"
    assert model.offered_tools[0][0]["function"]["description"] == "Answers bytes no database stores:\ufffd a NUL."


async def test_an_mcp_tool_failure_is_a_tool_error_in_the_runs_events_not_a_failed_run(http_port: int) -> None:
    hub = McpHub([http_server(http_port, timeout_seconds=0.5)], ENVIRON)  # the stalled call is given up after 0.5 s
    await hub.start(wait_seconds=WAIT)
    try:
        tools = resolve_tools(["mcp:facts"], {}, mcp=hub)
        model = FakeChatModel(call("stall", "{}"), say("The tool did not answer."))
        agent = make_agent(model, tools=tools)

        events: list[RunEvent] = [event async for event in agent.run(RunRequest(message="Wait?", session_id="s1"))]
    finally:
        await hub.close()

    completed = [e.to_dict()["tool"] for e in events if e.event == "ToolCallCompleted"]
    assert [(t["tool_name"], t["tool_call_error"]) for t in completed] == [("stall", True)]
    assert completed[0]["result"] == "Error: McpToolError: MCP server 'facts' did not answer stall within 0.5s"
    assert model.prompts[1][-1]["content"] == completed[0]["result"]
    assert events[-1].event == "RunCompleted"


async def test_include_exclude_and_prefix_choose_the_tools_and_their_names(hub: McpHub) -> None:
    included = resolve_tools(["mcp:facts"], {"mcp:facts": {"include_tools": ["lookup", "huge"]}}, mcp=hub)
    excluded = resolve_tools(["mcp:facts"], {"mcp:facts": {"exclude_tools": ["stall", "fail", "grow"]}}, mcp=hub)
    prefixed = resolve_tools(
        ["calculator", "mcp:facts"], {"mcp:facts": {"include_tools": ["lookup"], "tool_name_prefix": "kb"}}, mcp=hub
    ).tools
    assert sorted(names(included)) == ["huge", "lookup"]
    assert sorted(names(excluded)) == ["confess", "crash", "environment", "huge", "lookup", "odd", "whoami"]
    assert names(prefixed) == ["calculator", "kb_lookup"]
    assert await prefixed[1].call({"key": "answer"}) == "42"


async def test_requires_confirmation_names_the_servers_tools_that_wait_for_a_person(hub: McpHub) -> None:
    listed = {"mcp:facts": {"include_tools": ["lookup", "huge"], "requires_confirmation": ["huge"]}}
    every = {
        "mcp:facts": {"include_tools": ["lookup", "huge"], "tool_name_prefix": "kb", "requires_confirmation": True}
    }
    some = resolve_tools(["mcp:facts"], listed, mcp=hub).tools
    all_of_them = resolve_tools(["mcp:facts"], every, mcp=hub).tools
    assert sorted((t.name, t.requires_confirmation) for t in some) == [("huge", True), ("lookup", False)]
    assert sorted((t.name, t.requires_confirmation) for t in all_of_them) == [("kb_huge", True), ("kb_lookup", True)]


async def test_two_tools_of_one_name_are_a_problem_asking_for_a_prefix(hub: McpHub) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_tools(["mcp:facts", "mcp:facts"], {}, path=("agents", 0), mcp=hub)
    assert "agents[0].tools[1]: tool 'mcp:facts' is listed twice" in str(raised.value)


async def test_an_undeclared_server_is_a_problem_while_agents_are_built(hub: McpHub) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_tools(["mcp:github"], {}, path=("agents", 1), mcp=hub)
    assert str(raised.value) == (
        "agents[1].tools[0]: unknown MCP server 'github': declare it in mcp_servers or fix the id"
    )


def test_without_a_hub_only_the_settings_are_checked() -> None:
    assert resolve_tools(["mcp:facts"], {"mcp:facts": {"include_tools": ["lookup"]}}).tools == []
    with pytest.raises(ConfigError) as raised:
        resolve_tools(["mcp:facts"], {"mcp:facts": {"include_tool": ["lookup"]}}, path=("agents", 0))
    assert "agents[0].tool_config.mcp:facts.include_tool" in str(raised.value)


def test_the_config_names_undeclared_servers_and_bad_server_fields_with_their_paths() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(
            {
                "models": [{"id": "m"}],
                "mcp_servers": [{"id": "files", "transport": "stdio"}],
                "agents": [{"id": "a", "tools": ["mcp:github"]}],
            }
        )
    assert "mcp_servers[0]" in str(raised.value) and "a stdio server needs command" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        parse_config({"models": [{"id": "m"}], "agents": [{"id": "a", "tools": ["mcp:github"]}]})
    assert (
        str(raised.value) == "agents[0].tools[0]: unknown MCP server 'github': declare it in mcp_servers or fix the id"
    )


async def test_the_runtime_connects_at_start_and_its_agent_runs_the_mcp_tool(
    http_port: int, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    config = parse_config(
        {
            "models": [{"id": "fake", "model": "fake-model", "base_url": fake_openai.base_url, "api_key_env": None}],
            "mcp_servers": [http_server(http_port).model_dump(exclude_defaults=True)],
            "agents": [
                {"id": "assistant", "tools": ["mcp:facts"], "tool_config": {"mcp:facts": {"include_tools": ["whoami"]}}}
            ],
        }
    )
    fake_openai.script(Reply.call(FakeToolCall("whoami", "{}")), Reply.say("You are robot-1."))

    async def in_memory(db: Any, **_: Any) -> InMemoryDatabase:
        return InMemoryDatabase(id=db.id)

    settings = Settings(data_dir=tmp_path)
    telemetry = RuntimeMetrics()
    connectors = Connectors(environ=ENVIRON, open_database=in_memory, mcp_metrics=telemetry.mcp)
    context = await open_context(settings, config, os_id="os", connectors=connectors)
    try:
        assert context.mcp is not None
        agent = context.agents["assistant"]
        output = await agent.complete(RunRequest(message="Who am I?", session_id="s1"))
    finally:
        await close_context(context)
    assert [tool.name for tool in agent.tools] == ["whoami"]
    assert output["content"] == "You are robot-1."
    assert fake_openai.bodies[1]["messages"][-1] == {"role": "tool", "content": "robot-1", "tool_call_id": "call_1"}
    assert not any(c.connected for c in context.mcp.connections.values())
    assert 'agentos_mcp_tool_calls_total{server="facts",tool="whoami",outcome="ok"} 1' in telemetry.render().decode()


def test_the_variables_holding_mcp_header_and_env_values_are_redacted_from_logs(tmp_path: Path) -> None:
    config = parse_config(
        {
            "models": [{"id": "m", "api_key_env": None}],
            "mcp_servers": [http_server(1).model_dump(), stdio_server().model_dump()],
        }
    )

    redacted = secret_values(Settings(data_dir=tmp_path), config, ENVIRON)

    assert ENVIRON["FACTS_TOKEN"] in redacted
    assert ENVIRON["LOCAL_GREETING"] in redacted
