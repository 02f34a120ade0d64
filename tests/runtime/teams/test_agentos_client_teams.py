"""Agno's own ``AgentOSClient`` team calls against the runtime under uvicorn.

Every call goes through Agno's client code and is parsed into Agno's schemas and typed
events; the assertions check the parsed values (ids, mode, members, what the models said).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agno.db.base import SessionType
from agno.os.schema import TeamSessionDetailSchema
from agno.run.agent import RunContentEvent, RunOutput
from agno.run.agent import RunStartedEvent as MemberRunStarted
from agno.run.base import RunStatus
from agno.run.team import (
    RunCompletedEvent,
    RunStartedEvent,
    TeamRunOutput,
    ToolCallCompletedEvent,
)
from agno.run.team import (
    RunContentEvent as TeamRunContentEvent,
)

from tests.runtime.api.agno_client import client_for, serve_for_agno
from tests.runtime.api.harness import Served
from tests.runtime.teams.configs import LEADER_MODEL, delegate, team_config
from tests.support.fake_openai import FakeOpenAIServer, Reply

KEY = "teams-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def runtime(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    config = team_config(fake_openai.base_url)
    async with serve_for_agno(backend, config, tmp_path, security_key=KEY) as running:
        yield running


async def test_list_teams_and_get_team_parse_into_agnos_team_schemas(runtime: Served) -> None:
    client = client_for(runtime)
    teams = await client.list_teams(headers=AUTH)
    assert [(t.id, t.name, t.mode) for t in teams][:3] == [
        ("crew", "Crew", "coordinate"),
        ("desk", "Desk", "route"),
        ("panel", "Panel", "broadcast"),
    ]
    crew = await client.aget_team("crew", headers=AUTH)
    assert crew.mode == "coordinate" and crew.db_id == "main-db"
    assert crew.model is not None and crew.model.model == LEADER_MODEL
    assert crew.members is not None and [m.id for m in crew.members] == ["weather", "poet"]
    board = await client.aget_team("board", headers=AUTH)
    assert board.members is not None and [getattr(m, "mode", None) for m in board.members] == ["coordinate"]


async def test_run_team_parses_into_a_team_run_output_with_its_member_responses(
    runtime: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(delegate("poet", "Four words on snow")), Reply.say("White silence falls softly"))
    output = await client_for(runtime).run_team("desk", "Snow poem", session_id="c-t1", user_id="ana", headers=AUTH)

    assert isinstance(output, TeamRunOutput)
    assert (output.team_id, output.team_name, output.session_id) == ("desk", "Desk", "c-t1")
    assert output.content == "White silence falls softly" and output.status == RunStatus.completed
    [member] = output.member_responses
    assert isinstance(member, RunOutput)
    assert (member.agent_id, member.parent_run_id, member.content) == (
        "poet",
        output.run_id,
        "White silence falls softly",
    )
    assert output.tools is not None and output.tools[0].tool_name == "delegate_task_to_member"
    assert output.metrics is not None and output.metrics.input_tokens == 10


async def test_run_team_stream_parses_team_events_and_the_members_own_events(
    runtime: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(
        Reply.call(delegate("weather", "Berlin today?")), Reply.say("Cloudy", chunks=2), Reply.say("Berlin is cloudy.")
    )
    events = [e async for e in client_for(runtime).run_team_stream("crew", "Berlin?", headers=AUTH)]

    assert isinstance(events[0], RunStartedEvent) and isinstance(events[-1], RunCompletedEvent)
    assert (events[0].team_id, events[0].model) == ("crew", LEADER_MODEL)
    member_started = next(e for e in events if isinstance(e, MemberRunStarted))
    assert member_started.agent_id == "weather" and member_started.parent_run_id == events[0].run_id
    assert "".join(e.content for e in events if isinstance(e, RunContentEvent)) == "Cloudy"
    tool = next(e for e in events if isinstance(e, ToolCallCompletedEvent)).tool
    assert (
        tool is not None
        and tool.result == "Cloudy"
        and tool.tool_args == {"member_id": "weather", "task": "Berlin today?"}
    )
    assert "".join(str(e.content) for e in events if isinstance(e, TeamRunContentEvent)) == "Berlin is cloudy."
    assert events[-1].content == "Berlin is cloudy."


async def test_team_sessions_and_runs_parse_through_the_session_calls(
    runtime: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("Hi there."))
    client = client_for(runtime)
    output = await client.run_team("crew", "Hello", session_id="c-t2", headers=AUTH)

    sessions = await client.get_sessions(session_type=SessionType.TEAM, headers=AUTH)
    assert [(s.session_id, s.team_id) for s in sessions.data] == [("c-t2", "crew")]
    session = await client.get_session("c-t2", headers=AUTH)
    assert isinstance(session, TeamSessionDetailSchema)
    assert session.team_id == "crew" and session.session_name == "Hello"
    runs = await client.get_session_runs("c-t2", headers=AUTH)
    assert [(run.run_id, run.content) for run in runs] == [(output.run_id, "Hi there.")]
    await client.cancel_team_run("crew", "not-running", headers=AUTH)
