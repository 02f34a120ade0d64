"""Continuing a paused run under JWT user isolation, on every storage backend: only the run's
owner, naming its session, with the run scope, through the route of the run's own agent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.runtime.api.harness import Served
from tests.runtime.auth.apps import auth_config, jwt_app
from tests.runtime.auth.tokens import bearer, mint
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

RUN_SCOPES = ["agents:read", "agents:run", "teams:read", "teams:run"]
ALICE = bearer(mint(sub="alice", scopes=RUN_SCOPES))
BOB = bearer(mint(sub="bob", scopes=RUN_SCOPES))
READER = bearer(mint(sub="alice", scopes=["agents:read"]))


@pytest.fixture
async def app(backend: str, tmp_path: Path, fake_openai: FakeOpenAIServer) -> AsyncIterator[Served]:
    document = yaml.safe_load(auth_config(fake_openai.base_url, user_isolation=True))
    document["agents"][0] |= {"tools": ["calculator"], "tool_config": {"calculator": {"requires_confirmation": True}}}
    async with jwt_app(tmp_path, yaml.safe_dump(document), backend=backend) as served:
        yield served


async def go_on(
    app: Served, path: str, run_id: str, headers: dict[str, str], tools: str, **form: str
) -> httpx.Response:
    data = {"tools": tools, "stream": "false", **form}
    return await app.client.post(f"{path}/runs/{run_id}/continue", data=data, headers=headers)


async def test_only_the_owner_with_the_run_scope_continues_a_paused_run(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(FakeToolCall("calculator", '{"expression": "1 + 1"}', id="c1")))
    form = {"message": "add", "session_id": "alice-s", "stream": "false"}
    paused = (await app.client.post("/agents/assistant/runs", data=form, headers=ALICE)).json()
    assert paused["status"] == "PAUSED" and paused["user_id"] == "alice"
    run_id = paused["run_id"]
    tools = json.dumps([{**paused["tools"][0], "confirmed": True}])

    refused = [
        await go_on(app, "/agents/assistant", run_id, BOB, tools, session_id="alice-s"),
        await go_on(app, "/agents/assistant", run_id, BOB, tools),
        await go_on(app, "/agents/second", run_id, ALICE, tools, session_id="alice-s"),
        await go_on(app, "/agents/assistant", run_id, READER, tools, session_id="alice-s"),
        await go_on(app, "/teams/team-a", run_id, ALICE, tools, session_id="alice-s"),
    ]
    assert [(r.status_code, r.json()["detail"][:40]) for r in refused] == [
        (404, "Run not found"),
        (400, "session_id is required for this action"),
        (404, "Run not found"),
        (403, refused[3].json()["detail"][:40]),
        (404, "Run not found"),
    ]
    assert len(fake_openai.requests) == 1

    fake_openai.script(Reply.say("2"))
    owner = await go_on(app, "/agents/assistant", run_id, ALICE, tools, session_id="alice-s", user_id="bob")
    assert owner.status_code == 200
    assert owner.json()["status"] == "COMPLETED" and owner.json()["user_id"] == "alice"
