"""Calls held for a person's confirmation, in the engine: who may pause, what a held call
counts for, and the decided calls of a paused run going on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from agentos_runtime.llm.ports import ToolCall
from agentos_runtime.runs import Agent, RunRequest
from agentos_runtime.runs.nested_store import NestedRunStore
from agentos_runtime.runs.nesting import persisting_into
from agentos_runtime.runs.pausing import Decision, PausedRun
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.tools.calculator import build_calculator

from tests.runtime.engine.fakes import FakeChatModel, Script, call, make_agent, say

CONFIRMED_FIRST = build_calculator().confirmed_first()
ADD = '{"expression": "2 + 3"}'


async def stored_run(database: InMemoryDatabase, session_id: str = "s1") -> dict[str, Any]:
    row = await database.sessions.get_session(session_id)
    assert row is not None and row.runs is not None
    [run] = row.runs
    return run


async def test_an_agent_inside_a_team_or_workflow_answers_a_held_call_unmade() -> None:
    model = FakeChatModel(call("calculator", ADD), say("I could not add."))
    nested = persisting_into(make_agent(model, tools=[CONFIRMED_FIRST]), NestedRunStore())
    assert isinstance(nested, Agent) and not nested.may_pause

    output = await nested.complete(RunRequest(message="add", session_id="s1"))

    assert output["status"] == "COMPLETED" and output["content"] == "I could not add."
    result = model.prompts[1][-1]["content"]
    assert result.startswith("Tool call calculator needs a person's confirmation, which this run cannot ask for")
    assert output["tools"] == []


async def test_a_held_call_counts_against_the_tool_call_limit() -> None:
    both = Script(tool_calls=[ToolCall("c1", "calculator", ADD), ToolCall("c2", "calculator", ADD)])
    database = InMemoryDatabase(id="db")
    agent = make_agent(FakeChatModel(both), tools=[CONFIRMED_FIRST], database=database, tool_call_limit=1)

    output = await agent.complete(RunRequest(message="add twice", session_id="s1"))

    assert output["status"] == "PAUSED"
    assert [(t["tool_call_id"], t["requires_confirmation"]) for t in output["tools"]] == [("c1", True)]
    refused = [m for m in output["messages"] if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"].startswith("Tool call limit reached")) for m in refused] == [("c2", True)]


@dataclass
class PausedAgent:
    """An agent whose run ``r1`` paused on call ``c1``, and that run confirmed, ready to go on."""

    database: InMemoryDatabase
    model: FakeChatModel
    agent: Agent
    going_on: PausedRun


async def paused_agent(*answers: Any) -> PausedAgent:
    """The model asks for the held call, then answers ``answers``."""
    database = InMemoryDatabase(id="db")
    model = FakeChatModel(call("calculator", ADD, call_id="c1"), *answers)
    agent = make_agent(model, tools=[CONFIRMED_FIRST], database=database)
    await agent.complete(RunRequest(message="add", session_id="s1", run_id="r1"))
    going_on = PausedRun(await stored_run(database), {"c1": Decision("c1", True)}, session_id="s1", user_id=None)
    return PausedAgent(database, model, agent, going_on)


async def test_a_paused_run_goes_on_with_the_model_answer_its_call_was_made_in() -> None:
    paused = await paused_agent(say("5"))
    database, agent, going_on = paused.database, paused.agent, paused.going_on

    events = [e async for e in agent.continue_run(going_on)]

    assert [e.event for e in events][:3] == ["RunContinued", "ToolCallStarted", "ToolCallCompleted"]
    assert events[-1].event == "RunCompleted"
    done = await stored_run(database)
    assert done["status"] == "COMPLETED" and done["tools"][0]["result"] == "5"
    assert [e["event"] for e in done["events"]].count("RunPaused") == 1


async def test_a_run_that_went_on_meanwhile_is_not_continued_twice() -> None:
    paused = await paused_agent(say("5"))
    database, model, agent, going_on = paused.database, paused.model, paused.agent, paused.going_on
    await agent.complete_continued(going_on)

    events = [e async for e in agent.continue_run(going_on)]

    assert [e.event for e in events] == ["RunError"]
    assert "is no longer PAUSED" in events[0].to_dict()["content"]
    assert len(model.prompts) == 2
    assert (await stored_run(database))["status"] == "COMPLETED"


async def test_a_second_request_for_a_run_going_on_here_gets_one_run_error() -> None:
    paused = await paused_agent()
    database, model, agent, going_on = paused.database, paused.model, paused.agent, paused.going_on
    first = agent.registry.start("r1")  # the first request's run, going on

    events = [e async for e in agent.continue_run(going_on)]

    agent.registry.finish(first)
    assert [(e.event, e.to_dict()["error_type"]) for e in events] == [("RunError", "run_conflict")]
    assert "already running" in events[0].to_dict()["content"]
    assert (await stored_run(database))["status"] == "PAUSED" and len(model.prompts) == 1


@pytest.mark.parametrize(
    ("before", "at_least", "below"), [(100.0, 100.0, 200.0), (-5, 0.0, 50.0), ("x", 0.0, 50.0), (1e300, 0.0, 50.0)]
)
async def test_a_continued_runs_duration_counts_what_it_ran_before_it_paused(
    before: Any, at_least: float, below: float
) -> None:
    paused = await paused_agent(say("5"))
    run = {**paused.going_on.run, "metrics": {**paused.going_on.run["metrics"], "duration": before}}
    going_on = PausedRun(run, paused.going_on.decisions, session_id="s1", user_id=None)

    output = await paused.agent.complete_continued(going_on)

    assert at_least <= output["metrics"]["duration"] < below
