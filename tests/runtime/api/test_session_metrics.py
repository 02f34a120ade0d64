"""A session's metrics and total tokens, as Agno's session views show them, on every backend.

Every answer of the fake model reports 10 input and 5 output tokens, so a session's tokens are
15 for each model call its runs made, whichever component made it: the leader or a member of a
team, a step of a workflow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.api.harness import Served, serve_on
from tests.runtime.teams.configs import delegate
from tests.runtime.workflows.configs import workflow_config
from tests.support.fake_openai import FakeOpenAIServer, Reply


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, workflow_config(fake_openai.base_url), tmp_path) as running:
        yield running


def tokens_of(calls: int) -> dict[str, int]:
    return {"input_tokens": 10 * calls, "output_tokens": 5 * calls, "total_tokens": 15 * calls}


def metrics_of(**calls_per_model: int) -> dict[str, Any]:
    """A session's metrics after ``calls`` model calls per model (``leader_model=2``), with Agno's
    per-model ``details``."""
    details = [
        {"id": model.replace("_", "-"), "provider": "OpenAI Chat", **tokens_of(calls)}
        for model, calls in calls_per_model.items()
    ]
    return {**tokens_of(sum(calls_per_model.values())), "details": {"model": details}}


def in_model_order(metrics: dict[str, Any]) -> dict[str, Any]:
    details = sorted(metrics["details"]["model"], key=lambda entry: entry["id"])
    return {**metrics, "details": {"model": details}}


async def ran(app: Served, path: str, session_id: str) -> None:
    answer = await app.client.post(path, data={"message": "hi", "stream": "false", "session_id": session_id})
    assert answer.status_code == 200 and answer.json()["status"] == "COMPLETED", answer.text


async def shown(app: Served, session_id: str, session_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The session as ``GET /sessions/{id}`` shows it, and as its entry in ``GET /sessions``."""
    detail = (await app.client.get(f"/sessions/{session_id}", params={"type": session_type})).json()
    listed = (await app.client.get("/sessions", params={"type": session_type})).json()["data"]
    [entry] = [item for item in listed if item["session_id"] == session_id]
    return detail, entry


async def test_an_agent_sessions_tokens_are_the_sum_of_its_runs(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("one"), Reply.say("two"))
    for _ in range(2):
        await ran(app, "/agents/writer/runs", "s-agent")

    detail, entry = await shown(app, "s-agent", "agent")

    assert len(fake_openai.requests) == 2
    assert detail["metrics"] == entry["metrics"] == metrics_of(member_model=2)
    assert detail["total_tokens"] == entry["total_tokens"] == 30


async def test_a_team_sessions_tokens_count_its_members_calls_too(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.call(delegate("writer", "Draft it.")), Reply.say("drafted"), Reply.say("Done."))
    await ran(app, "/teams/crew/runs", "s-team")

    detail, entry = await shown(app, "s-team", "team")

    assert len(fake_openai.requests) == 3, "the leader twice, the member once"
    assert detail["metrics"] == entry["metrics"]
    assert in_model_order(detail["metrics"]) == metrics_of(leader_model=2, member_model=1)
    assert detail["total_tokens"] == 45


async def test_a_workflow_sessions_tokens_are_its_steps(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("drafted"), Reply.say("edited"))
    await ran(app, "/workflows/pipeline/runs", "s-flow")

    _, entry = await shown(app, "s-flow", "workflow")

    assert len(fake_openai.requests) == 2, "one call a step"
    assert entry["metrics"] == metrics_of(member_model=2) and entry["total_tokens"] == 30


async def test_a_session_without_runs_shows_no_tokens(app: Served) -> None:
    assert (
        await app.client.post("/sessions", params={"type": "agent"}, json={"session_id": "empty"})
    ).status_code == 201

    detail, entry = await shown(app, "empty", "agent")

    assert detail["metrics"] == entry["metrics"] == {}
    assert detail["total_tokens"] is entry["total_tokens"] is None
