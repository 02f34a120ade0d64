"""``GET /sessions/{id}/run-previews`` through Agno's ``AgentOSClient``, on every backend.

The previews are compared with what Agno's own code makes of the same stored runs
(``classify_session_run`` then ``SessionRunPreviewSchema.from_run``), so the ids, truncation,
structured-content text and timestamps are Agno's by construction, not by a copied table.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from agentos_runtime.storage.ports import SessionRow, SessionType
from agno.db.base import SessionType as AgnoSessionType
from agno.os.schema import SessionRunPreviewSchema
from agno.os.services.sessions import classify_session_run
from agno.run.agent import RunOutput
from agno.run.base import RunStatus
from agno.run.team import TeamRunInput, TeamRunOutput
from agno.run.workflow import WorkflowRunOutput

from tests.runtime.api.agno_client import client_for
from tests.runtime.api.harness import Served
from tests.runtime.auth.apps import auth_config, jwt_app
from tests.runtime.auth.tokens import bearer, mint
from tests.runtime.conformance.conftest import SECURITY_KEY
from tests.support.fake_openai import FakeOpenAIServer, Reply

AUTH = {"Authorization": f"Bearer {SECURITY_KEY}"}
LONG_QUESTION = "Why? " * 80  # 400 characters
LONG_ANSWER = "Because. " * 50  # 450 characters


async def agnos_previews(runtime: Served, session_id: str) -> list[dict[str, Any]]:
    """What Agno's AgentOS answers for the runs this runtime stored in ``session_id``."""
    row = await runtime.database().sessions.get_session(session_id)
    assert row is not None and row.runs is not None
    session_type = AgnoSessionType(row.session_type)
    raw = {"session_id": row.session_id, "session_data": row.session_data, "runs": row.runs}
    schemas = [classify_session_run(run, session_type, session=raw) for run in row.runs]
    return [
        SessionRunPreviewSchema.from_run(schema).model_dump(mode="json", exclude_none=True)
        for schema in schemas
        if schema is not None
    ]


async def test_previews_of_agent_runs_match_agnos_and_parse_in_its_client(
    runtime: Served, fake_openai: FakeOpenAIServer
) -> None:
    client = client_for(runtime)
    fake_openai.script(Reply.say("Short answer."), Reply.say(LONG_ANSWER))
    first = await client.run_agent("assistant", "Short question", session_id="p-1", user_id="ana", headers=AUTH)
    second = await client.run_agent("assistant", LONG_QUESTION, session_id="p-1", user_id="ana", headers=AUTH)

    previews = await client.aget_session_run_previews("p-1", headers=AUTH)
    assert all(isinstance(p, SessionRunPreviewSchema) for p in previews)
    assert [(p.run_id, p.agent_id, p.user_id, p.status) for p in previews] == [
        (first.run_id, "assistant", "ana", "COMPLETED"),
        (second.run_id, "assistant", "ana", "COMPLETED"),
    ]
    assert previews[0].run_input == "Short question" and previews[0].content_preview == "Short answer."
    assert previews[1].run_input == LONG_QUESTION[:280] and previews[1].content_preview == LONG_ANSWER[:280]

    answered = await runtime.client.get("/sessions/p-1/run-previews", headers=AUTH)
    assert answered.status_code == 200
    assert answered.json() == await agnos_previews(runtime, "p-1")
    assert not {"messages", "events", "metrics", "content"} & set(answered.json()[0])

    synced = await asyncio.to_thread(client.get_session_run_previews, "p-1", headers=AUTH)
    assert [p.run_id for p in synced] == [first.run_id, second.run_id]


async def test_previews_of_team_and_workflow_sessions_match_agnos(runtime: Served) -> None:
    team_run = TeamRunOutput(
        run_id="t-1",
        team_id="crew",
        session_id="team-1",
        user_id="ana",
        content={"plan": ["draft", "review"]},
        status=RunStatus.completed,
        input=TeamRunInput(input_content="x" * 300),
        created_at=1795489505,
    )
    member_run = RunOutput(
        run_id="m-1",
        agent_id="writer",
        parent_run_id="t-1",
        session_id="team-1",
        content="member answer",
        status=RunStatus.completed,
        created_at=1795489506,
    )
    workflow_run = WorkflowRunOutput(
        run_id="w-1",
        workflow_id="pipeline",
        session_id="flow-1",
        content="done",
        input="do it",
        status=RunStatus.error,
        created_at=1795489507,
    )
    store = runtime.database().sessions
    await store.upsert_session(
        stored("team-1", "team", team_id="crew", runs=[team_run.to_dict(), member_run.to_dict()])
    )
    await store.upsert_session(stored("flow-1", "workflow", workflow_id="pipeline", runs=[workflow_run.to_dict()]))

    team = await runtime.client.get("/sessions/team-1/run-previews", headers=AUTH)
    assert team.json() == await agnos_previews(runtime, "team-1")
    assert [(p["run_id"], p.get("team_id"), p.get("agent_id")) for p in team.json()] == [
        ("t-1", "crew", None),
        ("m-1", None, "writer"),
    ]
    assert team.json()[0]["content_preview"] == '{"plan": ["draft", "review"]}'
    assert team.json()[0]["created_at"] == "2026-11-24T03:05:05Z"

    flow = await client_for(runtime).aget_session_run_previews(
        "flow-1", session_type=AgnoSessionType.WORKFLOW, headers=AUTH
    )
    assert [(p.run_id, p.workflow_id, p.status, p.run_input) for p in flow] == [("w-1", "pipeline", "ERROR", "do it")]
    raw = await runtime.client.get("/sessions/flow-1/run-previews", headers=AUTH)
    assert raw.json() == await agnos_previews(runtime, "flow-1")


async def test_previews_take_the_runs_filters(runtime: Served, fake_openai: FakeOpenAIServer) -> None:
    client = client_for(runtime)
    fake_openai.script(Reply.say("One."))
    run = await client.run_agent("assistant", "Only question", session_id="p-2", user_id="bo", headers=AUTH)
    assert run.created_at is not None

    completed = await client.aget_session_run_previews("p-2", status=["completed", "ERROR"], headers=AUTH)
    assert [p.run_id for p in completed] == [run.run_id]
    assert await client.aget_session_run_previews("p-2", status=["ERROR"], headers=AUTH) == []
    assert await client.aget_session_run_previews("p-2", created_after=run.created_at + 1, headers=AUTH) == []
    before = await client.aget_session_run_previews("p-2", created_before=run.created_at, headers=AUTH)
    assert [p.run_id for p in before] == [run.run_id]
    mine = await client.aget_session_run_previews("p-2", user_id="bo", headers=AUTH)
    assert [p.run_id for p in mine] == [run.run_id]


async def test_an_unknown_session_or_status_is_refused_as_agno_does(
    runtime: Served, fake_openai: FakeOpenAIServer
) -> None:
    client = client_for(runtime)
    with pytest.raises(httpx.HTTPStatusError) as missing:
        await client.aget_session_run_previews("no-such-session", headers=AUTH)
    assert missing.value.response.status_code == 404
    assert missing.value.response.json() == {"detail": "Session with ID no-such-session not found"}

    fake_openai.script(Reply.say("Hi."))
    await client.run_agent("assistant", "Hello", session_id="p-3", user_id="cy", headers=AUTH)
    with pytest.raises(httpx.HTTPStatusError) as other_user:
        await client.aget_session_run_previews("p-3", user_id="someone-else", headers=AUTH)
    assert other_user.value.response.status_code == 404

    bad = await runtime.client.get("/sessions/p-3/run-previews", params={"status": "DONE"}, headers=AUTH)
    assert bad.status_code == 400 and "Invalid status value(s) ['DONE']" in bad.json()["detail"]
    unauthorised = await runtime.client.get("/sessions/p-3/run-previews")
    assert unauthorised.status_code == 401


def stored(
    session_id: str,
    session_type: SessionType,
    *,
    runs: list[dict[str, Any]],
    team_id: str | None = None,
    workflow_id: str | None = None,
) -> SessionRow:
    return SessionRow(
        session_id=session_id,
        session_type=session_type,
        created_at=1795489500,
        team_id=team_id,
        workflow_id=workflow_id,
        runs=runs,
    )


async def test_with_user_isolation_only_the_owner_and_an_admin_see_the_previews(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    scopes = ["sessions:read", "agents:run"]
    alice, bob = bearer(mint(sub="alice", scopes=scopes)), bearer(mint(sub="bob", scopes=scopes))
    admin = bearer(mint(sub="root", scopes=["agent_os:admin"]))
    fake_openai.script(Reply.say("Yours."))
    config = auth_config(fake_openai.base_url, user_isolation=True)
    async with jwt_app(tmp_path, config, backend=backend) as app:
        form = {"message": "Mine", "session_id": "alice-1", "user_id": "bob", "stream": "false"}
        ran = await app.client.post("/agents/assistant/runs", data=form, headers=alice)
        assert ran.status_code == 200 and ran.json()["user_id"] == "alice"

        own = await app.client.get("/sessions/alice-1/run-previews", headers=alice)
        assert [(p["run_id"], p["user_id"]) for p in own.json()] == [(ran.json()["run_id"], "alice")]
        as_bob = await app.client.get("/sessions/alice-1/run-previews", params={"user_id": "alice"}, headers=bob)
        assert as_bob.status_code == 404
        as_admin = await app.client.get("/sessions/alice-1/run-previews", headers=admin)
        assert [p["run_id"] for p in as_admin.json()] == [ran.json()["run_id"]]
