"""A broadcast team's members wait for a person: every member agent whose call needs a
confirmation pauses, the team run pauses with each one's requirements before its leader is
asked, and going on resumes each paused member, then asks the leader, whose broadcast call then
reads Agno's continued result: the answers of the members that went on, not of those that had
answered before the pause."""

from __future__ import annotations

import json
from typing import Any

from agentos_runtime.runs import RunRequest
from agentos_runtime.runs.nested_store import NestedRunStore
from agentos_runtime.runs.pausing import Decision, PausedRun
from agentos_runtime.runs.teams import Team
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.engine.fakes import FakeChatModel, call, runtime_config, say
from tests.runtime.teams.in_memory import stored_run, teams_in_memory

JSON = dict[str, Any]
ADD = json.dumps({"expression": "2 + 3"})
CONFIRMED_CALCULATOR = {"tools": ["calculator"], "tool_config": {"calculator": {"requires_confirmation": True}}}


def broadcast_team(
    leader: FakeChatModel, adder: FakeChatModel, counter: FakeChatModel
) -> tuple[Team, InMemoryDatabase]:
    """A broadcast team of two agents, Adder (a) and Counter (b), each with a calculator that
    needs a confirmation."""
    config = runtime_config(
        models=[{"id": m, "api_key_env": None} for m in ("lead", "ma", "mb")],
        agents=[
            {"id": "a", "name": "Adder", "model": "ma", **CONFIRMED_CALCULATOR},
            {"id": "b", "name": "Counter", "model": "mb", **CONFIRMED_CALCULATOR},
        ],
        teams=[{"id": "t", "model": "lead", "members": ["a", "b"], "mode": "broadcast"}],
    )
    models = {"lead": leader, "ma": adder, "mb": counter}
    teams, database = teams_in_memory(config, models)
    return teams["t"], database


def member_run(run: JSON, member_id: str) -> JSON:
    [found] = [m for m in run["member_responses"] if m["agent_id"] == member_id]
    return found


def going_on(run: JSON, **decisions: Decision) -> PausedRun:
    """The paused run going on with ``decisions`` on its members' calls, by member id."""
    by_run = {member_run(run, member_id)["run_id"]: {d.tool_call_id: d} for member_id, d in decisions.items()}
    return PausedRun(run, {}, session_id="s1", user_id=None, member_decisions=by_run)


async def test_every_broadcast_member_that_calls_a_tool_needing_a_confirmation_pauses_the_team_run_before_its_leader_is_asked() -> (
    None
):
    leader = FakeChatModel()
    team, database = broadcast_team(
        leader,
        FakeChatModel(call("calculator", ADD, call_id="ca")),
        FakeChatModel(call("calculator", ADD, call_id="cb")),
    )

    events = [e.to_dict() async for e in team.run(RunRequest(message="add", session_id="s1", run_id="r1"))]

    assert [e["event"] for e in events][-2:] == ["TeamRunContentCompleted", "TeamRunPaused"]
    assert leader.prompts == []
    stored = await stored_run(database)
    assert stored["status"] == "PAUSED"
    requirements = {r["member_agent_id"]: r for r in events[-1]["requirements"]}
    assert sorted(requirements) == ["a", "b"]
    for member_id, call_id, name in (("a", "ca", "Adder"), ("b", "cb", "Counter")):
        paused_member = member_run(stored, member_id)
        assert paused_member["status"] == "PAUSED" and paused_member["parent_run_id"] == "r1"
        assert requirements[member_id]["member_run_id"] == paused_member["run_id"]
        assert requirements[member_id]["member_agent_name"] == name
        assert requirements[member_id]["tool_execution"]["tool_call_id"] == call_id
    assert stored["requirements"] == events[-1]["requirements"]
    [broadcast] = stored["tools"]
    assert broadcast["result"] == (
        "Member Adder (a): Member 'Adder' requires human input before continuing.\n\n"
        "Member Counter (b): Member 'Counter' requires human input before continuing."
    )


async def test_a_broadcast_pauses_with_the_waiting_members_requirements_only_and_keeps_the_others_answers() -> None:
    leader = FakeChatModel()
    team, database = broadcast_team(
        leader, FakeChatModel(call("calculator", ADD, call_id="ca")), FakeChatModel(say("3 items"))
    )

    output = await team.complete(RunRequest(message="add", session_id="s1", run_id="r1"))

    assert output["status"] == "PAUSED" and leader.prompts == []
    stored = await stored_run(database)
    [requirement] = stored["requirements"]
    assert (requirement["member_agent_id"], requirement["member_run_id"]) == ("a", member_run(stored, "a")["run_id"])
    assert (member_run(stored, "b")["status"], member_run(stored, "b")["content"]) == ("COMPLETED", "3 items")


async def test_a_confirmed_broadcast_member_goes_on_then_the_leader_reads_only_its_answer_streamed() -> None:
    leader = FakeChatModel(say("5 and 3 items."))
    adder = FakeChatModel(call("calculator", ADD, call_id="ca"), say("5"))
    team, database = broadcast_team(leader, adder, FakeChatModel(say("3 items")))
    await team.complete(RunRequest(message="add", session_id="s1", run_id="r1"))
    paused = await stored_run(database)
    adder_run_id = member_run(paused, "a")["run_id"]

    events = [e.to_dict() async for e in team.continue_run(going_on(paused, a=Decision("ca", True)))]

    names = [e["event"] for e in events]
    assert names[0] == "TeamRunContinued" and names[-1] == "TeamRunCompleted"
    assert adder.prompts[1][-1] == {"role": "tool", "tool_call_id": "ca", "content": "5"}
    continued = "Member results after human-in-the-loop resolution:\n[Adder]: 5"  # not Counter's
    assert leader.prompts[0][-1]["content"] == continued
    run = await stored_run(database)
    assert (run["run_id"], run["status"], run["content"]) == ("r1", "COMPLETED", "5 and 3 items.")
    assert "requirements" not in run
    adder_run = member_run(run, "a")
    assert (adder_run["run_id"], adder_run["status"], adder_run["content"]) == (adder_run_id, "COMPLETED", "5")
    assert [(t["confirmed"], t["result"]) for t in adder_run["tools"]] == [(True, "5")]
    assert member_run(run, "b")["content"] == "3 items"
    [broadcast] = run["tools"]
    assert (broadcast["result"], broadcast["tool_call_error"]) == (continued, False)
    tool_messages = [m for m in run["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == [continued]


async def test_both_paused_broadcast_members_go_on_one_confirmed_one_rejected_before_the_leader_is_asked_once() -> None:
    leader = FakeChatModel(say("Adder added; Counter was stopped."))
    adder = FakeChatModel(call("calculator", ADD, call_id="ca"), say("5"))
    counter = FakeChatModel(call("calculator", ADD, call_id="cb"), say("I was not allowed to count."))
    team, database = broadcast_team(leader, adder, counter)
    await team.complete(RunRequest(message="add", session_id="s1", run_id="r1"))
    paused = await stored_run(database)

    output = await team.complete_continued(
        going_on(paused, a=Decision("ca", True), b=Decision("cb", False, "not today"))
    )

    assert (output["status"], output["content"]) == ("COMPLETED", "Adder added; Counter was stopped.")
    assert counter.prompts[1][-1] == {"role": "tool", "tool_call_id": "cb", "content": "not today"}
    assert len(leader.prompts) == 1
    assert leader.prompts[0][-1]["content"] == (
        "Member results after human-in-the-loop resolution:\n[Adder]: 5\n[Counter]: I was not allowed to count."
    )
    run = await stored_run(database)
    assert run["status"] == "COMPLETED"
    [rejected] = member_run(run, "b")["tools"]
    assert (rejected["confirmed"], rejected["confirmation_note"], rejected.get("result")) == (False, "not today", None)
    assert [m["status"] for m in run["member_responses"]] == ["COMPLETED", "COMPLETED"]


async def test_a_broadcast_member_pausing_again_pauses_the_team_run_again_without_asking_the_leader() -> None:
    leader = FakeChatModel(say("Done."))
    adder = FakeChatModel(call("calculator", ADD, call_id="ca"), call("calculator", ADD, call_id="ca2"), say("10"))
    team, database = broadcast_team(leader, adder, FakeChatModel(say("3 items")))
    await team.complete(RunRequest(message="add", session_id="s1", run_id="r1"))

    again = await team.complete_continued(going_on(await stored_run(database), a=Decision("ca", True)))

    assert again["status"] == "PAUSED" and leader.prompts == []
    [requirement] = again["requirements"]
    assert (requirement["member_agent_id"], requirement["tool_execution"]["tool_call_id"]) == ("a", "ca2")
    paused = await stored_run(database)
    assert paused["status"] == "PAUSED" and member_run(paused, "a")["status"] == "PAUSED"
    done = await team.complete_continued(going_on(paused, a=Decision("ca2", True)))
    assert (done["status"], done["content"]) == ("COMPLETED", "Done.")
    assert leader.prompts[0][-1]["content"] == "Member results after human-in-the-loop resolution:\n[Adder]: 10"


async def test_a_broadcast_team_that_cannot_pause_has_its_members_answer_the_held_call_unmade() -> None:
    leader = FakeChatModel(say("They could not add."))
    adder = FakeChatModel(call("calculator", ADD, call_id="ca"), say("I could not add."))
    team, _ = broadcast_team(leader, adder, FakeChatModel(say("3 items")))
    nested = team.persisting_into(NestedRunStore())

    output = await nested.complete(RunRequest(message="add", session_id="s1"))

    assert output["status"] == "COMPLETED"
    assert adder.prompts[1][-1]["content"].startswith("Tool call calculator needs a person's confirmation")
