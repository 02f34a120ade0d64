"""A team run waits for a person: the leader's own calls, or a member agent's, held for a
confirmation, the decided calls of a paused team run going on, and the runs that cannot pause."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agentos_runtime.errors import ModelProviderError
from agentos_runtime.llm.ports import ToolCall
from agentos_runtime.runs import RunRegistry, RunRequest, build_agents, team_turns
from agentos_runtime.runs.composing import build_teams
from agentos_runtime.runs.nested_store import NestedRunStore
from agentos_runtime.runs.pausing import Decision, PausedRun
from agentos_runtime.runs.teams import Team
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.engine.fakes import FakeChatModel, Script, call, runtime_config, say

ADD = json.dumps({"expression": "2 + 3"})
CONFIRMED_CALCULATOR = {"tools": ["calculator"], "tool_config": {"calculator": {"requires_confirmation": True}}}


def team_with(
    leader: FakeChatModel, member: FakeChatModel, *, agent: dict[str, Any] | None = None, **team: object
) -> tuple[Team, InMemoryDatabase]:
    config = runtime_config(
        models=[{"id": "m", "api_key_env": None}, {"id": "lead", "api_key_env": None}],
        agents=[{"id": "a", "name": "Adder", **(agent or {})}],
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


DELEGATE = json.dumps({"member_id": "a", "task": "add 2 and 3"})


async def paused_by_member(
    leader: FakeChatModel, member: FakeChatModel, **team: object
) -> tuple[Team, InMemoryDatabase]:
    team_run, database = team_with(leader, member, agent=CONFIRMED_CALCULATOR, **team)
    await team_run.complete(RunRequest(message="add", session_id="s1", run_id="r1"))
    return team_run, database


async def test_a_members_call_needing_a_confirmation_pauses_the_member_and_the_team_run() -> None:
    leader = FakeChatModel(call("delegate_task_to_member", DELEGATE, call_id="d1"))
    member = FakeChatModel(call("calculator", ADD, call_id="c1"))
    team, database = team_with(leader, member, agent=CONFIRMED_CALCULATOR)

    events = [e.to_dict() async for e in team.run(RunRequest(message="add", session_id="s1", run_id="r1"))]

    paused = events[-1]
    assert paused["event"] == "TeamRunPaused"
    [requirement] = paused["requirements"]
    [member_run] = (await stored_runs(database))[0]["member_responses"]
    assert (requirement["member_agent_id"], requirement["member_agent_name"]) == ("a", "Adder")
    assert requirement["member_run_id"] == member_run["run_id"] and member_run["status"] == "PAUSED"
    assert requirement["tool_execution"]["tool_call_id"] == "c1"
    assert len(leader.prompts) == 1 and len(member.prompts) == 1
    [delegation] = paused["tools"]
    assert delegation["result"] == "Member 'Adder' requires human input before continuing."


async def test_a_paused_member_goes_on_and_its_answer_is_the_delegations_result_the_leader_reads() -> None:
    leader = FakeChatModel(call("delegate_task_to_member", DELEGATE, call_id="d1"), say("The member says 5."))
    member = FakeChatModel(call("calculator", ADD, call_id="c1"), say("5"))
    team, database = await paused_by_member(leader, member)
    [stored] = await stored_runs(database)
    member_run_id = stored["member_responses"][0]["run_id"]

    going_on = PausedRun(
        stored, {}, session_id="s1", user_id=None, member_decisions={member_run_id: {"c1": Decision("c1", True)}}
    )
    output = await team.complete_continued(going_on)

    assert (output["status"], output["content"]) == ("COMPLETED", "The member says 5.")
    assert member.prompts[1][-1] == {"role": "tool", "tool_call_id": "c1", "content": "5"}
    read = "Member results after human-in-the-loop resolution:\n[Adder]: 5"  # Agno's words
    assert leader.prompts[1][-1] == {"role": "tool", "tool_call_id": "d1", "content": read}
    [run] = await stored_runs(database)
    [member_run] = run["member_responses"]
    assert (member_run["run_id"], member_run["status"], member_run["content"]) == (member_run_id, "COMPLETED", "5")
    assert member_run["parent_run_id"] == "r1"
    assert [(t["confirmed"], t["result"]) for t in member_run["tools"]] == [(True, "5")]
    assert run["tools"][0]["result"] == read


async def test_a_member_pausing_again_pauses_the_team_run_again_without_asking_the_leader() -> None:
    twice = call("calculator", ADD, call_id="c2")
    leader = FakeChatModel(call("delegate_task_to_member", DELEGATE, call_id="d1"), say("Done."))
    member = FakeChatModel(call("calculator", ADD, call_id="c1"), twice, say("10"))
    team, database = await paused_by_member(leader, member)
    [stored] = await stored_runs(database)
    member_run_id = stored["member_responses"][0]["run_id"]
    first = {member_run_id: {"c1": Decision("c1", True)}}

    again = await team.complete_continued(PausedRun(stored, {}, session_id="s1", user_id=None, member_decisions=first))

    assert again["status"] == "PAUSED" and len(leader.prompts) == 1
    assert [r["tool_execution"]["tool_call_id"] for r in again["requirements"]] == ["c2"]
    [stored] = await stored_runs(database)
    second = {member_run_id: {"c2": Decision("c2", True)}}
    done = await team.complete_continued(PausedRun(stored, {}, session_id="s1", user_id=None, member_decisions=second))
    assert (done["status"], done["content"]) == ("COMPLETED", "Done.")
    assert leader.prompts[1][-1]["content"] == "Member results after human-in-the-loop resolution:\n[Adder]: 10"


async def test_in_route_mode_the_leader_is_asked_again_once_a_paused_member_went_on_as_agno_does() -> None:
    leader = FakeChatModel(call("delegate_task_to_member", DELEGATE, call_id="d1"), say("The team says 5."))
    member = FakeChatModel(call("calculator", ADD, call_id="c1"), say("5"))
    team, database = await paused_by_member(leader, member, mode="route")
    [stored] = await stored_runs(database)
    member_run_id = stored["member_responses"][0]["run_id"]

    going_on = PausedRun(
        stored, {}, session_id="s1", user_id=None, member_decisions={member_run_id: {"c1": Decision("c1", True)}}
    )
    output = await team.complete_continued(going_on)

    assert (output["status"], output["content"]) == ("COMPLETED", "The team says 5.")
    assert len(leader.prompts) == 2
    assert leader.prompts[1][-1]["content"] == "Member results after human-in-the-loop resolution:\n[Adder]: 5"


async def test_a_member_failing_once_it_goes_on_gives_the_leader_its_failure_as_its_result() -> None:
    leader = FakeChatModel(call("delegate_task_to_member", DELEGATE, call_id="d1"), say("The member failed."))
    member = FakeChatModel(call("calculator", ADD, call_id="c1"), Script(error=ModelProviderError("model 'm' is down")))
    team, database = await paused_by_member(leader, member)
    [stored] = await stored_runs(database)
    member_run_id = stored["member_responses"][0]["run_id"]

    going_on = PausedRun(
        stored, {}, session_id="s1", user_id=None, member_decisions={member_run_id: {"c1": Decision("c1", True)}}
    )
    output = await team.complete_continued(going_on)

    assert (output["status"], output["content"]) == ("COMPLETED", "The member failed.")
    assert output["member_responses"][0]["status"] == "ERROR"
    [delegation] = output["tools"]
    assert delegation["result"].startswith(
        "Member results after human-in-the-loop resolution:\n[Adder]: The member failed: "
    )
    assert delegation["tool_call_error"] is False  # as Agno: the leader reads it as any member's answer


async def test_the_member_runs_made_before_a_pause_count_against_the_allowance_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The allowance started again at every continue: each pause allowed as many member runs again.
    monkeypatch.setattr(team_turns, "MAX_MEMBER_RUNS", 2)

    def delegation(call_id: str) -> ToolCall:
        return ToolCall(call_id, "delegate_task_to_member", json.dumps({"member_id": "a", "task": "Add"}))

    first = Script(tool_calls=[delegation("d1"), delegation("d2"), ToolCall("c1", "calculator", ADD)])
    leader = FakeChatModel(first, Script(tool_calls=[delegation("d3")]), say("Done."))
    member = FakeChatModel(say("one"), say("two"), say("three"))
    team, database = team_with(leader, member, **CONFIRMED_CALCULATOR)
    paused = await team.complete(RunRequest(message="add", session_id="s1", run_id="r1"))
    assert paused["status"] == "PAUSED"
    [stored] = await stored_runs(database)

    done = await team.complete_continued(PausedRun(stored, {"c1": Decision("c1", True)}, session_id="s1", user_id=None))

    assert done["status"] == "COMPLETED" and len(member.prompts) == 2
    results = {m["tool_call_id"]: m["content"] for m in done["messages"] if m["role"] == "tool"}
    assert results["d3"].startswith("Error: not run: a team run starts at most 2 member runs")
