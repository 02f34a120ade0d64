"""Stored times that no date can hold (another writer's, or damaged data) never fail a read.

Rows and run dicts keep epoch seconds; the API shows them as ISO dates, and the daily metrics
bucket sessions by day. A time past what a date holds (year 9999) or before year 1 is shown as
the nearest date that can be written, and a refresh of the daily metrics meeting one still
succeeds, on every backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agentos_runtime.storage.ports import EvalRow, MemoryRow, SessionRow

from tests.runtime.api.harness import Served, agent_config, serve_on
from tests.support.damage import Damage
from tests.support.fake_openai import FakeOpenAIServer

# Far past year 9999, and far before year 1.
LATE, EARLY = 10**15, -(10**15)


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, agent_config(fake_openai.base_url), tmp_path) as running:
        yield running


async def test_sessions_and_their_runs_with_absurd_times_are_listed_and_read(app: Served) -> None:
    run = {"run_id": "r1", "agent_id": "assistant", "status": "COMPLETED", "content": "hi", "created_at": LATE}
    row = SessionRow(
        session_id="s1",
        session_type="agent",
        agent_id="assistant",
        created_at=LATE,
        updated_at=EARLY,
        runs=[run],
    )
    await app.database().sessions.upsert_session(row)

    listed = await app.client.get("/sessions", params={"type": "agent"})
    read = await app.client.get("/sessions/s1", params={"type": "agent"})
    runs = await app.client.get("/sessions/s1/runs", params={"type": "agent"})

    assert [response.status_code for response in (listed, read, runs)] == [200, 200, 200], listed.text
    [session] = listed.json()["data"]
    assert session["created_at"].startswith("9999-12-31T23:59:59")
    assert read.json()["updated_at"].startswith("0001-01-01T00:00:00")
    assert [run["created_at"][:4] for run in runs.json() if run["run_id"] == "r1"] == ["9999"]


async def test_memories_and_eval_runs_with_absurd_times_are_listed_and_read(app: Served) -> None:
    database = app.database()
    await database.memories.upsert_memory(MemoryRow(memory_id="m1", memory="likes tea", user_id="ana", created_at=LATE))
    await database.evals.create_eval(
        EvalRow(run_id="e1", eval_type="accuracy", eval_data={}, created_at=EARLY, updated_at=LATE)
    )
    await database.evals.create_eval(EvalRow(run_id="e2", eval_type="accuracy", eval_data={}, created_at=1))

    answers = [
        await app.client.get("/memories", params={"user_id": "ana"}),
        await app.client.get("/memories/m1", params={"user_id": "ana"}),
        await app.client.get("/eval-runs"),
        await app.client.get("/eval-runs/e1"),
    ]

    assert [answer.status_code for answer in answers] == [200] * 4, [answer.text for answer in answers]
    assert sorted(run["id"] for run in answers[2].json()["data"]) == ["e1", "e2"]


async def test_a_session_created_at_an_absurd_time_does_not_fail_the_daily_metrics(app: Served) -> None:
    for session_id, at in (("late", LATE), ("early", EARLY)):
        await app.database().sessions.upsert_session(
            SessionRow(session_id=session_id, session_type="agent", agent_id="assistant", created_at=at)
        )

    refreshed = await app.client.post("/metrics/refresh")

    assert refreshed.status_code == 200, refreshed.text


@pytest.mark.parametrize("created_at", ["NaN", '"abc"', "1e400", "1" + "0" * 400])
async def test_a_redis_session_whose_time_is_no_whole_number_is_left_out_of_the_daily_metrics(
    fake_openai: FakeOpenAIServer, tmp_path: Path, created_at: str
) -> None:
    async with serve_on("redis", agent_config(fake_openai.base_url), tmp_path) as app:
        record = '{"session_id": "odd", "session_type": "agent", "created_at": ' + created_at + "}"
        await Damage("redis", app.context.config.databases[0], tmp_path).redis_set("sessions", "odd", record)

        refreshed = await app.client.post("/metrics/refresh")
        listed = await app.client.get("/sessions", params={"type": "agent"})

    assert (refreshed.status_code, listed.status_code) == (200, 200), refreshed.text
