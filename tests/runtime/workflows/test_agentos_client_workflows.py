"""Agno's own ``AgentOSClient`` workflow calls against the runtime under uvicorn.

Every call goes through Agno's client code and is parsed into Agno's schemas and typed
events; the assertions check the parsed values (ids, steps, outputs, metrics).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agno.db.base import SessionType
from agno.os.schema import WorkflowSessionDetailSchema
from agno.run.agent import RunContentEvent, RunOutput
from agno.run.base import RunStatus
from agno.run.workflow import (
    ParallelExecutionCompletedEvent,
    StepCompletedEvent,
    StepStartedEvent,
    WorkflowCompletedEvent,
    WorkflowErrorEvent,
    WorkflowRunOutput,
    WorkflowStartedEvent,
)

from tests.runtime.api.agno_client import client_for, serve_for_agno
from tests.runtime.api.harness import Served
from tests.runtime.workflows.configs import workflow_config
from tests.support.fake_openai import FakeOpenAIServer, Reply

KEY = "workflows-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def runtime(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    config = workflow_config(fake_openai.base_url)
    async with serve_for_agno(backend, config, tmp_path, security_key=KEY) as running:
        yield running


async def test_list_workflows_and_get_workflow_parse_into_agnos_schemas(runtime: Served) -> None:
    client = client_for(runtime)
    listed = await client.list_workflows(headers=AUTH)
    assert [w.id for w in listed] == ["pipeline", "fanout", "gate", "numbers", "staffed"]
    assert (listed[0].name, listed[0].description, listed[0].db_id) == ("Pipeline", "Draft, then edit.", "main-db")
    pipeline = await client.aget_workflow("pipeline", headers=AUTH)
    assert pipeline.id == "pipeline" and pipeline.steps is not None
    assert [(s["name"], s["type"]) for s in pipeline.steps] == [("draft", "Step"), ("edit", "Step")]


async def test_run_workflow_parses_into_a_workflow_run_output(runtime: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("draft", usage=(7, 3)), Reply.say("final", usage=(9, 4)))
    output = await client_for(runtime).run_workflow(
        "pipeline", "Tea notes", session_id="c-w1", user_id="ana", headers=AUTH
    )

    assert isinstance(output, WorkflowRunOutput)
    assert (output.workflow_id, output.workflow_name, output.session_id) == ("pipeline", "Pipeline", "c-w1")
    assert output.content == "final" and output.status == RunStatus.completed and output.input == "Tea notes"
    assert [(s.step_name, s.content, s.executor_type) for s in output.step_results] == [  # type: ignore[union-attr]
        ("draft", "draft", "agent"),
        ("edit", "final", "agent"),
    ]
    assert output.step_executor_runs is not None
    assert all(isinstance(run, RunOutput) for run in output.step_executor_runs)
    assert [run.agent_id for run in output.step_executor_runs] == ["writer", "editor"]  # type: ignore[union-attr]
    assert output.metrics is not None
    draft = output.metrics.steps["draft"]
    assert draft.executor_name == "Writer" and draft.metrics is not None and draft.metrics.input_tokens == 7


async def test_run_workflow_stream_parses_workflow_step_and_agent_events(
    runtime: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("alpha"), Reply.say("beta"), Reply.say("merged", chunks=2))
    events = [e async for e in client_for(runtime).run_workflow_stream("fanout", "Ideas", headers=AUTH)]

    assert isinstance(events[0], WorkflowStartedEvent) and isinstance(events[-1], WorkflowCompletedEvent)
    assert events[0].workflow_id == "fanout" and events[-1].content == "merged"
    assert [e.step_name for e in events if isinstance(e, StepStartedEvent)] == ["one", "two", "merge"]
    parallel = next(e for e in events if isinstance(e, ParallelExecutionCompletedEvent))
    assert {r["content"] for r in parallel.step_results} == {"alpha", "beta"}  # type: ignore[index]
    merge_content = [e for e in events if isinstance(e, RunContentEvent) and e.step_name == "merge"]
    assert "".join(str(e.content) for e in merge_content) == "merged"
    assert all(e.workflow_id == "fanout" for e in merge_content)
    assert [e.step_name for e in events if isinstance(e, StepCompletedEvent)][-1] == "merge"


async def test_a_failed_workflow_parses_into_a_workflow_error_event(
    runtime: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.fail(400, "Nope"))
    events = [e async for e in client_for(runtime).run_workflow_stream("pipeline", "go", headers=AUTH)]

    assert isinstance(events[-1], WorkflowErrorEvent)
    assert events[-1].error is not None and "Nope" in events[-1].error
    assert events[-1].error_type == "model_provider_error"


async def test_workflow_sessions_parse_through_the_session_calls(
    runtime: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("d"), Reply.say("e"))
    client = client_for(runtime)
    output = await client.run_workflow("pipeline", "Session me", session_id="c-w2", headers=AUTH)

    sessions = await client.get_sessions(session_type=SessionType.WORKFLOW, headers=AUTH)
    assert [(s.session_id, s.workflow_id) for s in sessions.data] == [("c-w2", "pipeline")]
    session = await client.get_session("c-w2", headers=AUTH)
    assert isinstance(session, WorkflowSessionDetailSchema)
    assert (session.workflow_id, session.workflow_name, session.session_name) == ("pipeline", "Pipeline", "Session me")
    runs = await client.get_session_runs("c-w2", headers=AUTH)
    assert [(run.run_id, run.content) for run in runs] == [(output.run_id, "e")]
    await client.cancel_workflow_run("pipeline", "not-running", headers=AUTH)
