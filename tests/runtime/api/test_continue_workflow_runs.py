"""A workflow run whose step's agent waits for a person, over HTTP: ``POST
/workflows/{id}/runs/{run_id}/continue`` refuses step requirements that do not decide the paused
step, and a step that is no longer the workflow's, before any model call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import yaml
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.api.harness import Served, agent_config, serve, serve_on
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

JSON = dict[str, Any]
ADD = FakeToolCall("calculator", '{"expression": "2 + 3"}', id="call_add")


def document(base_url: str) -> JSON:
    config: JSON = yaml.safe_load(agent_config(base_url))
    config["agents"][0]["tool_config"] = {"calculator": {"requires_confirmation": True}}
    config["agents"].append({"id": "teller", "name": "Teller"})
    config["workflows"] = [
        {"id": "flow", "steps": [{"name": "add", "agent": "assistant"}, {"name": "tell", "agent": "teller"}]}
    ]
    return config


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, yaml.safe_dump(document(fake_openai.base_url)), tmp_path) as running:
        yield running


async def pause(app: Served, fake_openai: FakeOpenAIServer) -> JSON:
    fake_openai.script(Reply.call(ADD))
    form = {"message": "add 2 and 3", "stream": "false", "session_id": "s1"}
    output: JSON = (await app.client.post("/workflows/flow/runs", data=form)).json()
    assert output["status"] == "PAUSED"
    return output


async def go_on(app: Served, run: JSON, steps: list[JSON] | str) -> Any:
    data = {"step_requirements": steps if isinstance(steps, str) else json.dumps(steps), "session_id": "s1"}
    return await app.client.post(f"/workflows/flow/runs/{run['run_id']}/continue", data={**data, "stream": "false"})


def decided(run: JSON, confirmed: bool) -> list[JSON]:
    [step] = run["step_requirements"]
    executor = [
        {**r, "confirmation": confirmed, "tool_execution": {**r["tool_execution"], "confirmed": confirmed}}
        for r in step["executor_requirements"]
    ]
    return [{**step, "executor_requirements": executor}]


async def test_step_requirements_that_do_not_decide_the_paused_step_are_refused(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    run = await pause(app, fake_openai)
    [step] = run["step_requirements"]

    answers = [
        await go_on(app, run, "[1"),
        await go_on(app, run, []),
        await go_on(app, run, [{**step, "step_id": "other"}]),
        await go_on(app, run, [step]),
        await go_on(app, run, [{**step, "executor_requirements": "yes"}]),
        await go_on(app, run, decided(run, True) * 2),
    ]

    details = [(a.status_code, a.json()["detail"]) for a in answers]
    assert [status for status, _ in details] == [400] * 6
    assert "waits for decisions: send its step requirement back" in details[1][1]
    assert "names step_id 'other', which is not the step the run waits on" in details[2][1]
    assert "executor_requirements: tool call call_add needs confirmed true or false" in details[3][1]
    assert "executor_requirements: expected a JSON list" in details[4][1]
    assert "is decided twice" in details[5][1]
    assert len(fake_openai.requests) == 1
    stored = (await app.client.get(f"/workflows/flow/runs/{run['run_id']}", params={"session_id": "s1"})).json()
    assert stored["status"] == "PAUSED"


async def test_a_confirmed_workflow_run_completes_and_a_second_continue_is_a_conflict(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    run = await pause(app, fake_openai)
    fake_openai.script(Reply.say("5"), Reply.say("Five."))

    done = await go_on(app, run, decided(run, True))

    assert done.status_code == 200 and done.json()["content"] == "Five."
    again = await go_on(app, run, decided(run, True))
    assert again.status_code == 409 and "is COMPLETED" in again.json()["detail"]


def redeployed(config: dict[str, Any], tmp_path: Path) -> Callable[[], AbstractAsyncContextManager[Served]]:
    """Serves ``config`` as it is at each call, always on the same in-memory database: a redeploy
    of a changed config over the same stored runs."""
    database = InMemoryDatabase(id="main-db")

    async def shared(_config: Any, **_: Any) -> InMemoryDatabase:
        return database

    config["databases"] = [{"id": "main-db", "type": "sqlite"}]
    return lambda: serve(yaml.safe_dump(config), data_dir=tmp_path, open_database=shared)


async def test_a_run_paused_on_a_step_the_workflow_no_longer_has_is_refused(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    config = document(fake_openai.base_url)
    serving = redeployed(config, tmp_path)
    async with serving() as before:
        run = await pause(before, fake_openai)
    config["workflows"][0]["steps"][0]["agent"] = "teller"

    async with serving() as after:
        response = await go_on(after, run, decided(run, True))

    assert response.status_code == 409
    assert "waits on step 'add', which is no longer a step of workflow 'flow'" in response.json()["detail"]
    assert len(fake_openai.requests) == 1


async def test_a_run_paused_in_a_step_teams_member_that_left_the_team_is_refused_naming_what_to_do(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    config = document(fake_openai.base_url)
    serving = redeployed(config, tmp_path)
    config["teams"] = [{"id": "crew", "model": "fake", "members": ["assistant"]}]
    config["workflows"][0]["steps"][0] = {"name": "add", "team": "crew"}
    delegate = FakeToolCall("delegate_task_to_member", '{"member_id": "assistant", "task": "add"}', id="d1")
    async with serving() as before:
        fake_openai.script(Reply.call(delegate), Reply.call(ADD))
        form = {"message": "add 2 and 3", "stream": "false", "session_id": "s1"}
        run = (await before.client.post("/workflows/flow/runs", data=form)).json()
    assert run["status"] == "PAUSED"
    config["teams"][0]["members"] = ["teller"]

    async with serving() as after:
        response = await go_on(after, run, decided(run, True))

    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"run '{run['run_id']}' waits on a run of member 'assistant', which is no longer a member of team 'crew' of "
        "step 'add': it cannot go on; put 'assistant' back among the members of team 'crew' to continue it, or start "
        "a new run"
    )
    assert len(fake_openai.requests) == 2


async def test_a_run_whose_step_agent_run_is_gone_from_storage_is_refused_and_nothing_runs(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    run = await pause(app, fake_openai)
    sessions = app.database().sessions
    row = await sessions.get_session("s1")
    assert row is not None and row.runs is not None
    [stored] = row.runs
    stored["step_executor_runs"] = []
    await sessions.upsert_session(row)

    response = await go_on(app, run, decided(run, True))

    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"run '{run['run_id']}' is stored PAUSED without the step requirement it waits on or its executor's run: "
        "it cannot go on"
    )
    assert len(fake_openai.requests) == 1


HOSTILE = [
    '[{"step_id": "\\ud800", "executor_requirements": []}]',
    '[{"step_id": "s\\u0000", "executor_requirements": []}]',
    "[" * 100_000 + "]" * 100_000,
    '[{"step_id": 1' + "0" * 5000 + ', "executor_requirements": []}]',
    '[{"step_id": "' + "x" * 2_000_000 + '"}]',
]


@pytest.mark.parametrize("body", HOSTILE, ids=["surrogate", "nul", "deep", "huge-number", "huge-body"])
async def test_hostile_step_requirements_get_a_4xx_and_the_run_stays_paused(
    app: Served, fake_openai: FakeOpenAIServer, body: str
) -> None:
    run = await pause(app, fake_openai)

    response = await go_on(app, run, body)

    assert 400 <= response.status_code < 500 and isinstance(response.json()["detail"], str)
    assert len(fake_openai.requests) == 1
    stored = (await app.client.get(f"/workflows/flow/runs/{run['run_id']}", params={"session_id": "s1"})).json()
    assert stored["status"] == "PAUSED"


async def test_a_step_teams_member_requirement_without_its_member_run_id_is_the_members_whose_call_the_delegation_shares_an_id_with(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    """A server numbering calls per answer gives the step team's delegation the id of its member's
    waiting call: an executor requirement sent without its member_run_id decides the member's call."""
    config = document(fake_openai.base_url)
    config["teams"] = [{"id": "crew", "model": "fake", "members": ["assistant"]}]
    config["workflows"][0]["steps"][0] = {"name": "add", "team": "crew"}
    delegate = FakeToolCall("delegate_task_to_member", '{"member_id": "assistant", "task": "add"}', id=ADD.id)
    async with serve_on(backend, yaml.safe_dump(config), tmp_path) as app:
        fake_openai.script(Reply.call(delegate), Reply.call(ADD))
        form = {"message": "add 2 and 3", "stream": "false", "session_id": "s1"}
        run = (await app.client.post("/workflows/flow/runs", data=form)).json()
        assert run["status"] == "PAUSED"
        [step] = decided(run, True)
        unnamed = [{**r, "member_run_id": None} for r in step["executor_requirements"]]
        fake_openai.script(Reply.say("5"), Reply.say("Crew five"), Reply.say("Five."))

        done = await go_on(app, run, [{**step, "executor_requirements": unnamed}])

        assert done.status_code == 200, done.text
        assert done.json()["content"] == "Five."
        assert [m["content"] for m in fake_openai.bodies[-3]["messages"] if m["role"] == "tool"] == ["5"]


@pytest.fixture
async def app_with_placeholders(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    config = document(fake_openai.base_url)
    config["agents"][1]["instructions"] = ["Answer in {city} style for {customer}."]
    async with serve_on(backend, yaml.safe_dump(config), tmp_path) as running:
        yield running


async def test_the_steps_after_a_pause_get_the_dependencies_the_continue_sends_and_the_stored_metadata(
    app_with_placeholders: Served, fake_openai: FakeOpenAIServer
) -> None:
    app = app_with_placeholders
    fake_openai.script(Reply.call(ADD))
    form = {
        "message": "add 2 and 3",
        "stream": "false",
        "session_id": "s1",
        "dependencies": json.dumps({"city": "Lyon"}),
        "metadata": json.dumps({"customer": "ACME"}),
    }
    run = (await app.client.post("/workflows/flow/runs", data=form)).json()
    assert run["status"] == "PAUSED"
    fake_openai.script(Reply.say("5"), Reply.say("Five."))

    bad = await app.client.post(
        f"/workflows/flow/runs/{run['run_id']}/continue",
        data={"step_requirements": json.dumps(decided(run, True)), "session_id": "s1", "dependencies": "[1"},
    )
    answer = await app.client.post(
        f"/workflows/flow/runs/{run['run_id']}/continue",
        data={
            "step_requirements": json.dumps(decided(run, True)),
            "session_id": "s1",
            "stream": "false",
            "dependencies": json.dumps({"city": "Paris"}),
        },
    )

    assert bad.status_code == 400 and bad.json()["detail"].startswith("Invalid dependencies parameter: not valid JSON")
    assert answer.status_code == 200 and answer.json()["status"] == "COMPLETED", answer.text
    teller = fake_openai.bodies[-1]["messages"]
    assert teller[0] == {"role": "system", "content": "Answer in Paris style for ACME."}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dependencies", '{"city": "\\ud800"}'),
        ("metadata", '{"a": "x\\u0000y"}'),
        ("knowledge_filters", "[" * 5000 + "]" * 5000),
        ("dependencies", '{"n": ' + "9" * 5000 + "}"),
        ("add_dependencies_to_context", "maybe"),
        ("metadata", '"a string"'),
    ],
    ids=["lone-surrogate", "nul-byte", "deep-nesting", "huge-number", "not-a-flag", "not-an-object"],
)
async def test_hostile_run_options_on_a_continue_are_a_400_before_any_model_call(
    app: Served, fake_openai: FakeOpenAIServer, field: str, value: str
) -> None:
    run = await pause(app, fake_openai)
    data = {"step_requirements": json.dumps(decided(run, True)), "session_id": "s1", "stream": "false", field: value}

    answer = await app.client.post(f"/workflows/flow/runs/{run['run_id']}/continue", data=data)

    assert answer.status_code == 400, answer.text
    assert field in answer.json()["detail"]
    assert len(fake_openai.requests) == 1, "only the model call that paused the run"
