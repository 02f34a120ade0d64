"""Cancelling (or resuming) a run under JWT user isolation, on every storage backend: only the run's owner may.

Alice starts a slow streamed run of an agent, a team or a workflow; while it streams, Bob (same
scopes) cannot cancel it, with or without naming its session, and neither can Alice through the
wrong session or another component's route; Alice, naming her session, can. Finished runs are
judged by the caller's stored session. Answers are Agno's: 400 without ``session_id``, 404
``Run not found`` for anything that is not the caller's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from agentos_runtime.api.authz import Caller
from agentos_runtime.api.run_ownership import owner_permits
from agentos_runtime.runs.registry import RunOwner

from tests.runtime.api.harness import Frame, Served, read_frames
from tests.runtime.auth.apps import auth_config, jwt_app
from tests.runtime.auth.tokens import bearer, mint
from tests.support.fake_openai import FakeOpenAIServer, Reply

RUN_SCOPES = ["agents:read", "agents:run", "teams:read", "teams:run", "workflows:read", "workflows:run"]
ALICE = bearer(mint(sub="alice", scopes=RUN_SCOPES))
BOB = bearer(mint(sub="bob", scopes=RUN_SCOPES))
ADMIN = bearer(mint(sub="root", scopes=["agent_os:admin"]))
NOT_FOUND = {"detail": "Run not found"}
# (runs path of the component, runs path of another component of the same kind)
COMPONENTS = [
    ("/agents/assistant", "/agents/second"),
    ("/teams/team-a", "/teams/team-b"),
    ("/workflows/flow-a", "/workflows/flow-b"),
]


@pytest.fixture
async def app(backend: str, tmp_path: Path, fake_openai: FakeOpenAIServer) -> AsyncIterator[Served]:
    config = auth_config(fake_openai.base_url, user_isolation=True)
    async with jwt_app(tmp_path, config, backend=backend, over_sockets=True) as served:
        yield served


async def cancel(
    app: Served, component: str, run_id: str, headers: dict[str, str], session_id: str | None = None
) -> httpx.Response:
    params = {"session_id": session_id} if session_id is not None else {}
    return await app.client.post(f"{component}/runs/{run_id}/cancel", params=params, headers=headers)


@pytest.mark.parametrize(("component", "other"), COMPONENTS)
async def test_only_the_owner_can_cancel_a_run_in_flight_naming_its_session(
    app: Served, fake_openai: FakeOpenAIServer, component: str, other: str
) -> None:
    fake_openai.script(Reply.say("one two three four five six", chunks=6, delay=0.3))
    frames: list[Frame] = []
    answers: list[httpx.Response] = []
    form = {"message": "Count slowly", "session_id": "alice-s"}
    async with app.client.stream("POST", f"{component}/runs", data=form, headers=ALICE) as response:
        assert response.status_code == 200
        async for frame in read_frames(response):
            frames.append(frame)
            if frame.event in {"RunContent", "TeamRunContent"} and not answers:
                run_id = frames[0].data["run_id"]
                answers += [
                    await cancel(app, component, run_id, BOB, "alice-s"),
                    await cancel(app, component, run_id, BOB),
                    await cancel(app, component, run_id, ALICE, "bob-s"),
                    await cancel(app, other, run_id, ALICE, "alice-s"),
                    await cancel(app, other, run_id, ADMIN),
                    await cancel(app, component, run_id, ALICE, "alice-s"),
                ]

    assert [(a.status_code, a.json()) for a in answers] == [
        (404, NOT_FOUND),
        (400, {"detail": "session_id is required for this action"}),
        (404, NOT_FOUND),
        (404, NOT_FOUND),
        (404, NOT_FOUND),
        (200, {}),
    ]
    assert frames[-1].event in {"RunCancelled", "TeamRunCancelled", "WorkflowCancelled"}, frames[-1]


@pytest.mark.parametrize(("component", "other"), COMPONENTS[:2])
async def test_a_finished_run_is_judged_by_the_callers_stored_session(
    app: Served, fake_openai: FakeOpenAIServer, component: str, other: str
) -> None:
    fake_openai.script(Reply.say("done"))
    form = {"message": "hi", "session_id": "alice-s", "stream": "false"}
    finished = await app.client.post(f"{component}/runs", data=form, headers=ALICE)
    assert finished.status_code == 200 and finished.json()["status"] == "COMPLETED"
    run_id = finished.json()["run_id"]

    assert (await cancel(app, component, run_id, BOB, "alice-s")).status_code == 404
    assert (await cancel(app, other, run_id, ALICE, "alice-s")).status_code == 404
    assert (await cancel(app, component, "never-started", ALICE, "alice-s")).json() == NOT_FOUND
    assert (await cancel(app, other, run_id, ADMIN, "alice-s")).status_code == 404
    assert (await cancel(app, component, "never-started", ADMIN)).status_code == 200
    owner = await cancel(app, component, run_id, ALICE, "alice-s")
    assert (owner.status_code, owner.json()) == (200, {})


async def test_without_user_isolation_any_jwt_caller_is_still_held_to_the_paths_component(
    backend: str, tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    async with jwt_app(tmp_path, auth_config(fake_openai.base_url), backend=backend) as app:
        fake_openai.script(Reply.say("done"))
        form = {"message": "hi", "session_id": "s-1", "stream": "false"}
        run_id = (await app.client.post("/agents/assistant/runs", data=form, headers=ALICE)).json()["run_id"]

        assert (await cancel(app, "/agents/second", run_id, BOB, "s-1")).json() == NOT_FOUND
        assert (await cancel(app, "/agents/assistant", run_id, BOB, "s-1")).status_code == 200
        assert (await cancel(app, "/agents/assistant", "not-yet", BOB)).status_code == 200


def test_a_run_in_flight_without_a_known_owner_is_refused_only_to_isolated_callers() -> None:
    isolated = Caller(user_id="alice", admin=False, isolated=True)
    unisolated = Caller(user_id="alice", admin=False)
    assert not owner_permits(None, kind="agent", component_id="a", caller=isolated, session_id="s")
    assert owner_permits(None, kind="agent", component_id="a", caller=unisolated, session_id=None)
    alices = RunOwner("agent", "a", "s", "alice")
    assert owner_permits(alices, kind="agent", component_id="a", caller=isolated, session_id="s")
    assert not owner_permits(alices, kind="team", component_id="a", caller=isolated, session_id="s")
    assert not owner_permits(
        RunOwner("agent", "a", "s", None), kind="agent", component_id="a", caller=isolated, session_id="s"
    )


async def resume(
    app: Served, component: str, run_id: str, headers: dict[str, str], session_id: str | None = None
) -> httpx.Response:
    form = {"last_event_index": "-1"} | ({"session_id": session_id} if session_id is not None else {})
    return await app.client.post(f"{component}/runs/{run_id}/resume", data=form, headers=headers)


async def test_only_the_owner_can_resume_a_background_run_and_only_with_the_run_scope(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.stall(30))
    form = {"message": "hi", "session_id": "alice-s", "stream": "false", "background": "true"}
    started = await app.client.post("/agents/assistant/runs", data=form, headers=ALICE)
    assert started.status_code == 202
    run_id = started.json()["run_id"]
    reader = bearer(mint(sub="alice", scopes=["agents:read"]))

    refused = [
        await resume(app, "/agents/assistant", run_id, BOB, "alice-s"),
        await resume(app, "/agents/assistant", run_id, BOB),
        await resume(app, "/agents/second", run_id, ALICE, "alice-s"),
        await resume(app, "/agents/assistant", run_id, reader, "alice-s"),
    ]
    owner = await resume(app, "/agents/assistant", run_id, ALICE, "alice-s")

    assert [(a.status_code, a.json()["detail"]) for a in refused[:3]] == [
        (404, "Run not found"),
        (400, "session_id is required for this action"),
        (404, "Run not found"),
    ]
    assert refused[3].status_code == 403
    assert owner.status_code == 200 and owner.headers["content-type"].startswith("text/event-stream")
    assert "event: replay" in owner.text and '"status": "RUNNING"' in owner.text
    fake_openai.app.close_waits()
    assert await app.context.runs.settle_background_runs(timeout=10.0)


async def test_a_resume_naming_a_session_no_backend_can_look_up_is_422_before_the_owner_is_checked(app: Served) -> None:
    refused = await resume(app, "/agents/assistant", "r", ALICE, "alice\x00s")
    assert refused.status_code == 422
    assert [(e["loc"], e["type"]) for e in refused.json()["detail"]] == [(["body", "session_id"], "string_nul")]
