"""A team run waits for a person: the leader's own calls held for a confirmation, the decided
calls of a paused team run going on, and the runs that cannot pause."""

from __future__ import annotations

import json
from typing import Any

from agentos_runtime.runs import RunRegistry, RunRequest, build_agents
from agentos_runtime.runs.composing import build_teams
from agentos_runtime.runs.nested_store import NestedRunStore
from agentos_runtime.runs.pausing import Decision, PausedRun
from agentos_runtime.runs.teams import Team
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.engine.fakes import FakeChatModel, call, runtime_config, say

ADD = json.dumps({"expression": "2 + 3"})
CONFIRMED_CALCULATOR = {"tools": ["calculator"], "tool_config": {"calculator": {"requires_confirmation": True}}}


def team_with(leader: FakeChatModel, member: FakeChatModel, **team: object) -> tuple[Team, InMemoryDatabase]:
    config = runtime_config(
        models=[{"id": "m", "api_key_env": None}, {"id": "lead", "api_key_env": None}],
        agents=[{"id": "a"}],
        teams=[{"id": "t", "model": "lead", "members": ["a"], **team}],
    )
    models = {"m": member, "lead": leader}
    database = InMemoryDatabase(id="db")
    registry = RunRegistry()
    agents = build_agents(config, models=models, databases={"db": database}, registry=registry)
    teams = build_teams(config, agents=agents, models=models, databases={"db": database}, registry=registry)
    return teams["t"], database


async def stored_runs(database: InMemoryDatabase, session_id: str = "s1") -> list[dict[str, Any]]:
    row = await database.sessions.get_session(session_id)
    assert row is not None and row.runs is not None
    return row.runs


async def test_a_leaders_call_needing_a_confirmation_pauses_the_team_run_and_is_not_made() -> None:
    leader = FakeChatModel(call("calculator", ADD, call_id="c1"))
    team, database = team_with(leader, FakeChatModel(), **CONFIRMED_CALCULATOR)

    events = [e.to_dict() async for e in team.run(RunRequest(message="add", session_id="s1", run_id="r1"))]

    assert [e["event"] for e in events][-2:] == ["TeamRunContentCompleted", "TeamRunPaused"]
    paused = events[-1]
    assert paused["team_id"] == "t" and paused["run_id"] == "r1"
    [requirement] = paused["requirements"]
    assert requirement["tool_execution"]["tool_call_id"] == "c1"
    assert requirement["tool_execution"]["requires_confirmation"] is True
    assert "member_run_id" not in requirement
    assert not any(e["event"] == "TeamToolCallStarted" for e in events)
    assert len(leader.prompts) == 1
    [stored] = await stored_runs(database)
    assert stored["status"] == "PAUSED" and stored["requirements"] == paused["requirements"]
    assert stored["tools"][0]["confirmed"] is None


async def test_a_paused_team_run_goes_on_with_the_confirmed_call_and_is_stored_once_completed() -> None:
    leader = FakeChatModel(call("calculator", ADD, call_id="c1"), say("It is 5."))
    team, database = team_with(leader, FakeChatModel(), **CONFIRMED_CALCULATOR)
    await team.complete(RunRequest(message="add", session_id="s1", run_id="r1"))
    [stored] = await stored_runs(database)

    going_on = PausedRun(stored, {"c1": Decision("c1", True)}, session_id="s1", user_id=None)
    events = [e.to_dict() async for e in team.continue_run(going_on)]

    names = [e["event"] for e in events]
    assert names[0] == "TeamRunContinued" and names[-1] == "TeamRunCompleted"
    assert "TeamToolCallCompleted" in names
    assert leader.prompts[1][-1] == {"role": "tool", "tool_call_id": "c1", "content": "5"}
    [run] = await stored_runs(database)
    assert (run["run_id"], run["status"], run["content"]) == ("r1", "COMPLETED", "It is 5.")
    [tool] = run["tools"]
    assert (tool["confirmed"], tool["result"]) == (True, "5")
    assert "requirements" not in run


async def test_a_rejected_leader_call_is_answered_with_the_note_and_never_made() -> None:
    leader = FakeChatModel(call("calculator", ADD, call_id="c1"), say("I will not add."))
    team, database = team_with(leader, FakeChatModel(), **CONFIRMED_CALCULATOR)
    await team.complete(RunRequest(message="add", session_id="s1", run_id="r1"))
    [stored] = await stored_runs(database)

    going_on = PausedRun(stored, {"c1": Decision("c1", False, "not today")}, session_id="s1", user_id=None)
    output = await team.complete_continued(going_on)

    assert output["status"] == "COMPLETED" and output["content"] == "I will not add."
    assert leader.prompts[1][-1]["content"] == "not today"
    [tool] = output["tools"]
    assert (tool["confirmed"], tool["confirmation_note"], tool.get("result")) == (False, "not today", None)


async def test_a_paused_team_run_is_taken_up_once() -> None:
    leader = FakeChatModel(call("calculator", ADD, call_id="c1"), say("It is 5."), say("again"))
    team, database = team_with(leader, FakeChatModel(), **CONFIRMED_CALCULATOR)
    await team.complete(RunRequest(message="add", session_id="s1", run_id="r1"))
    [stored] = await stored_runs(database)
    going_on = PausedRun(stored, {"c1": Decision("c1", True)}, session_id="s1", user_id=None)
    await team.complete_continued(going_on)

    events = [e.to_dict() async for e in team.continue_run(going_on)]

    assert [e["event"] for e in events] == ["TeamRunError"]
    assert events[0]["error_type"] == "run_conflict"
    [run] = await stored_runs(database)
    assert run["status"] == "COMPLETED" and len(leader.prompts) == 2


async def test_a_team_run_that_cannot_pause_answers_the_leaders_held_call_unmade() -> None:
    leader = FakeChatModel(call("calculator", ADD, call_id="c1"), say("Could not add."))
    team, _ = team_with(leader, FakeChatModel(), **CONFIRMED_CALCULATOR)
    nested = team.persisting_into(NestedRunStore())
    assert not nested.may_pause

    output = await nested.complete(RunRequest(message="add", session_id="s1"))

    assert output["status"] == "COMPLETED" and output["content"] == "Could not add."
    assert leader.prompts[1][-1]["content"].startswith("Tool call calculator needs a person's confirmation")
    assert output["tools"] == []
