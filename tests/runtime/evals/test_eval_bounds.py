"""``POST /eval-runs`` within bounds: at most ``AGENTOS_MAX_EVAL_RUNS`` evals at once per replica,
on every backend.

Evals are held in the fake model with ``Reply.stall``; the test waits for the model requests to
arrive (``FakeOpenAIServer.received``), never sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.api.harness import Served, serve_on
from tests.runtime.evals.test_eval_routes import accuracy, config, verdict
from tests.support.fake_openai import FakeOpenAIServer, Reply

DEADLINE = 10.0
HELD = 30.0  # seconds a stalled model answer would take: far beyond every wait here


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, config(fake_openai.base_url), tmp_path, over_sockets=True, max_eval_runs=2) as running:
        yield running
        fake_openai.app.close_waits()  # stalled answers end, so the server stops at once


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


async def test_the_document_names_the_503_of_a_replica_running_all_its_evals(app: Served) -> None:
    operation = (await app.client.get("/openapi.json")).json()["paths"]["/eval-runs"]["post"]

    busy = operation["responses"]["503"]
    assert "AGENTOS_MAX_EVAL_RUNS" in busy["description"] and "Retry-After" in busy["headers"]
