"""Agno's own ``AgentOSClient`` pausing and continuing a team run whose leader's tool, or whose
member agent's, waits for a confirmation, on every storage backend: the paused ``TeamRunOutput``
and ``TeamRunPaused`` parse into Agno's types, and the requirements Agno's client sends back go
on with the run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from agno.db.base import SessionType
from agno.os.schema import TeamRunSchema
from agno.run.base import RunStatus
from agno.run.team import RunCompletedEvent, RunContinuedEvent, RunPausedEvent

from tests.runtime.api.agno_client import client_for, serve_for_agno
from tests.runtime.api.harness import CONFIRMED, Served, agent_config, broadcast_document, crew_document
from tests.runtime.conformance.conftest import SECURITY_KEY
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

AUTH = {"Authorization": f"Bearer {SECURITY_KEY}"}
ADD = FakeToolCall("calculator", '{"expression": "2 + 3"}', id="call_add")


def team_config(base_url: str) -> str:
    document = yaml.safe_load(agent_config(base_url))
    document["teams"] = [
        {
            "id": "crew",
            "model": "fake",
            "members": ["assistant"],
            "tools": ["calculator"],
            "tool_config": {"calculator": {"requires_confirmation": True}},
        }
    ]
    return yaml.safe_dump(document)


@pytest.fixture
async def confirming(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_for_agno(backend, team_config(fake_openai.base_url), tmp_path, security_key=SECURITY_KEY) as run:
        yield run


async def test_agnos_client_confirms_a_paused_team_run_and_gets_the_completed_output(
    confirming: Served, fake_openai: FakeOpenAIServer
) -> None:
    client = client_for(confirming)
    fake_openai.script(Reply.call(ADD))
    paused = await client.run_team("crew", "add 2 and 3", session_id="s1", headers=AUTH)
    assert paused.is_paused and paused.status == RunStatus.paused
    assert [r.tool_execution.tool_call_id for r in paused.active_requirements if r.tool_execution] == ["call_add"]
    for requirement in paused.active_requirements:
        requirement.confirm()
    fake_openai.script(Reply.say("It is 5."))
    assert paused.run_id is not None and paused.requirements is not None
    done = await client.continue_team_run("crew", paused.run_id, paused.requirements, session_id="s1", headers=AUTH)
    assert done.status == RunStatus.completed and done.content == "It is 5." and done.run_id == paused.run_id
    assert done.tools is not None and [(t.confirmed, t.result) for t in done.tools] == [(True, "5")]
    stored = await client.get_session_run("s1", paused.run_id, session_type=SessionType.TEAM, headers=AUTH)
    assert isinstance(stored, TeamRunSchema) and stored.status == RunStatus.completed


async def test_agnos_client_streams_a_team_pause_and_the_rejected_run_going_on(
    confirming: Served, fake_openai: FakeOpenAIServer
) -> None:
    client = client_for(confirming)
    fake_openai.script(Reply.call(ADD))
    events = [e async for e in client.run_team_stream("crew", "add", session_id="s1", headers=AUTH)]
    paused = events[-1]
    assert isinstance(paused, RunPausedEvent) and paused.requirements is not None
    for requirement in paused.active_requirements:
        requirement.reject("No, thanks.")
    fake_openai.script(Reply.say("Understood."))
    assert paused.run_id is not None
    going_on = [
        e
        async for e in client.continue_team_run_stream(
            "crew", paused.run_id, paused.requirements, session_id="s1", headers=AUTH
        )
    ]
    assert isinstance(going_on[0], RunContinuedEvent) and isinstance(going_on[-1], RunCompletedEvent)
    assert going_on[-1].content == "Understood."
    assert fake_openai.bodies[-1]["messages"][-1]["content"] == "No, thanks."


DELEGATE = FakeToolCall("delegate_task_to_member", '{"member_id": "assistant", "task": "add 2 and 3"}', id="d1")


@pytest.fixture
async def member_confirming(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    document = crew_document(fake_openai.base_url)
    async with serve_for_agno(backend, yaml.safe_dump(document), tmp_path, security_key=SECURITY_KEY) as run:
        yield run


async def test_agnos_client_confirms_a_members_call_and_the_team_run_goes_on_with_its_answer(
    member_confirming: Served, fake_openai: FakeOpenAIServer
) -> None:
    client = client_for(member_confirming)
    fake_openai.script(Reply.call(DELEGATE), Reply.call(ADD))
    events = [e async for e in client.run_team_stream("crew", "add", session_id="s1", headers=AUTH)]
    paused = events[-1]
    assert isinstance(paused, RunPausedEvent) and paused.requirements is not None
    [requirement] = paused.active_requirements
    assert requirement.member_agent_id == "assistant" and requirement.member_run_id is not None
    requirement.confirm()
    fake_openai.script(Reply.say("5"), Reply.say("The member says 5."))
    assert paused.run_id is not None
    done = await client.continue_team_run("crew", paused.run_id, paused.requirements, session_id="s1", headers=AUTH)
    assert done.status == RunStatus.completed and done.content == "The member says 5."
    assert done.member_responses and done.member_responses[0].run_id == requirement.member_run_id
    read = "Member results after human-in-the-loop resolution:\n[Assistant]: 5"  # Agno's words
    assert fake_openai.bodies[-1]["messages"][-1] == {"role": "tool", "tool_call_id": "d1", "content": read}


@pytest.fixture
async def broadcast_confirming(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    document = broadcast_document(fake_openai.base_url)
    async with serve_for_agno(backend, yaml.safe_dump(document), tmp_path, security_key=SECURITY_KEY) as run:
        yield run


async def test_agnos_client_confirms_every_paused_broadcast_member_and_the_leader_reads_their_answers(
    broadcast_confirming: Served, fake_openai: FakeOpenAIServer
) -> None:
    client = client_for(broadcast_confirming)
    fake_openai.script(Reply.call(ADD), Reply.call(ADD))
    paused = await client.run_team("crew", "add 2 and 3", session_id="s1", headers=AUTH)
    assert paused.is_paused and paused.run_id is not None and paused.requirements is not None
    waiting = {r.member_agent_id: r.member_run_id for r in paused.active_requirements}
    assert sorted(waiting) == ["assistant", "checker"] and None not in waiting.values()
    for requirement in paused.active_requirements:
        requirement.confirm()
    fake_openai.script(Reply.say("5"), Reply.say("five"), Reply.say("Both say 5."))
    done = await client.continue_team_run("crew", paused.run_id, paused.requirements, session_id="s1", headers=AUTH)
    assert done.status == RunStatus.completed and done.content == "Both say 5."
    assert {m.run_id for m in done.member_responses} == set(waiting.values())
    last = fake_openai.bodies[-1]["messages"][-1]["content"]
    assert last == "Member results after human-in-the-loop resolution:\n[Assistant]: 5\n[Checker]: five"


@pytest.fixture
async def nested_confirming(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    document = yaml.safe_load(agent_config(fake_openai.base_url, tool_config=CONFIRMED))
    document["teams"] = [
        {"id": "crew", "name": "Crew", "model": "fake", "members": ["assistant"]},
        {"id": "board", "name": "Board", "model": "fake", "members": ["crew"]},
    ]
    async with serve_for_agno(backend, yaml.safe_dump(document), tmp_path, security_key=SECURITY_KEY) as run:
        yield run


async def test_agnos_client_confirms_a_nested_teams_members_call_and_both_leaders_go_on(
    nested_confirming: Served, fake_openai: FakeOpenAIServer
) -> None:
    client = client_for(nested_confirming)
    to_crew = FakeToolCall("delegate_task_to_member", '{"member_id": "crew", "task": "add 2 and 3"}', id="b1")
    fake_openai.script(Reply.call(to_crew), Reply.call(DELEGATE), Reply.call(ADD))
    events = [e async for e in client.run_team_stream("board", "add", session_id="s1", headers=AUTH)]
    paused = events[-1]
    assert isinstance(paused, RunPausedEvent) and paused.run_id is not None and paused.requirements is not None
    [requirement] = paused.active_requirements
    assert requirement.member_agent_id == "assistant" and requirement.member_run_id is not None
    requirement.confirm()
    fake_openai.script(Reply.say("5"), Reply.say("The crew says 5."), Reply.say("The board says 5."))
    going_on = [
        e
        async for e in client.continue_team_run_stream(
            "board", paused.run_id, paused.requirements, session_id="s1", headers=AUTH
        )
    ]
    assert isinstance(going_on[0], RunContinuedEvent) and isinstance(going_on[-1], RunCompletedEvent)
    assert going_on[-1].content == "The board says 5."
    assert fake_openai.bodies[-1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "b1",
        "content": "Member results after human-in-the-loop resolution:\n[Crew]: The crew says 5.",
    }
    stored = await client.get_session_run("s1", paused.run_id, session_type=SessionType.TEAM, headers=AUTH)
    assert isinstance(stored, TeamRunSchema) and stored.status == RunStatus.completed
