"""The completed events of team and workflow runs carry the runs they nested, as Agno's do.

Agno's ``TeamRunCompleted`` holds ``member_responses`` and its ``WorkflowCompleted`` holds
``step_executor_runs``: a streaming client builds the run's output from them. The stored run
already holds those runs, so the copy of the event kept with it goes without them, and a replay
of the stored run (a resume on a replica without the run's events) takes them from it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.api.resuming import stored_replay
from agno.run.team import RunCompletedEvent as TeamRunCompletedEvent
from agno.run.workflow import WorkflowCompletedEvent

from tests.runtime.api.harness import Served, parse_frames, read_frames, serve
from tests.runtime.teams.configs import delegate
from tests.runtime.workflows.configs import workflow_config
from tests.support.fake_openai import FakeOpenAIServer, Reply


@pytest.fixture
async def app(fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve(workflow_config(fake_openai.base_url), data_dir=tmp_path) as running:
        yield running


async def streamed(app: Served, path: str, session_id: str) -> list[Any]:
    answer = await app.client.post(path, data={"message": "hi", "stream": "true", "session_id": session_id})
    assert answer.status_code == 200
    return parse_frames(answer.text)


async def stored(app: Served, path: str, run_id: str, session_id: str) -> dict[str, Any]:
    run: dict[str, Any] = (await app.client.get(f"{path}/{run_id}", params={"session_id": session_id})).json()
    return run


async def test_a_team_runs_completed_event_carries_its_members_runs(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.call(delegate("writer", "Draft it.")), Reply.say("drafted"), Reply.say("Done."))

    last = (await streamed(app, "/teams/crew/runs", "s-team"))[-1]

    assert last.event == "TeamRunCompleted"
    [member] = last.data["member_responses"]
    assert (member["agent_id"], member["content"], member["status"]) == ("writer", "drafted", "COMPLETED")
    parsed = TeamRunCompletedEvent.from_dict(dict(last.data))
    assert [response.content for response in parsed.member_responses] == ["drafted"]
    run = await stored(app, "/teams/crew/runs", last.data["run_id"], "s-team")
    assert [(r["run_id"], r["content"]) for r in run["member_responses"]] == [(member["run_id"], "drafted")]
    kept = next(event for event in run["events"] if event["event"] == "TeamRunCompleted")
    assert "member_responses" not in kept, "the stored run holds them once"


async def test_a_workflow_runs_completed_event_carries_its_steps_runs(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("drafted"), Reply.say("edited"))

    last = (await streamed(app, "/workflows/pipeline/runs", "s-flow"))[-1]

    assert last.event == "WorkflowCompleted"
    assert [run["content"] for run in last.data["step_executor_runs"]] == ["drafted", "edited"]
    parsed = WorkflowCompletedEvent.from_dict(dict(last.data))
    assert parsed.step_executor_runs is not None and len(parsed.step_executor_runs) == 2
    run = await stored(app, "/workflows/pipeline/runs", last.data["run_id"], "s-flow")
    sent = [(r["run_id"], r["content"]) for r in last.data["step_executor_runs"]]
    assert [(r["run_id"], r["content"]) for r in run["step_executor_runs"]] == sent
    kept = next(event for event in run["events"] if event["event"] == "WorkflowCompleted")
    assert "step_executor_runs" not in kept


async def replayed_from_store(app: Served, path: str, session_id: str) -> Any:
    """The last frame of a resume of a streamed background run, on a replica that holds none of
    its events: the stored run's replay."""
    form = {"message": "hi", "background": "true", "stream": "true", "session_id": session_id}
    async with app.client.stream("POST", path, data=form) as response:
        async for frame in read_frames(response):
            run_id = frame.data["run_id"]
            break
    assert await app.context.runs.settle_background_runs(timeout=10.0)
    app.context.runs.event_logs = type(app.context.runs.event_logs)()  # as on another replica
    resumed = await app.client.post(f"{path}/{run_id}/resume", data={"session_id": session_id})
    frames = parse_frames(resumed.text)
    assert frames[0].event == "replay" and frames[0].data["status"] == "COMPLETED", resumed.text
    return frames[-1]


async def test_a_replay_of_a_stored_team_run_carries_its_members_runs(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(delegate("writer", "Draft it.")), Reply.say("drafted"), Reply.say("Done."))

    last = await replayed_from_store(app, "/teams/crew/runs", "s-team")

    assert last.event == "TeamRunCompleted"
    assert [(m["agent_id"], m["content"]) for m in last.data["member_responses"]] == [("writer", "drafted")]


async def test_a_replay_of_a_stored_workflow_run_carries_its_steps_runs(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("drafted"), Reply.say("edited"))

    last = await replayed_from_store(app, "/workflows/pipeline/runs", "s-flow")

    assert last.event == "WorkflowCompleted"
    assert [run["content"] for run in last.data["step_executor_runs"]] == ["drafted", "edited"]


def test_a_replay_of_a_run_whose_nested_runs_are_damaged_carries_none() -> None:
    run = {"status": "COMPLETED", "member_responses": "damaged", "events": [{"event": "TeamRunCompleted"}]}

    *_, last = parse_frames(b"".join(stored_replay(run, "r1", None)).decode())

    assert (last.event, last.data["member_responses"]) == ("TeamRunCompleted", [])
