"""``/metrics`` against runs made through the API, on every storage backend.

The numbers asserted are those of the runs made: runs, sessions and users counted per day,
tokens the fake model reported, and runs per model.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
import yaml
from agentos_runtime.storage.ports import SessionRow
from agentos_runtime.storage.redis import keys
from agentos_runtime.storage.sql.database import SqlDatabase
from redis.asyncio import Redis
from sqlalchemy import update

from tests.runtime.api.harness import Served, serve_on
from tests.support.damage import Damage
from tests.support.databases import redis_url
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

DEADLINE = 10.0


def two_agents(base_url: str) -> str:
    """Agents Assistant and Analyst on two models; team Crew (led on the first model) whose member
    is team Inner (on the second), whose member is Analyst; workflow Flow of one step: Crew."""
    models = [
        {"id": model_id, "model": name, "base_url": base_url, "api_key_env": None, "max_retries": 0}
        for model_id, name in (("fake", "fake-model"), ("other", "other-model"))
    ]
    agents = [{"id": "assistant", "model": "fake"}, {"id": "analyst", "model": "other"}]
    teams = [
        {"id": "inner", "model": "other", "members": ["analyst"]},
        {"id": "crew", "model": "fake", "members": ["inner"]},
    ]
    workflows = [{"id": "flow", "steps": [{"name": "ask", "team": "crew"}]}]
    return yaml.safe_dump(
        {"os_id": "metrics-os", "models": models, "agents": agents, "teams": teams, "workflows": workflows}
    )


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, two_agents(fake_openai.base_url), tmp_path) as running:
        yield running


async def run(app: Served, agent_id: str, session_id: str, user_id: str | None = None) -> None:
    form = {"message": "hello", "stream": "false", "session_id": session_id}
    if user_id is not None:
        form["user_id"] = user_id
    response = await app.client.post(f"/agents/{agent_id}/runs", data=form)
    assert response.status_code == 200 and response.json()["status"] == "COMPLETED", response.text


async def make_runs(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(
        Reply.say("one", usage=(9, 3)),
        Reply.say("two", usage=(10, 5)),
        Reply.say("three", usage=(20, 2)),
        Reply.say("four", usage=(1, 1)),
    )
    await run(app, "assistant", "s-ana", "ana")
    await run(app, "assistant", "s-ana", "ana")
    await run(app, "analyst", "s-bob", "bob")
    await run(app, "assistant", "s-anon")


def today() -> str:
    return datetime.now(tz=UTC).date().isoformat()


async def test_metrics_count_the_runs_sessions_users_tokens_and_models_of_the_day(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    await make_runs(app, fake_openai)

    body = (await app.client.get("/metrics")).json()

    (day,) = body["metrics"]
    assert day["id"] == f"{today()}_daily" and day["date"] == f"{today()}T00:00:00Z"
    assert (day["agent_runs_count"], day["agent_sessions_count"], day["users_count"]) == (4, 3, 2)
    assert (day["team_runs_count"], day["workflow_sessions_count"]) == (0, 0)
    tokens = day["token_metrics"]
    assert (tokens["input_tokens"], tokens["output_tokens"], tokens["total_tokens"]) == (40, 11, 51)
    assert sorted(day["model_metrics"], key=lambda m: m["model_id"]) == [
        {"model_id": "fake-model", "model_provider": "OpenAI", "count": 3},
        {"model_id": "other-model", "model_provider": "OpenAI", "count": 1},
    ]
    assert body["updated_at"] is not None and body["updated_at"].endswith("Z")


def crew_turns() -> list[Reply]:
    """What the model answers in one run of Crew: Crew asks Inner, which asks Analyst."""
    to_inner = FakeToolCall("delegate_task_to_member", '{"member_id": "inner", "task": "sum up"}', id="d1")
    to_analyst = FakeToolCall("delegate_task_to_member", '{"member_id": "analyst", "task": "sum up"}', id="d2")
    return [
        Reply.call(to_inner, usage=(100, 1)),  # Crew
        Reply.call(to_analyst, usage=(200, 2)),  # Inner
        Reply.say("summed", usage=(300, 3)),  # Analyst
        Reply.say("inner done", usage=(400, 4)),  # Inner
        Reply.say("crew done", usage=(500, 5)),  # Crew
    ]


async def test_a_teams_members_and_a_workflows_steps_count_in_the_days_tokens(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(*crew_turns(), *crew_turns())
    team_run = await app.client.post("/teams/crew/runs", data={"message": "go", "stream": "false", "session_id": "t"})
    assert team_run.status_code == 200 and team_run.json()["status"] == "COMPLETED", team_run.text
    flow_run = await app.client.post(
        "/workflows/flow/runs", data={"message": "go", "stream": "false", "session_id": "w"}
    )
    assert flow_run.status_code == 200 and flow_run.json()["status"] == "COMPLETED", flow_run.text

    (day,) = (await app.client.get("/metrics")).json()["metrics"]

    # Every model call of both runs: the team's and its members', the workflow's step's.
    tokens = day["token_metrics"]
    assert (tokens["input_tokens"], tokens["output_tokens"]) == (2 * 1500, 2 * 15)
    # The team's run and its members' runs count as runs of its session, as Agno counts them;
    # the workflow's step runs count in its tokens only.
    assert (day["team_sessions_count"], day["team_runs_count"]) == (1, 3)
    assert (day["workflow_sessions_count"], day["workflow_runs_count"]) == (1, 1)
    assert sorted(day["model_metrics"], key=lambda m: m["model_id"]) == [
        {"model_id": "fake-model", "model_provider": "OpenAI", "count": 1},
        {"model_id": "other-model", "model_provider": "OpenAI", "count": 2},
    ]
    session = (await app.client.get("/sessions/t", params={"type": "team"})).json()
    assert session["metrics"]["input_tokens"] == 1500
    assert sorted((m["id"], m["input_tokens"]) for m in session["metrics"]["details"]["model"]) == [
        ("fake-model", 600),
        ("other-model", 900),
    ]


async def test_one_users_metrics_are_that_users_runs(app: Served, fake_openai: FakeOpenAIServer) -> None:
    await make_runs(app, fake_openai)

    (bob,) = (await app.client.get("/metrics", params={"user_id": "bob"})).json()["metrics"]

    assert bob["id"] == f"{today()}_bob_daily"
    assert (bob["agent_runs_count"], bob["agent_sessions_count"], bob["users_count"]) == (1, 1, 1)
    assert bob["token_metrics"]["total_tokens"] == 22
    assert bob["model_metrics"] == [{"model_id": "other-model", "model_provider": "OpenAI", "count": 1}]


async def test_reads_refresh_at_most_once_a_minute_and_a_refresh_catches_up(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    await make_runs(app, fake_openai)
    assert (await app.client.get("/metrics")).json()["metrics"][0]["agent_runs_count"] == 4
    fake_openai.script(Reply.say("five", usage=(2, 2)))
    await run(app, "analyst", "s-bob", "bob")

    assert (await app.client.get("/metrics")).json()["metrics"][0]["agent_runs_count"] == 4
    refreshed = await app.client.post("/metrics/refresh")

    assert refreshed.status_code == 200
    (day,) = refreshed.json()
    assert (day["agent_runs_count"], day["token_metrics"]["total_tokens"]) == (5, 55)
    assert (await app.client.get("/metrics")).json()["metrics"][0]["agent_runs_count"] == 5


async def test_refreshes_asked_for_at_once_all_answer_with_the_days_metrics(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    await make_runs(app, fake_openai)

    answers = await asyncio.gather(*(app.client.post("/metrics/refresh") for _ in range(6)))

    assert [answer.status_code for answer in answers] == [200] * 6
    days = [answer.json() for answer in answers]
    assert all(isinstance(body, list) and body == days[0] for body in days), days
    assert days[0][0]["agent_runs_count"] == 4


async def test_a_background_refresh_answers_202_and_its_status_ends_completed(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    assert (await app.client.get("/metrics/refresh/status")).json()["status"] == "idle"
    await make_runs(app, fake_openai)

    started = await app.client.post("/metrics/refresh", params={"background": "true"})

    assert started.status_code == 202
    assert started.json() == {"status": "started", "message": "Metrics refresh started in background"}
    deadline = time.monotonic() + DEADLINE
    status = (await app.client.get("/metrics/refresh/status")).json()
    while status["status"] == "running" and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        status = (await app.client.get("/metrics/refresh/status")).json()
    assert status["status"] == "completed" and status["error"] is None
    assert status["started_at"] <= status["finished_at"]
    (day,) = (await app.client.get("/metrics")).json()["metrics"]
    assert day["agent_runs_count"] == 4


async def test_the_date_range_selects_days(app: Served, fake_openai: FakeOpenAIServer) -> None:
    await make_runs(app, fake_openai)
    tomorrow = (datetime.now(tz=UTC).date() + timedelta(days=1)).isoformat()

    assert (await app.client.get("/metrics", params={"starting_date": tomorrow})).json()["metrics"] == []
    within = await app.client.get("/metrics", params={"starting_date": today(), "ending_date": tomorrow})
    assert [day["agent_runs_count"] for day in within.json()["metrics"]] == [4]


async def retype_stored_session(app: Served, backend: str, session_id: str, session_type: str) -> None:
    """Change a stored session's type as another writer would: straight in the backend."""
    opened = app.context.databases[app.context.default_db_id]
    if backend == "redis":
        client = Redis.from_url(redis_url())
        try:
            key = keys.record_key(opened.config.key_prefix, keys.SESSIONS, session_id)
            stored = await client.get(key)
            assert stored is not None
            record = json.loads(stored)
            await client.set(key, json.dumps({**record, "session_type": session_type}))
        finally:
            await client.aclose()
        return
    database = cast(SqlDatabase, opened.database)  # behind the runtime's watcher, which forwards
    sessions = database.backend().tables.sessions
    async with database.engine.begin() as connection:
        retyped = update(sessions).where(sessions.c.session_id == session_id).values(session_type=session_type)
        await connection.execute(retyped)


async def test_a_stored_session_of_an_unknown_type_is_not_counted_and_the_refresh_succeeds(
    app: Served, backend: str, fake_openai: FakeOpenAIServer
) -> None:
    # The API cannot create one; another writer or an older version can. It once made every
    # refresh answer 500 with the status "failed", error "KeyError".
    await make_runs(app, fake_openai)
    odd = [{"run_id": "odd-1", "model": "odd-model", "model_provider": "Odd", "metrics": {"total_tokens": 999}}]
    await app.database().sessions.upsert_session(
        SessionRow(session_id="odd", session_type="agent", created_at=int(time.time()), user_id="ana", runs=odd)
    )
    await retype_stored_session(app, backend, "odd", "weird")

    refreshed = await app.client.post("/metrics/refresh")

    assert refreshed.status_code == 200, refreshed.text
    (day,) = refreshed.json()
    assert (day["agent_runs_count"], day["agent_sessions_count"], day["token_metrics"]["total_tokens"]) == (4, 3, 51)
    assert "odd-model" not in {model["model_id"] for model in day["model_metrics"]}
    status = (await app.client.get("/metrics/refresh/status")).json()
    assert (status["status"], status["error"]) == ("completed", None)
    assert (await app.client.get("/metrics")).status_code == 200


# How deep a member's messages nest in a run another writer left, per backend: SQLite's JSON
# functions stop near 1,000 levels (then the read fails, 503), PostgreSQL's go further.
DEPTHS = {"sqlite": 960, "postgres": 3000}


async def test_a_team_run_whose_member_nests_deep_counts_and_past_decoding_counts_without_it(
    app: Served, backend: str, tmp_path: Path
) -> None:
    now = int(time.time())
    member = {"run_id": "m1", "agent_id": "analyst", "model": "other-model", "metrics": {"input_tokens": 3}}
    run = {"run_id": "r1", "team_id": "crew", "model": "fake-model", "status": "COMPLETED", "created_at": now}
    run |= {"metrics": {"input_tokens": 5}, "member_responses": [member]}
    session = SessionRow(session_id="s1", session_type="team", team_id="crew", created_at=now, runs=[run])
    await app.database().sessions.upsert_session(session)
    if backend in DEPTHS:  # the run as another writer left it
        deep = json.dumps({**run, "member_responses": [{**member, "messages": "@@"}]})
        deep = deep.replace('"@@"', "[" * DEPTHS[backend] + "]" * DEPTHS[backend])
        damage = Damage(backend, app.context.config.databases[0], tmp_path)
        await damage.sql("UPDATE {schema}.agno_runs SET run_data = %s WHERE run_id = %s", deep, "r1")

    refreshed = await app.client.post("/metrics/refresh")

    assert refreshed.status_code == 200, refreshed.text
    (day,) = refreshed.json()
    counted = (day["team_runs_count"], day["token_metrics"]["input_tokens"])
    # Past what a JSON decoder follows (PostgreSQL's 3,000 levels): the run counts, its member not.
    assert counted == ((1, 5) if backend == "postgres" else (2, 8))


async def test_runs_past_one_page_are_all_counted(app: Served) -> None:
    now = int(time.time())
    for n in range(3):
        runs = [
            {"run_id": f"s{n}-r{i:03}", "agent_id": "assistant", "model": "fake-model", "metrics": {"input_tokens": 1}}
            for i in range(60)
        ]
        await app.database().sessions.upsert_session(
            SessionRow(session_id=f"s{n}", session_type="agent", agent_id="assistant", created_at=now, runs=runs)
        )

    (day,) = (await app.client.post("/metrics/refresh")).json()

    assert (day["agent_runs_count"], day["token_metrics"]["input_tokens"]) == (180, 180)


async def test_bad_dates_are_422_and_an_unknown_database_404(app: Served) -> None:
    assert (await app.client.get("/metrics", params={"starting_date": "yesterday"})).status_code == 422
    unknown = await app.client.get("/metrics", params={"db_id": "nope"})
    assert unknown.status_code == 404 and unknown.json() == {"detail": "No database found with id 'nope'"}
