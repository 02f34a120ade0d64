"""``POST /eval-runs`` within bounds: at most ``AGENTOS_MAX_EVAL_RUNS`` evals at once per replica,
and an eval whose client goes away stops, on every backend.

The app is served under uvicorn, so a client that closes its connection is a real disconnect.
Evals are held in the fake model with ``Reply.stall``; the test waits for the model requests to
arrive (``FakeOpenAIServer.received``) and for a slot to be given back (an event set as the
replica's ``EvalSlots`` releases one), never sleeping.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.runtime.api.harness import Served, serve_on
from tests.runtime.evals.test_eval_routes import accuracy, config, verdict
from tests.support.fake_openai import FakeOpenAIServer, Reply

if TYPE_CHECKING:
    from agentos_runtime.evals.slots import EvalSlots

DEADLINE = 10.0
HELD = 30.0  # seconds a stalled model answer would take: far beyond every wait here


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, config(fake_openai.base_url), tmp_path, over_sockets=True, max_eval_runs=2) as running:
        yield running
        fake_openai.app.close_waits()  # stalled answers end, so the server stops at once


def released(slots: EvalSlots, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """An event set each time ``slots`` gives a slot back."""
    event = asyncio.Event()
    release = slots.release

    def releasing() -> None:
        release()
        event.set()

    monkeypatch.setattr(slots, "release", releasing)
    return event


@asynccontextmanager
async def posted_then_gone(base_url: httpx.URL, path: str, body: dict[str, Any]) -> AsyncIterator[None]:
    """``body`` POSTed on a connection of its own, which is closed (the client gone) as the block ends."""
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {base_url.host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    _, writer = await asyncio.open_connection(base_url.host, base_url.port)
    writer.write(head.encode() + payload)
    await writer.drain()
    try:
        yield
    finally:
        writer.close()
        await writer.wait_closed()


async def stored_evals(app: Served) -> list[dict[str, Any]]:
    listed = await app.client.get("/eval-runs")
    assert listed.status_code == 200, listed.text
    rows: list[dict[str, Any]] = listed.json()["data"]
    return rows


async def test_beyond_max_eval_runs_an_eval_is_refused_503_with_retry_after_before_any_model_call(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.stall(HELD), Reply.stall(HELD), verdict(8), verdict(7))
    held = [asyncio.create_task(app.client.post("/eval-runs", json=accuracy(name=f"held-{n}"))) for n in range(2)]
    await fake_openai.received(2)

    refused = await app.client.post("/eval-runs", json=accuracy(name="one too many"))

    assert refused.status_code == 503 and refused.headers["retry-after"] == "10"
    assert "2 evals are already running on this replica (AGENTOS_MAX_EVAL_RUNS)" in refused.json()["detail"]
    assert len(fake_openai.requests) == 2
    fake_openai.app.close_waits()
    assert [response.status_code for response in await asyncio.gather(*held)] == [200, 200]
    assert sorted(row["name"] for row in await stored_evals(app)) == ["held-0", "held-1"]
    assert app.context.eval_slots.held == 0


async def test_a_slot_is_given_back_after_an_eval_succeeds_and_after_one_fails_with_502(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("Paris"), verdict(9), Reply.fail(400, "the prompt is not allowed"))

    succeeded = await app.client.post("/eval-runs", json=accuracy())
    assert succeeded.status_code == 200, succeeded.text
    assert app.context.eval_slots.held == 0

    failed = await app.client.post("/eval-runs", json=accuracy())
    assert failed.status_code == 502, failed.text
    assert app.context.eval_slots.held == 0


async def test_an_eval_whose_client_goes_away_stops_calling_the_model_stores_no_eval_and_frees_its_slot(
    app: Served, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The first iteration completes (target and judge), the second one's target is held; the
    # rest would follow if the eval went on.
    fake_openai.script(Reply.say("It is Paris."), verdict(9), Reply.stall(HELD), *[Reply.say("Paris"), verdict(9)] * 2)
    freed = released(app.context.eval_slots, monkeypatch)
    caplog.set_level(logging.INFO, logger="agentos_runtime")

    async with posted_then_gone(app.client.base_url, "/eval-runs", accuracy(num_iterations=3)):
        await fake_openai.received(3)
    await asyncio.wait_for(freed.wait(), DEADLINE)

    assert len(fake_openai.requests) == 3
    assert app.context.eval_slots.held == 0
    assert await stored_evals(app) == []
    stopped = [record.getMessage() for record in caplog.records if "the client went away" in record.getMessage()]
    assert stopped == ["accuracy eval of agent 'assistant' stopped: the client went away; no eval run stored"]
    # The first iteration's run of the agent stays stored, as any run it made.
    sessions = (await app.client.get("/sessions", params={"type": "agent", "component_id": "assistant"})).json()
    finished = [(await app.client.get(f"/sessions/{s['session_id']}/runs")).json() for s in sessions["data"]]
    assert any(run["status"] == "COMPLETED" and run["content"] == "It is Paris." for runs in finished for run in runs)


async def test_the_document_names_the_503_of_a_replica_running_all_its_evals(app: Served) -> None:
    operation = (await app.client.get("/openapi.json")).json()["paths"]["/eval-runs"]["post"]

    busy = operation["responses"]["503"]
    assert "AGENTOS_MAX_EVAL_RUNS" in busy["description"] and "Retry-After" in busy["headers"]
