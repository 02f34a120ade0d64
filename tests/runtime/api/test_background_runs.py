"""Runs asked for with ``background=true``: answered at once, going on without their client, on every backend.

``stream=false`` answers 202 and the run is polled; ``stream=true`` answers a stream whose events
carry ``event_index``, which a client may leave and take up again with ``/resume``. A run held
on the fake model (``Reply.stall``) is seen RUNNING; ``close_waits`` lets it go on; the test
then waits for the registry's background runs to end (no sleeping).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.errors import StorageUnavailable

from tests.runtime.api.harness import Frame, Served, parse_frames, read_frames, serve_on
from tests.runtime.workflows.configs import workflow_config
from tests.support.fake_openai import FakeOpenAIServer, Reply

DEADLINE = 10.0
RUNS = {"agent": "/agents/writer", "team": "/teams/crew", "workflow": "/workflows/pipeline"}
# Model answers each run asks for: the first one held until the test lets it go ("too late").
ANSWERS = {"agent": 1, "team": 1, "workflow": 2}


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(
        backend, workflow_config(fake_openai.base_url), tmp_path, over_sockets=True, max_background_runs=2
    ) as running:
        yield running


async def settle(app: Served) -> None:
    assert await app.context.runs.settle_background_runs(timeout=DEADLINE)


async def poll(app: Served, kind: str, run_id: str, session_id: str) -> dict[str, Any]:
    response = await app.client.get(f"{RUNS[kind]}/runs/{run_id}", params={"session_id": session_id})
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


def frames_of(raw: str) -> list[Frame]:
    return parse_frames("\n\n".join(block for block in raw.split("\n\n") if not block.startswith(":")))


@pytest.mark.parametrize("kind", ["agent", "team", "workflow"])
async def test_a_background_run_is_answered_202_pending_and_polled_from_running_to_completed(
    app: Served, fake_openai: FakeOpenAIServer, kind: str
) -> None:
    fake_openai.script(Reply.stall(30), *[Reply.say("the last answer")] * (ANSWERS[kind] - 1))
    response = await app.client.post(
        f"{RUNS[kind]}/runs", data={"message": "hi", "stream": "false", "background": "true", "session_id": "s-bg"}
    )
    assert response.status_code == 202
    body = response.json()
    assert (
        body["session_id"] == "s-bg" and body["status"] == "PENDING" and set(body) == {"run_id", "session_id", "status"}
    )
    running = await poll(app, kind, body["run_id"], "s-bg")
    assert running["status"] == "RUNNING" and running["run_id"] == body["run_id"]
    fake_openai.app.close_waits()
    await settle(app)
    done = await poll(app, kind, body["run_id"], "s-bg")
    assert done["status"] == "COMPLETED"
    assert done["content"] == ("the last answer" if kind == "workflow" else "too late")
    listed = (await app.client.get(f"{RUNS[kind]}/runs", params={"session_id": "s-bg"})).json()
    assert [run["run_id"] for run in listed] == [body["run_id"]]


async def test_a_run_still_going_in_the_background_is_no_history_for_the_next_run_in_its_session(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.stall(30), Reply.say("Nothing earlier."))
    started = await app.client.post(
        "/agents/writer/runs",
        data={"message": "the first question", "stream": "false", "background": "true", "session_id": "s-h"},
    )
    assert started.status_code == 202

    form = {"message": "What did I ask?", "stream": "false", "session_id": "s-h", "add_history_to_context": "true"}
    second = await app.client.post("/agents/writer/runs", data=form)

    assert second.status_code == 200 and second.json()["status"] == "COMPLETED"
    sent = [message["content"] for message in fake_openai.bodies[1]["messages"] if message["role"] == "user"]
    assert sent == ["What did I ask?"], "a question with no answer yet is not history"
    fake_openai.app.close_waits()
    await settle(app)


async def test_cancelling_a_background_run_stores_it_cancelled(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.stall(30))
    started = await app.client.post(
        "/agents/writer/runs", data={"message": "hi", "stream": "false", "background": "true", "session_id": "s-c"}
    )
    run_id = started.json()["run_id"]
    assert (await app.client.post(f"/agents/writer/runs/{run_id}/cancel")).status_code == 200
    await settle(app)
    assert (await poll(app, "agent", run_id, "s-c"))["status"] == "CANCELLED"


async def test_a_background_run_whose_final_save_failed_is_stored_once_the_database_takes_it_again(
    app: Served, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.script(Reply.stall(30))
    started = await app.client.post(
        "/agents/writer/runs", data={"message": "hi", "stream": "false", "background": "true", "session_id": "s-r"}
    )
    run_id = started.json()["run_id"]
    sessions = app.context.agents["writer"].sessions
    assert sessions is not None
    save_run = sessions.save_run
    refusals = iter(range(2))  # the final save, then its first retry, find the database away

    async def flaky_save_run(*args: Any, **kwargs: Any) -> Any:
        if next(refusals, None) is not None:
            raise StorageUnavailable("database 'db' is away for a moment")
        return await save_run(*args, **kwargs)

    monkeypatch.setattr(sessions, "save_run", flaky_save_run)
    app.context.runs.save_retry_delays = (0.0, 0.0, 0.0)
    fake_openai.app.close_waits()
    await settle(app)

    deadline = time.monotonic() + DEADLINE
    while (run := await poll(app, "agent", run_id, "s-r"))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the run is still stored RUNNING"
        await asyncio.sleep(0.01)
    assert (run["status"], run["content"]) == ("COMPLETED", "too late")


async def test_a_shutdown_ends_background_runs_stored_cancelled_never_running(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.stall(30))
    started = await app.client.post(
        "/agents/writer/runs", data={"message": "hi", "stream": "false", "background": "true", "session_id": "s-d"}
    )
    assert await app.context.runs.shutdown(timeout=DEADLINE)
    assert (await poll(app, "agent", started.json()["run_id"], "s-d"))["status"] == "CANCELLED"


async def test_beyond_the_replicas_background_runs_a_run_is_refused_503_and_none_is_stored(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.stall(30), Reply.stall(30))
    form = {"message": "hi", "stream": "false", "background": "true", "session_id": "s-full"}
    for _ in range(2):
        assert (await app.client.post("/agents/writer/runs", data=form)).status_code == 202
    refused = await app.client.post("/agents/writer/runs", data=form)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert "2 runs are already going on in the background" in refused.json()["detail"]
    assert len((await app.client.get("/agents/writer/runs", params={"session_id": "s-full"})).json()) == 2
    fake_openai.app.close_waits()
    await settle(app)


async def test_background_is_read_as_the_stream_flag_is(app: Served) -> None:
    response = await app.client.post("/agents/writer/runs", data={"message": "hi", "background": "maybe"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "background"]


async def test_a_streamed_background_run_numbers_its_events_and_goes_on_when_its_client_leaves(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("one two three four", chunks=4, delay=0.05))
    form = {"message": "hi", "background": "true", "session_id": "s-stream"}
    async with app.client.stream("POST", "/agents/writer/runs", data=form) as response:
        assert response.status_code == 200
        async for frame in read_frames(response):
            first = frame
            break
    assert first.event == "RunStarted" and first.data["event_index"] == 0
    await settle(app)
    run = await poll(app, "agent", first.data["run_id"], "s-stream")
    assert run["status"] == "COMPLETED" and run["content"] == "one two three four"
    stored_indices = [event.get("event_index") for event in run["events"]]
    assert stored_indices[0] == 0 and stored_indices[:-1] == sorted(stored_indices[:-1])

    resumed = await app.client.post(
        f"/agents/writer/runs/{first.data['run_id']}/resume", data={"last_event_index": "0"}
    )
    frames = frames_of(resumed.text)
    assert frames[0].event == "replay" and frames[0].data["status"] == "COMPLETED"
    assert frames[0].data["last_event_index_requested"] == 0
    replayed = frames[1:]
    assert [f.data["event_index"] for f in replayed] == list(range(1, len(replayed) + 1))
    assert frames[0].data["total_events"] == len(replayed)
    assert replayed[-1].event == "RunCompleted"
    assert "".join(f.data["content"] for f in replayed if f.event == "RunContent") == "one two three four"


async def test_a_resume_of_a_going_run_catches_up_subscribes_and_follows_it_to_its_end(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.stall(30))
    form = {"message": "hi", "background": "true", "session_id": "s-live"}
    async with app.client.stream("POST", "/agents/writer/runs", data=form) as response:
        async for frame in read_frames(response):
            run_id = frame.data["run_id"]
            break
    frames: list[Frame] = []
    async with app.client.stream(
        "POST", f"/agents/writer/runs/{run_id}/resume", data={"session_id": "s-live"}
    ) as resumed:
        async for frame in read_frames(resumed):
            frames.append(frame)
            if frame.event == "subscribed":
                fake_openai.app.close_waits()
    assert [f.event for f in frames[:3]] == ["catch_up", "RunStarted", "ModelRequestStarted"][: len(frames[:3])]
    assert frames[0].data["missed_events"] >= 1
    subscribed = next(f for f in frames if f.event == "subscribed")
    assert subscribed.data == {
        "event": "subscribed",
        "run_id": run_id,
        "status": "running",
        "current_event_count": subscribed.data["current_event_count"],
        "message": "Subscribed to agent run. Receiving live events.",
    }
    events = [f for f in frames if "event_index" in f.data]
    assert [f.data["event_index"] for f in events] == list(range(len(events)))
    assert frames[-1].event == "RunCompleted"


async def test_a_resume_where_the_events_are_not_held_replays_the_stored_run(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("stored answer", chunks=2))
    form = {"message": "hi", "background": "true", "session_id": "s-away"}
    async with app.client.stream("POST", "/agents/writer/runs", data=form) as response:
        async for frame in read_frames(response):
            run_id = frame.data["run_id"]
            break
    await settle(app)
    app.context.runs.event_logs = type(app.context.runs.event_logs)()  # as on another replica
    resumed = await app.client.post(
        f"/agents/writer/runs/{run_id}/resume", data={"session_id": "s-away", "last_event_index": "0"}
    )
    frames = frames_of(resumed.text)
    assert frames[0].event == "replay" and frames[0].data["status"] == "COMPLETED"
    assert frames[0].data["message"] == "Run completed. Replaying stored events from database."
    assert 0 not in [f.data["event_index"] for f in frames[1:]]
    assert frames[-1].event == "RunCompleted" and frames[-1].data["content"] == "stored answer"


async def test_a_resume_of_a_run_neither_held_nor_stored_is_an_error_event(app: Served) -> None:
    resumed = await app.client.post("/agents/writer/runs/nope/resume", data={"session_id": "s-none"})
    assert resumed.status_code == 200
    frames = frames_of(resumed.text)
    assert [(f.event, f.data) for f in frames] == [
        ("error", {"event": "error", "error": "Run nope not found in buffer or database"})
    ]
    unknown_component = await app.client.post("/agents/nope/runs/r/resume")
    assert unknown_component.status_code == 404 and unknown_component.json() == {"detail": "Agent not found"}


@pytest.mark.parametrize("value", ["-2", "abc", str(2**60), "1.5"])
async def test_a_bad_last_event_index_is_422_naming_the_field(app: Served, value: str) -> None:
    response = await app.client.post("/teams/crew/runs/r/resume", data={"last_event_index": value})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "last_event_index"]


def test_meta_frames_are_encoded_as_agentos_encodes_them() -> None:
    from agentos_runtime.api.resuming import error_frame

    assert error_frame("Run r not found") == b'event: error\ndata: {"event": "error", "error": "Run r not found"}\n\n'
    assert json.loads(error_frame("x").split(b"data: ")[1]) == {"event": "error", "error": "x"}


@pytest.mark.parametrize(
    ("session_id", "kind"), [("s\x00nul", "string_nul"), ("x" * 513, "string_too_long"), ("index:s", "string_reserved")]
)
async def test_a_resume_naming_a_session_no_backend_can_look_up_is_422_naming_the_field(
    app: Served, session_id: str, kind: str
) -> None:
    response = await app.client.post("/agents/writer/runs/r/resume", data={"session_id": session_id})
    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["detail"]] == [(["body", "session_id"], kind)]


async def start_held_run(app: Served, fake_openai: FakeOpenAIServer, session_id: str) -> str:
    """A background run of the writer held in the model; its run id."""
    fake_openai.script(Reply.stall(30))
    started = await app.client.post(
        "/agents/writer/runs", data={"message": "hi", "stream": "false", "background": "true", "session_id": session_id}
    )
    assert started.status_code == 202
    run_id: str = started.json()["run_id"]
    return run_id


async def test_a_run_whose_replica_stopped_renewing_its_lease_is_polled_as_ended_saying_why(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    run_id = await start_held_run(app, fake_openai, "s-lost")
    stored = await poll(app, "agent", run_id, "s-lost")
    assert stored["status"] == "RUNNING" and stored["lease_expires_at"] > time.time()
    # As its replica would leave it, had it died: the lease it took last ran out.
    sessions = app.context.agents["writer"].sessions
    assert sessions is not None
    assert await sessions.replace_run("s-lost", {**stored, "lease_expires_at": int(time.time()) - 1}, status="RUNNING")

    lost = await poll(app, "agent", run_id, "s-lost")
    assert lost["status"] == "ERROR" and "the replica running it went away" in lost["content"]
    listed = (await app.client.get("/sessions/s-lost/runs", params={"status": "ERROR"})).json()
    assert [run["run_id"] for run in listed] == [run_id]
    resumed = frames_of(
        (await app.client.post(f"/agents/writer/runs/{run_id}/resume", data={"session_id": "s-lost"})).text
    )
    assert resumed[0].data["status"] == "ERROR"

    fake_openai.app.close_waits()  # it was only cut off: its final save still lands
    await settle(app)
    assert (await poll(app, "agent", run_id, "s-lost"))["status"] == "COMPLETED"


async def test_a_run_going_on_renews_its_lease_and_is_never_shown_ended(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    # Renewed every second: a pause of the machine must last some 2 s to let the lease lapse
    # between two renewals (on 0.6 s, renewed every 0.2 s, a 0.4 s pause or a slow write did).
    app.context.runs.lease_seconds = 3.0
    run_id = await start_held_run(app, fake_openai, "s-lease")
    first = (await poll(app, "agent", run_id, "s-lease"))["lease_expires_at"]

    deadline = time.monotonic() + DEADLINE
    while time.time() <= first:  # past the lease it was started with
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    going_on = await poll(app, "agent", run_id, "s-lease")

    assert going_on["status"] == "RUNNING" and going_on["lease_expires_at"] > first
    fake_openai.app.close_waits()
    await settle(app)
    done = await poll(app, "agent", run_id, "s-lease")
    assert done["status"] == "COMPLETED" and "lease_expires_at" not in done


async def test_a_renewal_failing_for_an_unexpected_reason_is_tried_again_not_given_up(
    app: Served, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Renewals stopped for good after any error but a storage one: the run, still going, was
    # polled as ended ("the replica running it went away") once its lease ran out.
    app.context.runs.lease_seconds = 3.0
    sessions = app.context.agents["writer"].sessions
    assert sessions is not None
    renew, failures = sessions.replace_run, []

    async def failing_twice(session_id: str, run: dict[str, Any], *, status: str) -> bool:
        if len(failures) < 2:
            failures.append(run["run_id"])
            raise ValueError("a reply the client did not expect")
        return await renew(session_id, run, status=status)

    monkeypatch.setattr(sessions, "replace_run", failing_twice)
    run_id = await start_held_run(app, fake_openai, "s-renew")
    first = (await poll(app, "agent", run_id, "s-renew"))["lease_expires_at"]

    deadline = time.monotonic() + DEADLINE
    while time.time() <= first + 1.0 or len(failures) < 2:  # past the lease it was started with
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    going_on = await poll(app, "agent", run_id, "s-renew")

    assert going_on["status"] == "RUNNING" and going_on["lease_expires_at"] > first
    tracebacks = [r for r in caplog.records if "its lease could not be renewed" in r.getMessage() and r.exc_info]
    assert len(tracebacks) == 1, "the traceback once, not at every turn"
    fake_openai.app.close_waits()
    await settle(app)
