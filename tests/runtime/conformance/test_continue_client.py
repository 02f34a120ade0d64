"""Agno's own ``AgentOSClient`` pausing and continuing a run whose tool waits for a confirmation,
on every storage backend: the paused output and ``RunPaused`` parse into Agno's types, and the
tools Agno's client sends back, decided on the run's ``tools`` or through its ``requirements``,
go on with the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agno.run.agent import RunCompletedEvent, RunContinuedEvent, RunPausedEvent
from agno.run.base import RunStatus

from tests.runtime.api.agno_client import client_for, serve_for_agno
from tests.runtime.api.harness import Served, agent_config
from tests.runtime.conformance.conftest import SECURITY_KEY
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

AUTH = {"Authorization": f"Bearer {SECURITY_KEY}"}
ADD = FakeToolCall("calculator", '{"expression": "2 + 3"}', id="call_add")


@pytest.fixture
async def confirming(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    config = agent_config(fake_openai.base_url, tool_config={"calculator": {"requires_confirmation": True}})
    async with serve_for_agno(backend, config, tmp_path, security_key=SECURITY_KEY) as running:
        yield running


async def test_agnos_client_confirms_a_paused_run_and_gets_the_completed_output(
    confirming: Served, fake_openai: FakeOpenAIServer
) -> None:
    client = client_for(confirming)
    fake_openai.script(Reply.call(ADD))
    paused = await client.run_agent("assistant", "add 2 and 3", session_id="s1", headers=AUTH)
    assert paused.is_paused and paused.status == RunStatus.paused
    assert paused.tools is not None and [t.tool_name for t in paused.tools] == ["calculator"]
    assert [r.tool_execution.tool_call_id for r in paused.active_requirements if r.tool_execution] == ["call_add"]
    for tool in paused.tools:
        if tool.requires_confirmation:
            tool.confirmed = True
    fake_openai.script(Reply.say("It is 5."))
    assert paused.run_id is not None
    done = await client.continue_agent_run("assistant", paused.run_id, paused.tools, session_id="s1", headers=AUTH)
    assert done.status == RunStatus.completed and done.content == "It is 5." and done.run_id == paused.run_id
    assert done.tools is not None and [(t.confirmed, t.result) for t in done.tools] == [(True, "5")]


async def test_agnos_client_streams_the_pause_and_the_rejected_run_going_on(
    confirming: Served, fake_openai: FakeOpenAIServer
) -> None:
    client = client_for(confirming)
    fake_openai.script(Reply.call(ADD))
    events = [e async for e in client.run_agent_stream("assistant", "add", session_id="s1", headers=AUTH)]
    paused = events[-1]
    assert isinstance(paused, RunPausedEvent) and paused.tools is not None
    assert [(t.tool_call_id, t.requires_confirmation) for t in paused.tools] == [("call_add", True)]
    for requirement in paused.active_requirements:
        requirement.reject("No, thanks.")
    decided = [r.tool_execution for r in paused.requirements or () if r.tool_execution is not None]
    fake_openai.script(Reply.say("Understood."))
    assert paused.run_id is not None
    going_on = [
        e
        async for e in client.continue_agent_run_stream(
            "assistant", paused.run_id, decided, session_id="s1", headers=AUTH
        )
    ]
    assert isinstance(going_on[0], RunContinuedEvent) and isinstance(going_on[-1], RunCompletedEvent)
    assert going_on[-1].content == "Understood."
    assert fake_openai.bodies[-1]["messages"][-1]["content"] == "No, thanks."
