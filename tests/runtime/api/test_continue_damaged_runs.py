"""A paused run changed in the database (a list field no longer a list, a map no longer a map)
is taken up with what can be read of it, over HTTP on SQLite: the continue ends COMPLETED, its
stream with one terminal event, and the run id is free again; and a save whose run holds such
a field is reported as the save it was, whatever the metrics make of it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.runtime.api.harness import Served, agent_config, broadcast_document, serve_on, stream_frames
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

JSON = dict[str, Any]
ADD = FakeToolCall("calculator", '{"expression": "2 + 3"}', id="call_add")
CONFIRMING = {"calculator": {"requires_confirmation": True}}
DAMAGES: dict[str, Any] = {
    "messages": 5,
    "events": {"event": "RunStarted"},
    "references": "none",
    "metrics": "fast",
    "input": 7,
}


@pytest.fixture
async def app(fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    """Agent assistant (its calculator waits for a confirmation) and team crew, which
    broadcasts to assistant and checker."""
    document = broadcast_document(fake_openai.base_url)
    document["teams"] = [{"id": "crew", "model": "fake", "members": ["assistant", "checker"], "mode": "broadcast"}]
    async with serve_on("sqlite", yaml.safe_dump(document), tmp_path) as running:
        yield running


async def damage(app: Served, run_id: str, **fields: Any) -> None:
    """Change the stored run ``run_id`` of session s1 as someone with database access might."""
    sessions = app.database().sessions
    row = await sessions.get_session("s1")
    assert row is not None and row.runs is not None
    [stored] = [run for run in row.runs if run["run_id"] == run_id]
    stored.update(fields)
    await sessions.upsert_session(row)


def confirmed_tools(paused: JSON) -> str:
    return json.dumps([{**tool, "confirmed": True} for tool in paused["tools"]])


@pytest.mark.parametrize("field", list(DAMAGES))
async def test_an_agent_run_damaged_in_the_database_goes_on_and_its_run_id_is_freed(
    app: Served, fake_openai: FakeOpenAIServer, field: str
) -> None:
    fake_openai.script(Reply.call(ADD))
    form = {"message": "add 2 and 3", "stream": "false", "session_id": "s1"}
    paused: JSON = (await app.client.post("/agents/assistant/runs", data=form)).json()
    assert paused["status"] == "PAUSED"
    await damage(app, paused["run_id"], **{field: DAMAGES[field]})
    fake_openai.script(Reply.say("It is 5."))

    path = f"/agents/assistant/runs/{paused['run_id']}/continue"
    frames = await stream_frames(app, path, {"tools": confirmed_tools(paused), "session_id": "s1", "stream": "true"})

    assert [frame.event for frame in frames if frame.event in ("RunCompleted", "RunError")] == ["RunCompleted"]
    again = await app.client.post(path, data={"tools": confirmed_tools(paused), "session_id": "s1", "stream": "false"})
    assert again.status_code == 409
    assert again.json()["detail"] == f"run '{paused['run_id']}' is COMPLETED: only a PAUSED run can be continued"


@pytest.mark.parametrize("field", ["messages", "metrics"])
async def test_a_team_run_damaged_in_the_database_goes_on(
    app: Served, fake_openai: FakeOpenAIServer, field: str
) -> None:
    fake_openai.script(Reply.call(ADD), Reply.call(ADD))
    form = {"message": "add 2 and 3", "stream": "false", "session_id": "s1"}
    paused: JSON = (await app.client.post("/teams/crew/runs", data=form)).json()
    assert paused["status"] == "PAUSED"
    await damage(app, paused["run_id"], **{field: DAMAGES[field]})
    fake_openai.script(Reply.say("5"), Reply.say("five"), Reply.say("Both say 5."))
    requirements = [
        {**r, "confirmation": True, "tool_execution": {**r["tool_execution"], "confirmed": True}}
        for r in paused["requirements"]
    ]

    done = await app.client.post(
        f"/teams/crew/runs/{paused['run_id']}/continue",
        data={"requirements": json.dumps(requirements), "session_id": "s1", "stream": "false"},
    )

    assert (done.status_code, done.json()["status"]) == (200, "COMPLETED")


async def test_a_saved_run_holding_fields_the_metrics_cannot_read_is_reported_saved(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    async with serve_on("sqlite", agent_config(fake_openai.base_url), tmp_path) as app:
        fake_openai.script(Reply.say("hi"))
        form = {"message": "hi", "stream": "false", "session_id": "s1"}
        assert (await app.client.post("/agents/assistant/runs", data=form)).json()["status"] == "COMPLETED"
        sessions = app.context.agents["assistant"].sessions  # as runs save: counted in the metrics
        row = await sessions.get_session("s1")
        assert row is not None and row.runs
        damaged = {
            **row.runs[0],
            "run_id": "other",
            "metrics": {"duration": float("nan")},
            "messages": [{"role": "assistant", "metrics": {"duration": "slow", "input_tokens": 1e400}}],
            "member_responses": [{"messages": 5}, 7, {"step_executor_runs": {"a": 1}}],
            "events": "RunError",
        }

        await sessions.save_run(row, damaged, session_state=None)  # raised TypeError, the run stored

        again = await sessions.get_session("s1")
        assert again is not None and [run["run_id"] for run in again.runs or []] == [row.runs[0]["run_id"], "other"]
        metrics = (await app.client.get("/metrics")).text
        assert "nan" not in metrics.lower()
