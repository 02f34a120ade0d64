"""Workflow runs over HTTP, on every storage backend, with the local OpenAI-compatible server
scripting what each step's agent (or team) answers.

Streams are read frame by frame; stored runs are read back through ``/sessions`` and
``/workflows/{id}/runs``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.runtime.api.harness import Frame, Served, read_frames, serve_on, stream_frames
from tests.runtime.teams.configs import delegate
from tests.runtime.workflows.configs import LEADER_MODEL, MEMBER_MODEL, workflow_config
from tests.support.fake_openai import FakeOpenAIServer, Reply

STEP_FIELDS = ("workflow_id", "workflow_run_id", "step_name", "step_index")


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, workflow_config(fake_openai.base_url), tmp_path, over_sockets=True) as running:
        yield running


async def stream_run(app: Served, workflow_id: str, form: dict[str, str]) -> list[Frame]:
    return await stream_frames(app, f"/workflows/{workflow_id}/runs", form)


async def run_quietly(app: Served, workflow_id: str, message: str, **form: str) -> dict:  # type: ignore[type-arg]
    response = await app.client.post(
        f"/workflows/{workflow_id}/runs", data={"message": message, "stream": "false", **form}
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    output: dict = response.json()  # type: ignore[type-arg]
    return output


async def test_steps_run_in_order_and_each_output_is_the_next_steps_input(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("A rough draft", chunks=2), Reply.say("A polished text", chunks=3))
    frames = await stream_run(app, "pipeline", {"message": "Write about tea", "session_id": "w-1"})

    names = [f.event for f in frames]
    assert names[:3] == ["WorkflowStarted", "StepStarted", "RunStarted"] and names[-1] == "WorkflowCompleted"
    run_id = frames[0].data["run_id"]
    assert (frames[0].data["workflow_id"], frames[0].data["workflow_name"]) == ("pipeline", "Pipeline")
    steps = [(f.event, f.data["step_name"], f.data["step_index"]) for f in frames if f.event.startswith("Step")]
    assert steps == [
        ("StepStarted", "draft", 0),
        ("StepCompleted", "draft", 0),
        ("StepStarted", "edit", 1),
        ("StepCompleted", "edit", 1),
    ]
    inner = [f for f in frames if "agent_id" in f.data]
    assert {f.data["agent_id"] for f in inner} == {"writer", "editor"}
    assert all(f.data["workflow_run_id"] == run_id and f.data["session_id"] == "w-1" for f in inner)
    assert {tuple(f.data[k] for k in STEP_FIELDS) for f in inner if f.data["agent_id"] == "writer"} == {
        ("pipeline", run_id, "draft", 0)
    }
    draft_done = next(f for f in frames if f.event == "StepCompleted")
    assert draft_done.data["content"] == "A rough draft" == draft_done.data["step_response"]["content"]
    completed = frames[-1].data
    assert completed["content"] == "A polished text"
    assert [s["step_name"] for s in completed["step_results"]] == ["draft", "edit"]
    assert set(completed["metrics"]["steps"]) == {"draft", "edit"}
    assert completed["metrics"]["steps"]["edit"]["executor_name"] == "Editor"
    assert completed["metrics"]["steps"]["draft"]["metrics"]["input_tokens"] == 10
    first, second = fake_openai.bodies
    assert first["messages"][-1] == {"role": "user", "content": "Write about tea"}
    assert second["messages"][-1] == {"role": "user", "content": "A rough draft"}


async def test_a_non_streamed_run_returns_the_workflow_run_output(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("draft"), Reply.say("final"))
    output = await run_quietly(app, "pipeline", "go", session_id="w-2", user_id="ana")

    assert (output["workflow_id"], output["workflow_name"], output["status"]) == ("pipeline", "Pipeline", "COMPLETED")
    assert (output["input"], output["content"], output["session_id"], output["user_id"]) == (
        "go",
        "final",
        "w-2",
        "ana",
    )
    results, executors = output["step_results"], output["step_executor_runs"]
    assert [(r["step_name"], r["step_type"], r["executor_type"], r["content"]) for r in results] == [
        ("draft", "Step", "agent", "draft"),
        ("edit", "Step", "agent", "final"),
    ]
    assert [e["agent_id"] for e in executors] == ["writer", "editor"]
    assert all(e["parent_run_id"] == output["run_id"] for e in executors)
    assert [e["workflow_step_id"] for e in executors] == [r["step_id"] for r in results]
    assert [r["step_run_id"] for r in results] == [e["run_id"] for e in executors]
    assert [e["event"] for e in output["events"]] == [
        "WorkflowStarted",
        "StepStarted",
        "StepCompleted",
        "StepStarted",
        "StepCompleted",
        "WorkflowCompleted",
    ]
    assert not any(body.get("stream") for body in fake_openai.bodies)


async def test_a_parallel_group_runs_its_steps_on_the_same_input_and_joins_their_outputs(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("alpha"), Reply.say("beta"), Reply.say("merged"))
    frames = await stream_run(app, "fanout", {"message": "Ideas for tea"})

    group = [f for f in frames if f.event.startswith("Parallel") or f.event.startswith("Step")]
    assert group[0].event == "ParallelExecutionStarted" and group[0].data["parallel_step_count"] == 2
    starts = [(f.data["step_name"], f.data["step_index"]) for f in group if f.event == "StepStarted"]
    assert starts[:2] == [("one", [0, 0]), ("two", [0, 1])]
    done = next(f for f in frames if f.event == "ParallelExecutionCompleted").data
    by_name = {r["step_name"]: r["content"] for r in done["step_results"]}
    assert set(by_name) == {"one", "two"} and set(by_name.values()) == {"alpha", "beta"}
    bodies = fake_openai.bodies
    assert [b["messages"][-1]["content"] for b in bodies[:2]] == ["Ideas for tea", "Ideas for tea"]
    joined = f"### one\n{by_name['one']}\n\n### two\n{by_name['two']}"
    assert bodies[2]["messages"][-1] == {"role": "user", "content": joined}
    completed = frames[-1].data
    assert completed["content"] == "merged"
    gather = completed["step_results"][0]
    assert (gather["step_type"], gather["content"]) == ("Parallel", joined)
    assert [s["step_name"] for s in gather["steps"]] == ["one", "two"]


async def test_a_condition_runs_its_steps_when_the_previous_output_contains_the_text(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("APPROVED: ship it"), Reply.say("Published"))
    frames = await stream_run(app, "gate", {"message": "Review"})

    started = next(f for f in frames if f.event == "ConditionExecutionStarted").data
    completed = next(f for f in frames if f.event == "ConditionExecutionCompleted").data
    assert started["condition_result"] is True and started["step_name"] == "check"
    assert (completed["branch"], completed["executed_steps"]) == ("if", 1)
    assert [s["step_name"] for s in completed["step_results"]] == ["publish"]
    assert {f.data["agent_id"] for f in frames if f.event == "RunStarted"} == {"writer", "editor"}
    assert fake_openai.bodies[1]["messages"][-1]["content"] == "APPROVED: ship it"
    assert frames[-1].data["content"] == "Published"


async def test_a_condition_runs_its_else_steps_when_it_does_not_hold(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("needs work"), Reply.say("Revised"))
    output = await run_quietly(app, "gate", "Review")

    check = output["step_results"][1]
    assert (check["step_type"], check["content"]) == ("Condition", "Revised")
    assert [s["step_name"] for s in check["steps"]] == ["revise"]
    assert [e["agent_id"] for e in output["step_executor_runs"]] == ["writer", "critic"]
    condition = next(e for e in output["events"] if e["event"] == "ConditionExecutionCompleted")
    assert (condition["condition_result"], condition["branch"]) == (False, "else")


async def test_a_condition_that_runs_nothing_passes_its_input_on(app: Served, fake_openai: FakeOpenAIServer) -> None:
    output = await run_quietly(app, "numbers", "not a number")

    assert output["status"] == "COMPLETED" and output["content"] == "not a number"
    assert output["step_results"][0]["steps"] == [] and fake_openai.bodies == []
    fake_openai.script(Reply.say("forty-two"))
    counted = await run_quietly(app, "numbers", "42")
    assert counted["content"] == "forty-two" and fake_openai.bodies[0]["messages"][-1]["content"] == "42"


async def test_a_team_step_runs_the_team_nested_and_its_output_feeds_the_next_step(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(
        Reply.call(delegate("writer", "Draft a line")),
        Reply.say("A line"),
        Reply.say("The crew wrote: A line"),
        Reply.say("Polished line"),
    )
    frames = await stream_run(app, "staffed", {"message": "Write"})

    team_frames = [f for f in frames if f.event.startswith("Team")]
    assert team_frames[0].event == "TeamRunStarted" and team_frames[-1].event == "TeamRunCompleted"
    assert {(f.data["team_id"], f.data["step_name"], f.data["step_index"]) for f in team_frames} == {
        ("crew", "team-step", 0)
    }
    assert [b["model"] for b in fake_openai.bodies] == [LEADER_MODEL, MEMBER_MODEL, LEADER_MODEL, MEMBER_MODEL]
    assert fake_openai.bodies[3]["messages"][-1]["content"] == "The crew wrote: A line"
    completed = frames[-1].data
    assert completed["content"] == "Polished line"
    assert completed["step_results"][0]["executor_type"] == "team"
    assert completed["metrics"]["steps"]["team-step"]["executor_name"] == "Crew"


async def test_a_workflow_run_is_stored_in_a_workflow_session_and_read_back(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("draft"), Reply.say("final"))
    run_id = (await run_quietly(app, "pipeline", "Tea notes", session_id="w-s", user_id="ana"))["run_id"]

    listed = (await app.client.get("/sessions", params={"type": "workflow"})).json()["data"]
    assert [(s["session_id"], s["session_type"], s["workflow_id"]) for s in listed] == [("w-s", "workflow", "pipeline")]
    assert (await app.client.get("/sessions", params={"type": "team"})).json()["data"] == []
    session = (await app.client.get("/sessions/w-s")).json()
    assert (session["workflow_id"], session["workflow_name"], session["session_name"]) == (
        "pipeline",
        "Pipeline",
        "Tea notes",
    )
    assert session["workflow_data"]["steps"] == [{"name": "draft", "type": "Step"}, {"name": "edit", "type": "Step"}]

    runs = (await app.client.get("/workflows/pipeline/runs", params={"session_id": "w-s"})).json()
    assert [(r["run_id"], r["workflow_id"], r["run_input"], r["content"], r["status"]) for r in runs] == [
        (run_id, "pipeline", "Tea notes", "final", "COMPLETED")
    ]
    assert [s["step_name"] for s in runs[0]["step_results"]] == ["draft", "edit"]
    stored = (await app.client.get(f"/workflows/pipeline/runs/{run_id}", params={"session_id": "w-s"})).json()
    assert [e["agent_id"] for e in stored["step_executor_runs"]] == ["writer", "editor"]
    via_sessions = (await app.client.get("/sessions/w-s/runs")).json()
    assert via_sessions[0]["workflow_id"] == "pipeline" and len(via_sessions[0]["step_results"]) == 2
    wrong = await app.client.get("/workflows/fanout/runs", params={"session_id": "w-s"})
    assert wrong.status_code == 404 and wrong.json() == {"detail": "Session not found"}


async def test_a_failing_step_ends_the_run_with_step_error_and_workflow_error_and_is_stored(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.fail(400, "Writer prompt rejected"))
    frames = await stream_run(app, "pipeline", {"message": "go", "session_id": "w-e"})

    names = [f.event for f in frames]
    assert names[-3:] == ["RunError", "StepError", "WorkflowError"]
    assert frames[-2].data["step_name"] == "draft" and "Writer prompt rejected" in frames[-2].data["error"]
    error = frames[-1].data
    assert "Writer prompt rejected" in error["error"] and error["error_type"] == "model_provider_error"
    assert len(fake_openai.bodies) == 1, "no step runs after a failed one"
    [stored] = (await app.client.get("/workflows/pipeline/runs", params={"session_id": "w-e"})).json()
    assert stored["status"] == "ERROR" and "Writer prompt rejected" in stored["content"]


async def test_cancel_route_stops_a_streaming_workflow_run_and_it_is_stored_cancelled(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("one two three four", chunks=4, delay=0.5))
    frames: list[Frame] = []
    async with app.client.stream("POST", "/workflows/pipeline/runs", data={"message": "go", "session_id": "w-c"}) as r:
        async for frame in read_frames(r):
            frames.append(frame)
            if frame.event == "RunContent" and sum(f.event == "RunContent" for f in frames) == 1:
                cancel = await app.client.post(f"/workflows/pipeline/runs/{frames[0].data['run_id']}/cancel")
                assert cancel.status_code == 200 and cancel.json() == {}

    assert frames[-1].event == "WorkflowCancelled"
    assert len(fake_openai.bodies) == 1, "the next step never starts"
    [stored] = (await app.client.get("/workflows/pipeline/runs", params={"session_id": "w-c"})).json()
    assert stored["status"] == "CANCELLED"


async def test_cancelling_every_run_at_once_as_a_shutdown_does_ends_a_workflow_stream_with_workflow_cancelled(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("one two three four", chunks=4, delay=0.5))
    frames: list[Frame] = []
    async with app.client.stream(
        "POST", "/workflows/pipeline/runs", data={"message": "go", "session_id": "w-all"}
    ) as r:
        async for frame in read_frames(r):
            frames.append(frame)
            if frame.event == "RunContent" and sum(f.event == "RunContent" for f in frames) == 1:
                assert app.context.runs.cancel_all() == 2, "the workflow run and its step's run"

    assert frames[-1].event == "WorkflowCancelled"
    assert len(fake_openai.bodies) == 1, "the next step never starts"
    [stored] = (await app.client.get("/workflows/pipeline/runs", params={"session_id": "w-all"})).json()
    assert stored["status"] == "CANCELLED"


async def test_an_unknown_workflow_is_404_on_every_workflow_route(app: Served) -> None:
    responses = [
        await app.client.get("/workflows/nope"),
        await app.client.post("/workflows/nope/runs", data={"message": "hi"}),
        await app.client.post("/workflows/nope/runs/r-1/cancel"),
        await app.client.get("/workflows/nope/runs", params={"session_id": "s"}),
        await app.client.get("/workflows/nope/runs/r-1", params={"session_id": "s"}),
    ]
    for response in responses:
        assert response.status_code == 404 and response.json() == {"detail": "Workflow not found"}


async def test_a_run_without_a_message_is_422_and_multipart_forms_work_too(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    missing = await app.client.post("/workflows/pipeline/runs", data={"stream": "false"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "message"]
    fake_openai.script(Reply.say("d"), Reply.say("e"))
    multipart = await app.client.post(
        "/workflows/pipeline/runs", files={"message": (None, "hi"), "stream": (None, "false")}
    )
    assert multipart.status_code == 200 and multipart.json()["content"] == "e"


async def test_workflows_are_listed_with_their_steps(app: Served) -> None:
    listed = (await app.client.get("/workflows")).json()
    assert [w["id"] for w in listed] == ["pipeline", "fanout", "gate", "numbers", "staffed"]
    gate = (await app.client.get("/workflows/gate")).json()
    assert gate["steps"][1] == {
        "name": "check",
        "type": "Condition",
        "steps": [{"name": "publish", "type": "Step", "agent": "editor"}],
        "else_steps": [{"name": "revise", "type": "Step", "agent": "critic"}],
    }
    config = (await app.client.get("/config")).json()
    assert [w["id"] for w in config["workflows"]] == [w["id"] for w in listed]
    assert json.loads(json.dumps(listed[0]))["description"] == "Draft, then edit."
