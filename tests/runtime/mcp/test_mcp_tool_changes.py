"""MCP tools that change after start-up reach the next run; the tools are rebuilt only then."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from agentos_runtime.llm.ports import ToolSchema
from agentos_runtime.runs import Agent, RunRegistry, RunRequest, build_agents
from agentos_runtime.runs.composing import build_teams
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.tools.mcp.hub import McpHub
from agentos_runtime.tools.tool import Tool
from agentos_runtime.tools.toolsets import ToolSet

from tests.runtime.engine.fakes import FakeChatModel, call, runtime_config, say
from tests.runtime.mcp.servers import ENVIRON, TOKEN, http_server, serve_tool_server
from tests.support.ports import free_port

WAIT = 20.0


@pytest.fixture
def own_port() -> Iterator[int]:
    """A tool server of the test's own: ``grow`` changes its tool list for good."""
    with serve_tool_server() as port:
        yield port


@asynccontextmanager
async def connected(port: int, *, wait_seconds: float = WAIT) -> AsyncIterator[McpHub]:
    hub = McpHub([http_server(port)], ENVIRON)
    await hub.start(wait_seconds=wait_seconds)
    try:
        yield hub
    finally:
        await hub.close()


def document(port: int, **component: Any) -> dict[str, Any]:
    """A runtime config declaring the tool server as ``facts`` and one agent ``a`` using it."""
    return {
        "models": [{"id": "m", "api_key_env": None}],
        "mcp_servers": [
            {
                "id": "facts",
                "url": f"http://127.0.0.1:{port}/mcp",
                "headers": [{"name": "Authorization", "value_env": "FACTS_TOKEN"}],
            }
        ],
        "agents": [{"id": "a", "tools": ["mcp:facts"], **component}],
    }


def agent_on(hub: McpHub, model: FakeChatModel, port: int, **component: Any) -> Agent:
    config = runtime_config(**document(port, **component))
    databases = {"db": InMemoryDatabase(id="db")}
    agents = build_agents(config, models={"m": model}, databases=databases, registry=RunRegistry(), mcp=hub)
    return agents["a"]


def offered(tools: Sequence[ToolSchema] | None) -> list[str]:
    return sorted(schema["function"]["name"] for schema in tools or ())


ONLY_THESE = {"mcp:facts": {"include_tools": ["grow", "lookup", "second_lookup"]}}


async def test_a_tool_the_server_adds_after_start_is_offered_to_the_next_run_and_runs(own_port: int) -> None:
    async with connected(own_port) as hub:
        connection = hub.connections["facts"]
        model = FakeChatModel(
            call("grow", "{}"),
            say("It grew."),
            call("second_lookup", json.dumps({"key": "answer"})),
            say("done"),
        )
        agent = agent_on(hub, model, own_port, tool_config=ONLY_THESE)
        listed = connection.listings

        first = await agent.complete(RunRequest(message="Grow.", session_id="s1"))
        await connection.wait_for(lambda: connection.listings > listed, timeout=WAIT)
        second = await agent.complete(RunRequest(message="Look it up again.", session_id="s1"))

    assert first["status"] == second["status"] == "COMPLETED"
    assert offered(model.offered_tools[0]) == ["grow", "lookup"]
    assert offered(model.offered_tools[2]) == ["grow", "lookup", "second_lookup"]
    assert [(t["tool_name"], t["result"]) for t in second["tools"]] == [("second_lookup", "42")]
    assert sorted(tool.name for tool in agent.tools) == ["grow", "lookup", "second_lookup"]


async def test_a_server_down_at_start_gives_its_tools_to_the_first_run_after_it_comes_up() -> None:
    port = free_port()
    hub = McpHub([http_server(port)], ENVIRON)
    await hub.start(wait_seconds=0)
    connection = hub.connections["facts"]
    model = FakeChatModel(say("No tools yet."), call("lookup", json.dumps({"key": "capital-of-france"})), say("ok"))
    agent = agent_on(hub, model, port, tool_config={"mcp:facts": {"include_tools": ["lookup"]}})
    try:
        before = await agent.complete(RunRequest(message="Anything?", session_id="s1"))
        with serve_tool_server(port):
            try:
                await connection.wait_for(lambda: connection.listings > 0, timeout=WAIT)
                after = await agent.complete(RunRequest(message="Capital of France?", session_id="s1"))
            finally:
                await hub.close()  # before the server stops: its thread is joined on this loop
    finally:
        await hub.close()

    assert before["status"] == "COMPLETED" and model.offered_tools[0] is None
    assert offered(model.offered_tools[1]) == ["lookup"]
    assert [(t["tool_name"], t["result"], t["tool_call_error"]) for t in after["tools"]] == [("lookup", "Paris", False)]


async def test_runs_reuse_the_same_tool_schemas_while_nothing_changed(http_port: int) -> None:
    async with connected(http_port) as hub:
        model = FakeChatModel(say("one"), say("two"), say("three"))
        agent = agent_on(hub, model, http_port, tool_config={"mcp:facts": {"include_tools": ["lookup"]}})
        toolbox = agent.toolbox()

        for text in ("one", "two", "three"):
            await agent.complete(RunRequest(message=text, session_id="s1"))

    first, second, third = model.offered_tools
    assert offered(first) == ["lookup"]
    assert first is second is third is toolbox.schemas
    assert agent.toolbox() is toolbox


async def test_a_team_leader_calls_an_mcp_tool_itself_and_answers_with_its_result(http_port: int) -> None:
    leader = FakeChatModel(call("kb_lookup", json.dumps({"key": "capital-of-france"})), say("Paris, says the tool."))
    member = FakeChatModel()
    config = runtime_config(
        **{
            **document(http_port),
            "agents": [{"id": "a"}],
            "teams": [
                {
                    "id": "t",
                    "model": "lead",
                    "members": ["a"],
                    "tools": ["calculator", "mcp:facts"],
                    "tool_config": {"mcp:facts": {"include_tools": ["lookup"], "tool_name_prefix": "kb"}},
                }
            ],
            "models": [{"id": "m", "api_key_env": None}, {"id": "lead", "api_key_env": None}],
        }
    )
    models = {"m": member, "lead": leader}
    databases = {"db": InMemoryDatabase(id="db")}
    async with connected(http_port) as hub:
        registry = RunRegistry()
        agents = build_agents(config, models=models, databases=databases, registry=registry, mcp=hub)
        teams = build_teams(config, agents=agents, models=models, databases=databases, registry=registry, mcp=hub)

        output = await teams["t"].complete(RunRequest(message="Capital of France?", session_id="s1"))

    assert output["status"] == "COMPLETED"
    assert output["content"] == "Paris, says the tool."
    assert [(t["tool_name"], t["result"], t["tool_call_error"]) for t in output["tools"]] == [
        ("kb_lookup", "Paris", False)
    ]
    assert offered(leader.offered_tools[0]) == ["calculator", "delegate_task_to_member", "kb_lookup"]
    assert leader.prompts[1][-1]["content"] == "Paris"
    assert member.prompts == []
    assert TOKEN not in json.dumps(output)


class CountingSource:
    """A ``ToolSource`` whose tools are rebuilt by each ``tools()`` call, counted."""

    def __init__(self, *names: str) -> None:
        self.names = list(names)
        self.listings = 1
        self.builds = 0

    def tools(self) -> list[Tool]:
        self.builds += 1
        return [
            Tool(name, f"the {name} tool", {"type": "object", "properties": {}}, lambda: "result")
            for name in self.names
        ]


def test_a_tool_set_asks_its_sources_again_only_when_their_listing_count_moved() -> None:
    source = CountingSource("lookup")
    tools = ToolSet([Tool("calculator", "calc", {}, lambda: "2"), source])
    built = tools.tools

    generations = {tools.refresh() for _ in range(100)}
    assert (source.builds, generations, tools.tools is built) == (1, {1}, True)

    source.names.append("second_lookup")
    source.listings += 1
    assert tools.refresh() == 2
    assert source.builds == 2
    assert [tool.name for tool in tools.tools] == ["calculator", "lookup", "second_lookup"]


def test_a_tool_added_later_under_a_name_already_taken_is_left_out_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = CountingSource("lookup")
    tools = ToolSet([Tool("calculator", "calc", {}, lambda: "2"), source])

    source.names.append("calculator")
    source.listings += 1
    tools.refresh()

    assert [tool.name for tool in tools.tools] == ["calculator", "lookup"]
    assert tools.tools[0].description == "calc"
    assert "a second tool named calculator is left out: set tool_name_prefix to use both" in caplog.text
