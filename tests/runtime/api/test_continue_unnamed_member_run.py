"""A paused team run's member requirement sent back without its ``member_run_id`` (``null``, or
the field left out) goes on as Agno's does: Agno's own team, continued as its AgentOS route
continues one (by ``run_id``, the requirements rebuilt from the sent dicts), and this runtime
over HTTP bind such a requirement to the member run that waits on its call (by the
requirement's ``id`` where two member runs hold calls of the same id), then go on with the same
result of the delegation the leader reads. One that cannot be bound (two member runs wait on a
call of that id and the requirement carries no ``id``, or no run waits on its call) is refused
by both, and here with a 400 saying what the run waits on, the run still ``PAUSED``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from agno.db.in_memory import InMemoryDb
from agno.run.requirement import RunRequirement

from tests.runtime.api.harness import Served, agent_config, serve_on
from tests.runtime.api.test_continued_team_content import member_lines_sorted, tool_results
from tests.runtime.api.test_paused_content import (
    ADD,
    CASES,
    CONFIRMED,
    Case,
    agno_agent,
    agno_team,
    calculator,
    delegate,
)
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

JSON = dict[str, Any]
Change = Callable[[JSON], JSON]
GOING_ON = {  # the replies once the members' calls are confirmed: the members', then each leader's
    "team-member": (Reply.say("five"), Reply.say("Crew five")),
    "nested-team-member": (Reply.say("five"), Reply.say("Inner five"), Reply.say("Crew five")),
    "broadcast-team-members": (Reply.say("five"), Reply.say("five"), Reply.say("Crew five")),
}


def confirmed(requirement: JSON) -> JSON:
    """A requirement as Agno's ``RunRequirement.confirm()`` leaves it, as its client sends it."""
    return {**requirement, "confirmation": True, "tool_execution": {**requirement["tool_execution"], "confirmed": True}}


def unnamed(requirement: JSON) -> JSON:
    return {**requirement, "member_run_id": None}


def left_out(requirement: JSON) -> JSON:
    return {k: v for k, v in requirement.items() if k != "member_run_id"}


def unnamed_without_id(requirement: JSON) -> JSON:
    return {k: v for k, v in unnamed(requirement).items() if k != "id"}


def unnamed_unknown_call(requirement: JSON) -> JSON:
    return {**unnamed(requirement), "tool_execution": {**requirement["tool_execution"], "tool_call_id": "call_nope"}}


async def agnos(case: Case, replies: tuple[Reply, ...], change: Change, fake_openai: FakeOpenAIServer) -> Any:
    """The leader's last read once Agno's team went on, or the refusal's type."""
    team = case.agno(fake_openai.base_url)
    team.db = InMemoryDb()
    team.store_member_responses = True  # as AgentOS serves a team
    fake_openai.script(*(case.agno_script or case.script))
    paused = await team.arun("add 2 and 3", session_id="s1")
    assert paused.is_paused and paused.run_id is not None
    sent = [RunRequirement.from_dict(change(confirmed(r.to_dict()))) for r in paused.requirements or ()]
    fake_openai.script(*replies)
    try:
        done = await team.acontinue_run(run_id=paused.run_id, requirements=sent, session_id="s1")
    except Exception as refused:  # noqa: BLE001 - Agno's refusal is what is compared
        return type(refused).__name__
    assert done.content == "Crew five", done.content
    return tuple(member_lines_sorted(r) for r in tool_results(fake_openai.bodies[-1]))


async def go_on(app: Served, run_id: str, requirements: list[JSON]) -> Any:
    data = {"requirements": json.dumps(requirements), "session_id": "s1", "stream": "false"}
    return await app.client.post(f"/teams/crew/runs/{run_id}/continue", data=data)


async def ours(
    case: Case, replies: tuple[Reply, ...], change: Change, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> tuple[Any, Any]:
    """The leader's last read once the team went on (or the 400's detail), and the paused run."""
    document: JSON = yaml.safe_load(agent_config(fake_openai.base_url))
    case.config(document)
    async with serve_on("sqlite", yaml.safe_dump(document), tmp_path) as app:
        fake_openai.script(*case.script)
        form = {"message": "add 2 and 3", "session_id": "s1", "stream": "false"}
        paused = (await app.client.post("/teams/crew/runs", data=form)).json()
        assert paused["status"] == "PAUSED", paused
        fake_openai.script(*replies)
        response = await go_on(app, paused["run_id"], [change(confirmed(r)) for r in paused["requirements"]])
        if response.status_code != 200:
            assert response.status_code == 400, response.text
            stored = await app.client.get(f"/teams/crew/runs/{paused['run_id']}", params={"session_id": "s1"})
            assert stored.json()["status"] == "PAUSED"  # refused before anything was written
            fake_openai.app.reset()
            fake_openai.script(*replies)
            done = await go_on(app, paused["run_id"], [confirmed(r) for r in paused["requirements"]])
            assert (done.status_code, done.json()["content"]) == (200, "Crew five")  # the right ones still do
            return response.json()["detail"], paused
        assert response.json()["content"] == "Crew five", response.text
        return tuple(member_lines_sorted(r) for r in tool_results(fake_openai.bodies[-1])), paused


GOES_ON = {
    "member_run_id null": ("team-member", unnamed),
    "member_run_id left out": ("team-member", left_out),
    "member_run_id null, no id": ("team-member", unnamed_without_id),
    "nested team's member, member_run_id null": ("nested-team-member", unnamed),
    "two members waiting on calls of one id, told apart by their ids": ("broadcast-team-members", unnamed),
}


@pytest.mark.parametrize("name", GOES_ON)
async def test_a_member_requirement_without_its_member_run_id_goes_on_as_agnos_does(
    name: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    case_name, change = GOES_ON[name]
    case, replies = CASES[case_name], GOING_ON[case_name]

    expected = await agnos(case, replies, change, fake_openai)
    fake_openai.app.reset()
    got, _ = await ours(case, replies, change, fake_openai, tmp_path)

    assert got == expected
    member = "[Inner]: Inner five" if case_name == "nested-team-member" else "[Assistant]: five"
    if case_name == "broadcast-team-members":
        member = "[Assistant]: five\n[Checker]: five"
    assert got == (f"Member results after human-in-the-loop resolution:\n{member}",)


async def test_two_members_waiting_on_calls_of_one_id_and_a_requirement_naming_neither_run_is_refused_as_by_agno(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    case, replies = CASES["broadcast-team-members"], GOING_ON["broadcast-team-members"]

    expected = await agnos(case, replies, unnamed_without_id, fake_openai)
    fake_openai.app.reset()
    detail, paused = await ours(case, replies, unnamed_without_id, fake_openai, tmp_path)

    assert expected == "RunNotContinuableError"
    runs = [r["member_run_id"] for r in paused["requirements"]]  # in member order
    assert detail == (
        "Invalid requirements parameter: entry 0 has no member_run_id and names tool_call_id call_add, "
        f"which member runs '{runs[0]}' and '{runs[1]}' each wait on: send the requirement's member_run_id "
        "(or its id) as the paused run gave it"
    )


@pytest.mark.parametrize("case_name", ["team-member", "broadcast-team-members"])
async def test_a_requirement_without_a_member_run_id_naming_no_call_the_run_waits_on_is_refused_saying_what_it_waits_on(
    case_name: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    case, replies = CASES[case_name], GOING_ON[case_name]

    expected = await agnos(case, replies, unnamed_unknown_call, fake_openai)
    fake_openai.app.reset()
    detail, paused = await ours(case, replies, unnamed_unknown_call, fake_openai, tmp_path)

    assert expected == "RunNotContinuableError"
    waited_on = ", ".join(f"call_add of member run '{r['member_run_id']}'" for r in paused["requirements"])
    assert detail == (
        "Invalid requirements parameter: entry 0 names tool_call_id call_nope, which is no tool call "
        f"this run waits on (it waits on: {waited_on})"
    )


# The leaders' delegations given the id of the member's call, as a server numbering calls per answer
# gives them: a call of the leader's that already ran, of the id of a member's waiting call.
DELEGATED_UNDER_ONE_ID = {
    "team-member": replace(CASES["team-member"], script=(Reply.call(delegate("assistant", ADD.id)), Reply.call(ADD))),
    "nested-team-member": replace(
        CASES["nested-team-member"],
        script=(Reply.call(delegate("inner", ADD.id)), Reply.call(delegate("assistant", ADD.id)), Reply.call(ADD)),
    ),
}


@pytest.mark.parametrize("case_name", DELEGATED_UNDER_ONE_ID)
async def test_a_requirement_without_its_member_run_id_is_the_members_whose_call_the_leaders_delegation_shares_an_id_with(
    case_name: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    case, replies = DELEGATED_UNDER_ONE_ID[case_name], GOING_ON[case_name]

    expected = await agnos(case, replies, unnamed, fake_openai)
    fake_openai.app.reset()
    got, _ = await ours(case, replies, unnamed, fake_openai, tmp_path)

    member = "[Inner]: Inner five" if case_name == "nested-team-member" else "[Assistant]: five"
    assert got == expected == (f"Member results after human-in-the-loop resolution:\n{member}",)


def leaders_rejected(requirement: JSON) -> JSON:
    """Sent without its member_run_id, the leader's own requirement rejected, a member's confirmed."""
    if requirement.get("member_run_id") is None:
        tool = {**requirement["tool_execution"], "confirmed": False}
        requirement = {**requirement, "confirmation": False, "tool_execution": tool}
    return unnamed(requirement)


async def test_the_leaders_and_a_members_waiting_calls_of_one_id_sent_without_member_run_ids_are_told_apart_by_their_ids(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    """Not compared with Agno's team, which goes on otherwise from a pause on its leader's call and
    a member's at once: each decision reaches the run that waits on its call."""
    leaders = FakeToolCall("calculator", '{"expression": "1 + 1"}', id=ADD.id)
    crew = {"id": "crew", "name": "Crew", "members": ["assistant"], "tools": ["calculator"], "tool_config": CONFIRMED}
    case = Case(
        "teams",
        "crew",
        lambda d: (d["agents"][0].update(tool_config=CONFIRMED), d.update(teams=[crew])),
        lambda url: agno_team(url, "crew", "Crew", [agno_agent(url, confirming=True)], tools=[calculator]),
        (Reply.call(leaders, delegate("assistant")), Reply.call(ADD)),
    )

    got, paused = await ours(case, GOING_ON["team-member"], leaders_rejected, fake_openai, tmp_path)

    assert [r.get("member_run_id") is None for r in paused["requirements"]] == [True, False]
    assert tool_results(fake_openai.bodies[-2]) == ("5",)  # the member's confirmed call ran
    assert got == (
        "Member results after human-in-the-loop resolution:\n[Assistant]: five",
        "Function call was rejected by the user",  # the leader's own, rejected
    )
