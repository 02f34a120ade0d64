"""A run continues only a session of its own component: another's is refused with 409 (or an
error event when streamed) before any model is called, and the session is left as it was, on
every storage backend. Runs once went into the other session, read its state, and could not be
read back through their own routes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.runtime.api.harness import Served, read_frames, serve_on
from tests.runtime.auth.apps import auth_config
from tests.support.fake_openai import FakeOpenAIServer, Reply

OWNERS = {
    "agents/assistant": "agent 'assistant'",
    "teams/team-a": "team 'team-a'",
    "workflows/flow-a": "workflow 'flow-a'",
}
INTRUDERS = [
    ("agents/assistant", "teams/team-a"),
    ("agents/assistant", "workflows/flow-a"),
    ("teams/team-a", "agents/assistant"),
    ("teams/team-a", "teams/team-b"),
    ("workflows/flow-a", "agents/assistant"),
    ("workflows/flow-a", "workflows/flow-b"),
    ("agents/assistant", "agents/second"),
]


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, auth_config(fake_openai.base_url), tmp_path) as served:
        yield served


async def owned_session(app: Served, fake_openai: FakeOpenAIServer, owner: str) -> int:
    """Make session ``s1`` with one run of ``owner`` holding some state; the model requests it took."""
    fake_openai.script(*(Reply.say("mine") for _ in range(3)))
    form = {"message": "hi", "stream": "false", "session_id": "s1", "session_state": json.dumps({"secret": "owner's"})}
    made = await app.client.post(f"/{owner}/runs", data=form)
    assert made.status_code == 200 and made.json()["status"] == "COMPLETED", made.text
    return len(fake_openai.bodies)


async def stored_runs(app: Served) -> list[str]:
    row = await app.database().sessions.get_session("s1")
    assert row is not None
    return [run["run_id"] for run in row.runs or []]


@pytest.mark.parametrize(("owner", "intruder"), INTRUDERS)
async def test_a_run_of_another_component_is_refused_with_409_before_any_model_call(
    app: Served, fake_openai: FakeOpenAIServer, owner: str, intruder: str
) -> None:
    asked = await owned_session(app, fake_openai, owner)
    before = await stored_runs(app)

    refused = await app.client.post(f"/{intruder}/runs", data={"message": "hi", "stream": "false", "session_id": "s1"})

    assert refused.status_code == 409, refused.text
    intruder_name = OWNERS.get(intruder) or f"{intruder.split('/')[0][:-1]} '{intruder.split('/')[1]}'"
    assert refused.json() == {
        "detail": f"session 's1' belongs to {OWNERS[owner]}: a run of {intruder_name} cannot continue it: "
        "send another session_id, or none for a new session"
    }
    assert len(fake_openai.bodies) == asked
    assert await stored_runs(app) == before


async def test_a_streamed_run_of_another_component_ends_with_its_error_event_and_stores_nothing(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    asked = await owned_session(app, fake_openai, "agents/assistant")
    before = await stored_runs(app)

    form = {"message": "hi", "stream": "true", "session_id": "s1"}
    async with app.client.stream("POST", "/teams/team-a/runs", data=form) as response:
        frames = [frame async for frame in read_frames(response)]

    assert response.status_code == 200
    (last,) = frames
    assert last.event == "TeamRunError"
    assert last.data["error_type"] == "session_conflict"
    assert last.data["content"].startswith("session 's1' belongs to agent 'assistant'")
    assert len(fake_openai.bodies) == asked
    assert await stored_runs(app) == before


async def test_the_owner_still_continues_its_session(app: Served, fake_openai: FakeOpenAIServer) -> None:
    await owned_session(app, fake_openai, "teams/team-a")
    fake_openai.script(Reply.say("again"))

    again = await app.client.post("/teams/team-a/runs", data={"message": "hi", "stream": "false", "session_id": "s1"})

    assert again.status_code == 200 and again.json()["session_state"] == {"secret": "owner's"}
    assert len(await stored_runs(app)) == 2
