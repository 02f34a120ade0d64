"""What an agent's and a team leader's run do alike as they open, and the tools a run takes."""

from __future__ import annotations

from dataclasses import dataclass, field

from agentos_runtime.config.components import AgentConfig
from agentos_runtime.runs import RunRequest
from agentos_runtime.runs.opening import first_messages, history_runs, run_metadata
from agentos_runtime.runs.record import RunRecord
from agentos_runtime.runs.toolbox import TakenTools, agent_toolbox
from agentos_runtime.tools import Tool
from agentos_runtime.tools.toolsets import ToolSet

from tests.runtime.engine.fakes import FakeChatModel, make_agent, say

EMPTY = {"type": "object", "properties": {}}


def tool(name: str) -> Tool:
    return Tool(name, f"The {name} tool.", EMPTY, lambda: name)


@dataclass
class ListedTools:
    """A tool source whose listing the test changes, as an MCP server's."""

    names: list[str]
    listings: int = 0
    derived: list[list[str]] = field(default_factory=list)

    def tools(self) -> list[Tool]:
        return [tool(name) for name in self.names]


def record() -> RunRecord:
    return RunRecord(
        run_id="r1",
        agent_id="a",
        agent_name="A",
        session_id="s1",
        user_id=None,
        model="m",
        model_provider="OpenAI",
        input_content="Hi",
        metadata=None,
    )


def test_a_run_replays_the_configs_history_runs_unless_the_request_says_otherwise() -> None:
    config = AgentConfig(id="a", add_history_to_context=True, num_history_runs=4)

    assert history_runs(RunRequest(message="Hi"), config) == 4
    assert history_runs(RunRequest(message="Hi", num_history_runs=2), config) == 2
    assert history_runs(RunRequest(message="Hi", add_history_to_context=False), config) == 0
    assert history_runs(RunRequest(message="Hi", num_history_runs=2), AgentConfig(id="a")) == 0
    assert history_runs(RunRequest(message="Hi", add_history_to_context=True), AgentConfig(id="a")) == 3


def test_the_requests_metadata_wins_over_the_configs_nested_dicts_merged_and_empty_is_none() -> None:
    merged = run_metadata({"team": {"owner": "ops"}, "tier": "gold"}, {"team": {"ticket": "T-1"}, "tier": "free"})

    assert merged == {"team": {"owner": "ops", "ticket": "T-1"}, "tier": "free"}
    assert run_metadata(None, {"ticket": "T-1"}) == {"ticket": "T-1"}
    assert run_metadata({}, {}) is None
    assert run_metadata(None, None) is None


def test_a_requests_nested_metadata_leaves_the_configs_metadata_as_it_was() -> None:
    configured = {"team": {"owner": "ops"}}

    run_metadata(configured, {"team": {"ticket": "T-1"}})

    assert configured == {"team": {"owner": "ops"}}


async def test_an_agents_next_run_does_not_carry_metadata_an_earlier_request_merged_in() -> None:
    agent = make_agent(FakeChatModel(say("One."), say("Two.")), metadata={"team": {"owner": "ops"}})

    first = await agent.complete(RunRequest(message="Hi", session_id="s1", metadata={"team": {"ticket": "T-1"}}))
    second = await agent.complete(RunRequest(message="Hi", session_id="s1"))

    assert first["metadata"] == {"team": {"owner": "ops", "ticket": "T-1"}}
    assert second["metadata"] == {"team": {"owner": "ops"}}
    assert agent.config.metadata == {"team": {"owner": "ops"}}


def test_first_messages_are_the_system_message_the_history_and_the_users_message_in_that_order() -> None:
    run = record()
    earlier = [{"role": "user", "content": "Before", "from_history": True}]

    chat = first_messages(run, "Be brief.", earlier, "Hi")

    assert [(m["role"], m["content"]) for m in run.messages] == [
        ("system", "Be brief."),
        ("user", "Before"),
        ("user", "Hi"),
    ]
    assert [m["content"] for m in chat] == ["Be brief.", "Before", "Hi"]


def test_without_a_system_message_the_run_opens_with_the_users_message() -> None:
    run = record()

    chat = first_messages(run, None, (), "Hi")

    assert [(m["role"], m["content"]) for m in run.messages] == [("user", "Hi")]
    assert chat == [{"role": "user", "content": "Hi"}]


def test_runs_take_the_same_derived_tools_until_a_source_lists_its_tools_again() -> None:
    source = ListedTools(["lookup"])
    taken = TakenTools(ToolSet([tool("clock"), source]), lambda tools: [t.name for t in tools])

    first = taken.take()
    assert first == ["clock", "lookup"]
    assert taken.take() is first

    source.names.append("grow")
    assert taken.take() is first  # the listing count did not move: nothing is derived again
    source.listings += 1
    again = taken.take()

    assert again == ["clock", "lookup", "grow"]
    assert taken.take() is again


def test_a_sequence_of_tools_becomes_a_set_of_its_own_and_a_toolset_is_shared() -> None:
    shared = ToolSet([tool("clock")])

    assert TakenTools(shared, list).toolset is shared
    assert [t.name for t in TakenTools([tool("clock")], list).toolset.tools] == ["clock"]


def test_an_agents_toolbox_offers_each_tools_schema_and_none_without_tools() -> None:
    toolbox = agent_toolbox([tool("clock"), tool("lookup")], 3)

    assert list(toolbox.tools) == ["clock", "lookup"]
    assert [s["function"]["name"] for s in toolbox.schemas or ()] == ["clock", "lookup"]
    assert toolbox.limit == 3
    assert agent_toolbox([], None).schemas is None
