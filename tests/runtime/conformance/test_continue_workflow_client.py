"""Agno's own ``AgentOSClient`` pausing and continuing a workflow run whose step's agent waits for
a confirmation, on every storage backend: the paused ``WorkflowRunOutput`` and
``WorkflowPaused`` parse into Agno's types (``step_requirements`` as ``StepRequirement``), and the
step requirements Agno's client sends back, their executor requirements decided, go on with the
run and the steps after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from agno.run.base import RunStatus
from agno.run.workflow import (
    StepExecutorContinuedEvent,
    StepExecutorPausedEvent,
    WorkflowCompletedEvent,
    WorkflowPausedEvent,
)

from tests.runtime.api.agno_client import client_for, serve_for_agno
from tests.runtime.api.harness import Served, agent_config, crew_document
from tests.runtime.conformance.conftest import SECURITY_KEY
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

AUTH = {"Authorization": f"Bearer {SECURITY_KEY}"}
ADD = FakeToolCall("calculator", '{"expression": "2 + 3"}', id="call_add")


@pytest.fixture
async def confirming(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    document = yaml.safe_load(agent_config(fake_openai.base_url))
    document["agents"][0]["tool_config"] = {"calculator": {"requires_confirmation": True}}
    document["agents"].append({"id": "teller", "name": "Teller"})
    document["workflows"] = [
        {"id": "flow", "steps": [{"name": "add", "agent": "assistant"}, {"name": "tell", "agent": "teller"}]}
    ]
    async with serve_for_agno(backend, yaml.safe_dump(document), tmp_path, security_key=SECURITY_KEY) as run:
        yield run


def decide(step_requirements: Any, confirmed: bool) -> None:
    """What a client does with a paused step's executor requirements (plain dicts in Agno; the
    paused output parses its steps into ``StepRequirement``, the ``WorkflowPaused`` event keeps dicts)."""
    for step in step_requirements:
        executor = step["executor_requirements"] if isinstance(step, dict) else step.executor_requirements
        for requirement in executor:
            requirement["confirmation"] = confirmed
            requirement["tool_execution"]["confirmed"] = confirmed


async def test_agnos_client_confirms_a_paused_workflow_step_and_the_workflow_completes(
    confirming: Served, fake_openai: FakeOpenAIServer
) -> None:
    client = client_for(confirming)
    fake_openai.script(Reply.call(ADD))
    paused = await client.run_workflow("flow", "add 2 and 3", session_id="s1", headers=AUTH)
    assert paused.is_paused and paused.status == RunStatus.paused
    [step] = paused.step_requirements or []
    assert step.requires_executor_input and step.needs_executor_resolution
    assert (step.step_name, step.executor_id, paused.paused_step_name) == ("add", "assistant", "add")
    decide(paused.step_requirements, True)
    assert not step.needs_executor_resolution
    fake_openai.script(Reply.say("5"), Reply.say("Five."))
    assert paused.run_id is not None
    done = await client.continue_workflow_run(
        "flow", paused.run_id, paused.step_requirements or [], session_id="s1", headers=AUTH
    )
    assert done.status == RunStatus.completed and done.content == "Five." and done.run_id == paused.run_id
    assert [r.step_name for r in done.step_results or []] == ["add", "tell"]


async def test_agnos_client_streams_a_workflow_pause_and_the_rejected_step_going_on(
    confirming: Served, fake_openai: FakeOpenAIServer
) -> None:
    client = client_for(confirming)
    fake_openai.script(Reply.call(ADD))
    events = [e async for e in client.run_workflow_stream("flow", "add", session_id="s1", headers=AUTH)]
    assert isinstance(events[-2], StepExecutorPausedEvent) and isinstance(events[-1], WorkflowPausedEvent)
    paused = events[-1]
    decide(paused.step_requirements, False)
    fake_openai.script(Reply.say("Not added."), Reply.say("Nothing to tell."))
    going_on = [
        e
        async for e in client.continue_workflow_run_stream(
            "flow", paused.run_id, paused.step_requirements or [], session_id="s1", headers=AUTH
        )
    ]
    assert isinstance(going_on[0], StepExecutorContinuedEvent) and isinstance(going_on[-1], WorkflowCompletedEvent)
    assert going_on[-1].content == "Nothing to tell."
    rejected = [b for b in fake_openai.bodies if b["messages"][-1].get("role") == "tool"]
    assert rejected[-1]["messages"][-1]["content"] == "Function call was rejected by the user"


DELEGATE = FakeToolCall("delegate_task_to_member", '{"member_id": "assistant", "task": "add 2 and 3"}', id="d1")


@pytest.fixture
async def team_step(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    document = crew_document(fake_openai.base_url)
    document["workflows"] = [{"id": "flow", "steps": [{"name": "crew", "team": "crew"}]}]
    async with serve_for_agno(backend, yaml.safe_dump(document), tmp_path, security_key=SECURITY_KEY) as run:
        yield run


async def test_agnos_client_confirms_a_team_steps_member_and_the_workflow_completes(
    team_step: Served, fake_openai: FakeOpenAIServer
) -> None:
    client = client_for(team_step)
    fake_openai.script(Reply.call(DELEGATE), Reply.call(ADD))
    paused = await client.run_workflow("flow", "add 2 and 3", session_id="s1", headers=AUTH)
    [step] = paused.step_requirements or []
    assert step.executor_type == "team" and step.executor_id == "crew"
    [requirement] = step.executor_requirements or []
    assert requirement["member_agent_id"] == "assistant"
    decide(paused.step_requirements, True)
    fake_openai.script(Reply.say("5"), Reply.say("The sum is 5."))
    assert paused.run_id is not None
    done = await client.continue_workflow_run(
        "flow", paused.run_id, paused.step_requirements or [], session_id="s1", headers=AUTH
    )
    assert done.status == RunStatus.completed and done.content == "The sum is 5."
