"""A cancel sent to one replica stops the run another replica drives, on every shared backend.

Behind one Service a client's cancel reaches any replica. The one that received it records it
in the component's database; the one running the run reads the cancels of its runs while they
go on (every ``cancel_poll_seconds``, here 50 ms) and cancels the run as if asked itself. Runs
are held on the fake model (``Reply.stall``), so they are in flight when the cancel comes; the
tests wait for runs to end, never for a set time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.runtime.api.harness import Served, parse_frames, serve_replicas
from tests.runtime.workflows.configs import workflow_config
from tests.support.fake_openai import FakeOpenAIServer, Reply

DEADLINE = 10.0
RUNS = {"agent": "/agents/writer", "team": "/teams/crew", "workflow": "/workflows/pipeline"}
POLL_SECONDS = 0.05


@pytest.fixture
async def replicas(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[list[Served]]:
    async with serve_replicas(backend, workflow_config(fake_openai.base_url), tmp_path, count=2) as served:
        for replica in served:
            replica.context.runs.cancel_poll_seconds = POLL_SECONDS
        yield served


@pytest.mark.parametrize("kind", ["agent", "team", "workflow"])
async def test_a_background_run_cancelled_through_another_replica_is_stored_cancelled(
    replicas: list[Served], fake_openai: FakeOpenAIServer, kind: str
) -> None:
    running, other = replicas
    fake_openai.script(Reply.stall(30))
    form = {"message": "hi", "stream": "false", "background": "true", "session_id": "s-x"}
    started = await running.client.post(f"{RUNS[kind]}/runs", data=form)
    assert started.status_code == 202
    run_id = started.json()["run_id"]

    cancelled = await other.client.post(f"{RUNS[kind]}/runs/{run_id}/cancel")

    assert cancelled.status_code == 200 and cancelled.json() == {}
    assert await running.context.runs.settle_background_runs(timeout=DEADLINE)
    polled = await other.client.get(f"{RUNS[kind]}/runs/{run_id}", params={"session_id": "s-x"})
    assert polled.json()["status"] == "CANCELLED"
    assert len(fake_openai.requests) == 1, "the run stopped at the model call it was waiting on"


async def test_a_streamed_run_cancelled_through_another_replica_ends_with_run_cancelled(
    replicas: list[Served], fake_openai: FakeOpenAIServer
) -> None:
    running, other = replicas
    fake_openai.script(Reply.stall(30))

    async def stream() -> str:
        form = {"message": "hi", "stream": "true", "session_id": "s-s"}
        response = await running.client.post("/agents/writer/runs", data=form)
        return response.text

    streaming = asyncio.create_task(stream())
    await fake_openai.received(1)
    [run_id] = list(running.context.runs._active)

    assert (await other.client.post(f"/agents/writer/runs/{run_id}/cancel")).status_code == 200

    frames = parse_frames(await asyncio.wait_for(streaming, DEADLINE))
    assert frames[-1].event == "RunCancelled"
    stored = await other.client.get(f"/agents/writer/runs/{run_id}", params={"session_id": "s-s"})
    assert stored.json()["status"] == "CANCELLED"


async def test_a_cancel_for_a_run_no_replica_runs_is_recorded_and_a_run_on_the_replica_itself_is_not(
    replicas: list[Served], fake_openai: FakeOpenAIServer
) -> None:
    running, _ = replicas
    sessions = running.context.agents["writer"].sessions
    assert sessions is not None

    assert (await running.client.post("/agents/writer/runs/not-started-yet/cancel")).status_code == 200
    assert await sessions.cancel_requested(["not-started-yet"]) == {"not-started-yet"}

    fake_openai.script(Reply.stall(30))
    form = {"message": "hi", "stream": "false", "background": "true", "session_id": "s-l"}
    run_id = (await running.client.post("/agents/writer/runs", data=form)).json()["run_id"]
    assert (await running.client.post(f"/agents/writer/runs/{run_id}/cancel")).status_code == 200
    assert await running.context.runs.settle_background_runs(timeout=DEADLINE)
    assert await sessions.cancel_requested([run_id]) == set(), "a run cancelled where it runs needs no record"


async def test_a_cancel_that_cannot_be_recorded_is_a_503_saying_why(
    replicas: list[Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentos_runtime.errors import StorageUnavailable

    running, _ = replicas
    sessions = running.context.agents["writer"].sessions
    assert sessions is not None

    async def away(run_id: str, *, seconds: int) -> None:
        raise StorageUnavailable("database 'main-db' is not reachable")

    monkeypatch.setattr(sessions, "request_cancel", away)
    answer = await running.client.post("/agents/writer/runs/elsewhere/cancel")

    assert answer.status_code == 503 and "main-db" in answer.json()["detail"]


@pytest.mark.parametrize("run_id", ["nul%00byte", "x" * 600])
async def test_a_cancel_of_an_id_no_run_can_have_is_a_422_naming_it(replicas: list[Served], run_id: str) -> None:
    answer = await replicas[0].client.post(f"/agents/writer/runs/{run_id}/cancel")

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["path", "run_id"]
