"""A team run whose leader's tool waits for a person, over HTTP: ``POST
/teams/{id}/runs/{run_id}/continue`` refuses requirements that do not decide the run, and goes on
with those that do, on every storage backend."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.api.harness import Served, agent_config, crew_document, parse_frames, serve, serve_on
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

JSON = dict[str, Any]
ADD = FakeToolCall("calculator", '{"expression": "2 + 3"}', id="call_add")


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    document = yaml.safe_load(agent_config(fake_openai.base_url))
    document["teams"] = [
        {
            "id": "crew",
            "model": "fake",
            "members": ["assistant"],
            "tools": ["calculator"],
            "tool_config": {"calculator": {"requires_confirmation": True}},
        }
    ]
    async with serve_on(backend, yaml.safe_dump(document), tmp_path) as running:
        yield running


async def pause(app: Served, fake_openai: FakeOpenAIServer) -> JSON:
    fake_openai.script(Reply.call(ADD))
    form = {"message": "add 2 and 3", "stream": "false", "session_id": "s1"}
    output: JSON = (await app.client.post("/teams/crew/runs", data=form)).json()
    assert output["status"] == "PAUSED"
    return output


async def go_on(app: Served, run: JSON, requirements: list[JSON] | str, *, stream: bool = False) -> Any:
    data = {
        "requirements": requirements if isinstance(requirements, str) else json.dumps(requirements),
        "session_id": "s1",
        "stream": str(stream).lower(),
    }
    return await app.client.post(f"/teams/crew/runs/{run['run_id']}/continue", data=data)


def confirmed(run: JSON, answer: bool) -> list[JSON]:
    """The run's requirements as Agno's ``RunRequirement.confirm()`` / ``reject()`` leave them."""
    return [
        {**r, "confirmation": answer, "tool_execution": {**r["tool_execution"], "confirmed": answer}}
        for r in run["requirements"]
    ]


async def test_requirements_that_do_not_decide_the_run_are_refused_and_the_run_stays_paused(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    run = await pause(app, fake_openai)
    [requirement] = run["requirements"]
    stranger = {**requirement, "member_run_id": "nobody"}
    bare = {k: v for k, v in requirement.items() if k != "tool_execution"}

    answers = [
        await go_on(app, run, "{not json"),
        await go_on(app, run, []),
        await go_on(app, run, [stranger]),
        await go_on(app, run, [bare]),
        await go_on(app, run, '{"a": 1}'),
    ]

    details = [(a.status_code, a.json()["detail"]) for a in answers]
    assert [status for status, _ in details] == [400, 400, 400, 400, 400]
    assert "tool call call_add waits for a decision" in details[1][1]
    assert "member_run_id 'nobody', which is no member run" in details[2][1]
    assert "entry 0 has no tool_execution object" in details[3][1]
    assert "expected a JSON list of the paused run's requirements" in details[4][1]
    assert len(fake_openai.requests) == 1
    stored = (await app.client.get(f"/teams/crew/runs/{run['run_id']}", params={"session_id": "s1"})).json()
    assert stored["status"] == "PAUSED"


async def test_a_confirmed_team_run_goes_on_streamed_and_a_second_continue_is_a_conflict(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    run = await pause(app, fake_openai)
    fake_openai.script(Reply.say("It is 5."))

    response = await go_on(app, run, confirmed(run, True), stream=True)

    frames = parse_frames(response.text)
    assert frames[0].event == "TeamRunContinued" and frames[-1].event == "TeamRunCompleted"
    assert frames[-1].data["content"] == "It is 5."
    again = await go_on(app, run, confirmed(run, True))
    assert again.status_code == 409 and "is COMPLETED" in again.json()["detail"]


async def test_an_agent_route_does_not_continue_a_team_run(app: Served, fake_openai: FakeOpenAIServer) -> None:
    run = await pause(app, fake_openai)

    data = {"tools": json.dumps(run["tools"]), "session_id": "s1", "stream": "false"}
    response = await app.client.post(f"/agents/assistant/runs/{run['run_id']}/continue", data=data)

    assert (response.status_code, response.json()["detail"]) == (404, "Run not found")


async def test_a_run_waiting_on_a_member_no_longer_in_the_team_is_refused(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    database = InMemoryDatabase(id="main-db")

    async def shared(config: Any, **_: Any) -> InMemoryDatabase:
        return database

    document = crew_document(fake_openai.base_url)
    document["agents"].append({"id": "other", "name": "Other"})
    document["databases"] = [{"id": "main-db", "type": "sqlite"}]
    delegate = FakeToolCall("delegate_task_to_member", '{"member_id": "assistant", "task": "add"}', id="d1")
    async with serve(yaml.safe_dump(document), data_dir=tmp_path, open_database=shared) as before:
        fake_openai.script(Reply.call(delegate), Reply.call(ADD))
        form = {"message": "add", "stream": "false", "session_id": "s1"}
        run = (await before.client.post("/teams/crew/runs", data=form)).json()
    assert run["status"] == "PAUSED" and run["requirements"][0]["member_agent_id"] == "assistant"
    document["teams"][0]["members"] = ["other"]

    async with serve(yaml.safe_dump(document), data_dir=tmp_path, open_database=shared) as after:
        response = await go_on(after, run, confirmed(run, True))

    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"run '{run['run_id']}' waits on a run of member 'assistant', which is no longer a member of team 'crew': "
        "it cannot go on; put 'assistant' back among the members of team 'crew' to continue it, or start a new run"
    )
    assert len(fake_openai.requests) == 2


async def test_a_run_whose_paused_member_run_is_gone_from_storage_is_refused_and_nothing_runs(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    document = crew_document(fake_openai.base_url)
    delegate = FakeToolCall("delegate_task_to_member", '{"member_id": "assistant", "task": "add"}', id="d1")
    async with serve_on(backend, yaml.safe_dump(document), tmp_path) as app:
        fake_openai.script(Reply.call(delegate), Reply.call(ADD))
        form = {"message": "add", "stream": "false", "session_id": "s1"}
        run = (await app.client.post("/teams/crew/runs", data=form)).json()
        sessions = app.database().sessions
        row = await sessions.get_session("s1")
        assert row is not None and row.runs is not None
        [stored] = row.runs
        stored["member_responses"] = []
        await sessions.upsert_session(row)

        answers = [await go_on(app, run, []), await go_on(app, run, confirmed(run, True))]

        assert [a.status_code for a in answers] == [409, 409]
        assert answers[0].json()["detail"] == (
            f"run '{run['run_id']}' is stored PAUSED but holds no call waiting for a confirmation: it cannot go on"
        )
        assert len(fake_openai.requests) == 2
        after = (await app.client.get(f"/teams/crew/runs/{run['run_id']}", params={"session_id": "s1"})).json()
        assert after["status"] == "PAUSED"


HOSTILE = [
    '[{"tool_execution": {"tool_call_id": "\\ud800", "confirmed": true}}]',
    '[{"tool_execution": {"tool_call_id": "call_add\\u0000", "confirmed": true}}]',
    '[{"member_run_id": "\\ud800\\u0000", "tool_execution": {"tool_call_id": "call_add"}}]',
    "[" * 100_000 + "]" * 100_000,
    '[{"tool_execution": {"tool_call_id": "call_add", "confirmed": ' + "9" * 5000 + "}}]",
    '[{"tool_execution": {"tool_call_id": "call_add", "confirmed": true, "confirmation_note": "'
    + "x" * 2_000_000
    + '"}}]',
]


@pytest.mark.parametrize("body", HOSTILE, ids=["surrogate", "nul", "member-id", "deep", "huge-number", "huge-body"])
async def test_hostile_requirements_get_a_4xx_and_the_run_stays_paused(
    app: Served, fake_openai: FakeOpenAIServer, body: str
) -> None:
    run = await pause(app, fake_openai)

    response = await go_on(app, run, body)

    assert 400 <= response.status_code < 500 and isinstance(response.json()["detail"], str)
    assert len(fake_openai.requests) == 1
    stored = (await app.client.get(f"/teams/crew/runs/{run['run_id']}", params={"session_id": "s1"})).json()
    assert stored["status"] == "PAUSED"
