"""A team nested in another team waits for a person: its member agent's call, or its own
leader's, needing a confirmation pauses the nested team run and the outer team run with it, with
requirements naming whose call it is as Agno lifts them; going on resumes the nested team inside
the outer run, which then asks its own leader again."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agentos_runtime.api.routes.continuing import member_gone
from agentos_runtime.runs import RunRequest
from agentos_runtime.runs.pausing import Decision, PausedRun
from agentos_runtime.runs.teams import MemberGone, Team, waiting_member_runs
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.engine.fakes import FakeChatModel, call, runtime_config, say
from tests.runtime.teams.in_memory import stored_run, teams_in_memory

JSON = dict[str, Any]
ADD = json.dumps({"expression": "2 + 3"})
CONFIRMED_CALCULATOR = {"tools": ["calculator"], "tool_config": {"calculator": {"requires_confirmation": True}}}
TO_INNER = json.dumps({"member_id": "t", "task": "add 2 and 3"})
TO_ADDER = json.dumps({"member_id": "a", "task": "add 2 and 3"})


def outer_team(
    outer: FakeChatModel, inner: FakeChatModel, adder: FakeChatModel, *, inner_team: JSON | None = None
) -> tuple[Team, InMemoryDatabase]:
    """Team Outer (o) whose one member is team Inner (t), whose one member is agent Adder (a),
    with a calculator that needs a confirmation."""
    config = runtime_config(
        models=[{"id": m, "api_key_env": None} for m in ("outer", "inner", "ma")],
        agents=[{"id": "a", "name": "Adder", "model": "ma", **CONFIRMED_CALCULATOR}],
        teams=[
            {"id": "t", "name": "Inner", "model": "inner", "members": ["a"], **(inner_team or {})},
            {"id": "o", "name": "Outer", "model": "outer", "members": ["t"]},
        ],
    )
    models = {"outer": outer, "inner": inner, "ma": adder}
    teams, database = teams_in_memory(config, models)
    return teams["o"], database


async def test_a_nested_teams_member_pausing_pauses_the_outer_team_run_with_the_members_requirement() -> None:
    outer = FakeChatModel(call("delegate_task_to_member", TO_INNER, call_id="o1"))
    inner = FakeChatModel(call("delegate_task_to_member", TO_ADDER, call_id="i1"))
    team, database = outer_team(outer, inner, FakeChatModel(call("calculator", ADD, call_id="c1")))

    events = [e.to_dict() async for e in team.run(RunRequest(message="add", session_id="s1", run_id="r1"))]

    assert events[-1]["event"] == "TeamRunPaused" and events[-1]["team_id"] == "o"
    stored = await stored_run(database)
    [inner_run] = stored["member_responses"]
    [adder_run] = inner_run["member_responses"]
    assert (stored["status"], inner_run["status"], adder_run["status"]) == ("PAUSED", "PAUSED", "PAUSED")
    assert inner_run["team_id"] == "t" and inner_run["parent_run_id"] == "r1"
    [requirement] = events[-1]["requirements"]
    assert (requirement["member_agent_id"], requirement["member_agent_name"]) == ("a", "Adder")
    assert requirement["member_run_id"] == adder_run["run_id"]
    assert requirement["tool_execution"]["tool_call_id"] == "c1"
    assert stored["requirements"] == events[-1]["requirements"]
    [delegation] = stored["tools"]
    assert delegation["result"] == "Member 'Inner' requires human input before continuing."
    assert (len(outer.prompts), len(inner.prompts)) == (1, 1)
    assert waiting_member_runs(team, stored) == {adder_run["run_id"]: adder_run["tools"]}


async def test_a_confirmed_call_of_a_nested_teams_member_goes_on_through_both_leaders_streamed() -> None:
    outer = FakeChatModel(call("delegate_task_to_member", TO_INNER, call_id="o1"), say("Outer says 5."))
    inner = FakeChatModel(call("delegate_task_to_member", TO_ADDER, call_id="i1"), say("Inner says 5."))
    adder = FakeChatModel(call("calculator", ADD, call_id="c1"), say("5"))
    team, database = outer_team(outer, inner, adder)
    await team.complete(RunRequest(message="add", session_id="s1", run_id="r1"))
    paused = await stored_run(database)
    adder_run_id = paused["member_responses"][0]["member_responses"][0]["run_id"]
    decided = {adder_run_id: {"c1": Decision("c1", True)}}

    going_on = PausedRun(paused, {}, session_id="s1", user_id=None, member_decisions=decided)
    events = [e.to_dict() async for e in team.continue_run(going_on)]

    assert events[0]["event"] == "TeamRunContinued" and events[-1]["event"] == "TeamRunCompleted"
    assert events[-1]["content"] == "Outer says 5."
    assert adder.prompts[1][-1] == {"role": "tool", "tool_call_id": "c1", "content": "5"}
    read = "Member results after human-in-the-loop resolution:\n[Adder]: 5"  # Agno's words
    assert inner.prompts[1][-1] == {"role": "tool", "tool_call_id": "i1", "content": read}
    inner_read = "Member results after human-in-the-loop resolution:\n[Inner]: Inner says 5."
    assert outer.prompts[1][-1] == {"role": "tool", "tool_call_id": "o1", "content": inner_read}
    run = await stored_run(database)
    [inner_run] = run["member_responses"]
    [adder_run] = inner_run["member_responses"]
    assert (run["status"], run["content"]) == ("COMPLETED", "Outer says 5.")
    assert (inner_run["status"], inner_run["content"]) == ("COMPLETED", "Inner says 5.")
    assert (adder_run["run_id"], adder_run["status"]) == (adder_run_id, "COMPLETED")
    assert [(t["confirmed"], t["result"]) for t in adder_run["tools"]] == [(True, "5")]
    assert "requirements" not in run and "requirements" not in inner_run


async def test_a_nested_teams_leader_pausing_names_the_nested_team_and_a_rejection_goes_on_unstreamed() -> None:
    outer = FakeChatModel(call("delegate_task_to_member", TO_INNER, call_id="o1"), say("Inner would not add."))
    inner = FakeChatModel(call("calculator", ADD, call_id="c1"), say("I was told not to add."))
    team, database = outer_team(outer, inner, FakeChatModel(), inner_team=CONFIRMED_CALCULATOR)
    paused_output = await team.complete(RunRequest(message="add", session_id="s1", run_id="r1"))
    paused = await stored_run(database)
    [inner_run] = paused["member_responses"]
    [requirement] = paused_output["requirements"]
    assert (requirement["member_agent_id"], requirement["member_agent_name"]) == ("t", "Inner")
    assert requirement["member_run_id"] == inner_run["run_id"]

    decided = {inner_run["run_id"]: {"c1": Decision("c1", False, "not now")}}
    output = await team.complete_continued(
        PausedRun(paused, {}, session_id="s1", user_id=None, member_decisions=decided)
    )

    assert (output["status"], output["content"]) == ("COMPLETED", "Inner would not add.")
    assert inner.prompts[1][-1] == {"role": "tool", "tool_call_id": "c1", "content": "not now"}
    assert outer.prompts[1][-1]["content"] == (
        "Member results after human-in-the-loop resolution:\n[Inner]: I was told not to add."
    )
    run = await stored_run(database)
    [tool] = run["member_responses"][0]["tools"]
    assert (run["status"], tool["confirmed"], tool["confirmation_note"]) == ("COMPLETED", False, "not now")


async def test_a_nested_teams_member_pausing_again_pauses_the_outer_run_again_without_asking_either_leader() -> None:
    outer = FakeChatModel(call("delegate_task_to_member", TO_INNER, call_id="o1"), say("Done."))
    inner = FakeChatModel(call("delegate_task_to_member", TO_ADDER, call_id="i1"), say("10"))
    adder = FakeChatModel(call("calculator", ADD, call_id="c1"), call("calculator", ADD, call_id="c2"), say("10"))
    team, database = outer_team(outer, inner, adder)
    await team.complete(RunRequest(message="add", session_id="s1", run_id="r1"))
    paused = await stored_run(database)
    adder_run_id = paused["member_responses"][0]["member_responses"][0]["run_id"]

    again = await team.complete_continued(
        PausedRun(
            paused, {}, session_id="s1", user_id=None, member_decisions={adder_run_id: {"c1": Decision("c1", True)}}
        )
    )

    assert again["status"] == "PAUSED"
    [requirement] = again["requirements"]
    assert (requirement["member_run_id"], requirement["tool_execution"]["tool_call_id"]) == (adder_run_id, "c2")
    assert (len(outer.prompts), len(inner.prompts)) == (1, 1)
    assert (await stored_run(database))["status"] == "PAUSED"


async def paused_in_the_nested_teams_member() -> tuple[Team, JSON]:
    """Outer's run ``r1``, paused on Adder's calculator call inside Inner, and the team, as stored."""
    outer = FakeChatModel(call("delegate_task_to_member", TO_INNER, call_id="o1"))
    inner = FakeChatModel(call("delegate_task_to_member", TO_ADDER, call_id="i1"))
    team, database = outer_team(outer, inner, FakeChatModel(call("calculator", ADD, call_id="c1")))
    await team.complete(RunRequest(message="add", session_id="s1", run_id="r1"))
    paused = await stored_run(database)
    return team, paused


async def test_a_paused_run_waiting_on_a_member_its_nested_team_no_longer_has_is_refused() -> None:
    team, paused = await paused_in_the_nested_teams_member()
    paused["member_responses"][0]["member_responses"][0]["agent_id"] = "gone"

    with pytest.raises(MemberGone) as refused:
        waiting_member_runs(team, paused)

    assert (refused.value.member_id, refused.value.team_id) == ("gone", "t")


async def test_a_paused_run_waiting_on_a_member_now_of_another_kind_is_refused_saying_so() -> None:
    team, paused = await paused_in_the_nested_teams_member()
    waiting_agent = paused["member_responses"][0]["member_responses"][0]
    waiting_agent["team_id"] = waiting_agent.pop("agent_id")  # its run, read as a team's where an agent is

    with pytest.raises(MemberGone) as refused:
        waiting_member_runs(team, paused)

    assert (refused.value.member_id, refused.value.team_id) == ("a", "t")
    assert (refused.value.ran_as, refused.value.now) == ("team", "agent")
    assert member_gone("r1", refused.value).detail == (
        "run 'r1' waits on a run of member 'a' of team 't', which ran as a team and is an agent now: "
        "it cannot go on; make 'a' a team again to continue it, or start a new run"
    )
