"""User isolation on every storage backend: a non-admin sees and writes only its own sessions and memories.

Alice and Bob hold the same scopes; each request's ``user_id`` is forced to the token's ``sub``,
whatever the query, form or body says. The admin scope sees everyone's. PostgreSQL or Redis
being down fails these tests.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.runtime.api.harness import Served
from tests.runtime.auth.apps import auth_config, jwt_app
from tests.runtime.auth.tokens import bearer, mint
from tests.support.databases import SERVER_BACKENDS
from tests.support.fake_openai import FakeOpenAIServer, Reply

SESSION_SCOPES = [
    "sessions:read",
    "sessions:write",
    "sessions:delete",
    "memories:read",
    "memories:write",
    "memories:delete",
    "agents:read",
    "agents:run",
]
ALICE = bearer(mint(sub="alice", scopes=SESSION_SCOPES))
BOB = bearer(mint(sub="bob", scopes=SESSION_SCOPES))
ADMIN = bearer(mint(sub="root", scopes=["agent_os:admin"]))


@pytest.fixture(params=SERVER_BACKENDS)
async def app(request: pytest.FixtureRequest, tmp_path: Path, fake_openai: FakeOpenAIServer) -> AsyncIterator[Served]:
    config = auth_config(fake_openai.base_url, user_isolation=True)
    async with jwt_app(tmp_path, config, backend=request.param) as served:
        yield served


async def alices_session(app: Served) -> str:
    created = await app.client.post("/sessions", json={"session_name": "alice's"}, headers=ALICE)
    assert created.status_code == 201
    session_id: str = created.json()["session_id"]
    return session_id


async def listed(app: Served, headers: dict[str, str], **params: Any) -> list[str]:
    response = await app.client.get("/sessions", params=params, headers=headers)
    assert response.status_code == 200
    return [s["session_id"] for s in response.json()["data"]]


async def test_info_reports_user_isolation(app: Served) -> None:
    assert (await app.client.get("/info")).json()["user_isolation"] is True


async def test_a_created_session_belongs_to_the_tokens_subject_whatever_the_body_says(app: Served) -> None:
    created = await app.client.post("/sessions", json={"user_id": "alice"}, headers=BOB)
    assert created.status_code == 201 and created.json()["user_id"] == "bob"
    row = await app.database().sessions.get_session(created.json()["session_id"])
    assert row is not None and row.user_id == "bob"


async def test_another_users_sessions_are_not_listed_even_when_asked_for(app: Served) -> None:
    session_id = await alices_session(app)
    assert await listed(app, ALICE) == [session_id]
    assert await listed(app, BOB) == []
    assert await listed(app, BOB, user_id="alice") == []
    assert await listed(app, ADMIN) == [session_id]


async def test_another_users_session_and_its_runs_cannot_be_read(app: Served) -> None:
    session_id = await alices_session(app)
    assert (await app.client.get(f"/sessions/{session_id}", headers=BOB)).status_code == 404
    assert (await app.client.get(f"/sessions/{session_id}?user_id=alice", headers=BOB)).status_code == 404
    assert (await app.client.get(f"/sessions/{session_id}/runs", headers=BOB)).status_code == 404
    assert (await app.client.get(f"/sessions/{session_id}", headers=ALICE)).status_code == 200
    assert (await app.client.get(f"/sessions/{session_id}", headers=ADMIN)).status_code == 200


async def test_another_users_session_cannot_be_changed_or_renamed(app: Served) -> None:
    session_id = await alices_session(app)
    patched = await app.client.patch(f"/sessions/{session_id}", json={"session_name": "bob was here"}, headers=BOB)
    renamed = await app.client.post(f"/sessions/{session_id}/rename", json={"session_name": "bob"}, headers=BOB)
    assert patched.status_code == 404 and renamed.status_code == 404
    row = await app.database().sessions.get_session(session_id)
    assert row is not None and row.session_data is not None
    assert row.session_data["session_name"] == "alice's"


async def test_another_users_session_cannot_be_deleted(app: Served) -> None:
    session_id = await alices_session(app)
    one = await app.client.delete(f"/sessions/{session_id}?user_id=alice", headers=BOB)
    many = await app.client.request(
        "DELETE", "/sessions", json={"session_ids": [session_id], "session_types": ["agent"]}, headers=BOB
    )
    assert one.status_code == 204 and many.status_code == 204
    assert await app.database().sessions.get_session(session_id) is not None
    assert (await app.client.delete(f"/sessions/{session_id}", headers=ALICE)).status_code == 204
    assert await app.database().sessions.get_session(session_id) is None


async def test_a_run_is_stored_as_the_callers_own_and_cannot_enter_another_users_session(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("Hi Alice"), Reply.say("Hi Bob"))
    form = {"message": "hi", "stream": "false", "session_id": "shared-1", "user_id": "mallory"}
    ran = await app.client.post("/agents/assistant/runs", data=form, headers=ALICE)
    assert ran.status_code == 200 and ran.json()["user_id"] == "alice"
    intruding = await app.client.post("/agents/assistant/runs", data=form, headers=BOB)
    assert intruding.status_code == 404 and intruding.json() == {"detail": "Session not found"}
    row = await app.database().sessions.get_session("shared-1")
    assert row is not None and row.user_id == "alice" and len(row.runs or []) == 1
    assert len(fake_openai.requests) == 1


async def test_another_users_agent_runs_cannot_be_read(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("Hi Alice"))
    form = {"message": "hi", "stream": "false", "session_id": "alices-1"}
    run_id = (await app.client.post("/agents/assistant/runs", data=form, headers=ALICE)).json()["run_id"]
    query = "?session_id=alices-1"
    assert (await app.client.get(f"/agents/assistant/runs{query}", headers=BOB)).status_code == 404
    assert (await app.client.get(f"/agents/assistant/runs/{run_id}{query}", headers=BOB)).status_code == 404
    mine = await app.client.get(f"/agents/assistant/runs/{run_id}{query}", headers=ALICE)
    assert mine.status_code == 200 and mine.json()["run_id"] == run_id


async def alices_memory(app: Served) -> str:
    created = await app.client.post("/memories", json={"memory": "Alice likes tea", "topics": ["food"]}, headers=ALICE)
    assert created.status_code == 200 and created.json()["user_id"] == "alice"
    memory_id: str = created.json()["memory_id"]
    return memory_id


async def test_a_memory_written_for_another_user_belongs_to_the_caller(app: Served) -> None:
    created = await app.client.post("/memories", json={"memory": "x", "user_id": "alice"}, headers=BOB)
    assert created.status_code == 200 and created.json()["user_id"] == "bob"


async def test_another_users_memories_are_invisible(app: Served) -> None:
    memory_id = await alices_memory(app)
    listed_by_bob = await app.client.get("/memories?user_id=alice", headers=BOB)
    assert listed_by_bob.status_code == 200 and listed_by_bob.json()["data"] == []
    assert (await app.client.get(f"/memories/{memory_id}", headers=BOB)).status_code == 404
    assert (await app.client.get("/memory_topics?user_id=alice", headers=BOB)).json() == []
    stats = (await app.client.get("/user_memory_stats", headers=BOB)).json()["data"]
    assert [entry["user_id"] for entry in stats] == []
    assert (await app.client.get(f"/memories/{memory_id}", headers=ALICE)).status_code == 200
    assert [m["memory_id"] for m in (await app.client.get("/memories", headers=ADMIN)).json()["data"]] == [memory_id]


async def test_another_users_memories_cannot_be_changed_or_deleted(app: Served) -> None:
    memory_id = await alices_memory(app)
    changed = await app.client.patch(f"/memories/{memory_id}", json={"memory": "Bob was here"}, headers=BOB)
    assert changed.status_code == 404
    assert (await app.client.delete(f"/memories/{memory_id}?user_id=alice", headers=BOB)).status_code == 204
    bulk = await app.client.request(
        "DELETE", "/memories", json={"memory_ids": [memory_id], "user_id": "alice"}, headers=BOB
    )
    assert bulk.status_code == 204
    row = await app.database().memories.get_memory(memory_id)
    assert row is not None and row.memory == "Alice likes tea" and row.user_id == "alice"


async def test_a_token_without_a_subject_is_refused_under_isolation(app: Served) -> None:
    anonymous = bearer(mint(sub=None, scopes=SESSION_SCOPES))
    response = await app.client.get("/sessions", headers=anonymous)
    assert response.status_code == 403
    assert response.json() == {"detail": "Authenticated request is missing a user identity"}


async def test_without_isolation_sessions_are_shared(tmp_path: Path) -> None:
    async with jwt_app(tmp_path, auth_config(), backend="sqlite") as app:
        session_id = await alices_session(app)
        assert await listed(app, BOB) == [session_id]
        assert (await app.client.get("/info")).json()["user_isolation"] is False


@pytest.mark.parametrize("eval_type", ["accuracy", "performance"])
async def test_an_eval_runs_its_agent_as_the_caller_never_as_the_shared_default_user(
    tmp_path: Path, fake_openai: FakeOpenAIServer, eval_type: str
) -> None:
    document = yaml.safe_load(auth_config(fake_openai.base_url, user_isolation=True))
    document["agents"][0]["add_memories_to_context"] = True
    alice = bearer(mint(sub="alice", scopes=[*SESSION_SCOPES, "evals:write", "evals:read"]))
    async with jwt_app(tmp_path, yaml.safe_dump(document), backend="sqlite") as app:
        shared = {"memory": "The default user's PIN is 1234", "user_id": "default"}
        assert (await app.client.post("/memories", json=shared, headers=ADMIN)).status_code == 200
        await alices_memory(app)
        fake_openai.script(Reply.say("Paris"), Reply.say('{"accuracy_score": 9}'), Reply.say("Paris"))
        body = {"agent_id": "assistant", "eval_type": eval_type, "input": "Capital of France?"}
        body |= {"expected_output": "Paris"} if eval_type == "accuracy" else {"num_iterations": 1}

        response = await app.client.post("/eval-runs", json=body, headers=alice)

        assert response.status_code == 200, response.text
        assert response.json()["user_id"] == "alice"
        agent_requests = [b for b in fake_openai.bodies if "accuracy_score" not in b["messages"][0]["content"]]
        assert agent_requests, "the agent was never asked"
        for asked in agent_requests:
            assert "Alice likes tea" in asked["messages"][0]["content"]
            assert "1234" not in json.dumps(asked)
        if eval_type == "accuracy":
            session = await app.database().sessions.get_session(f"eval_{response.json()['id']}_1")
            assert session is not None and session.user_id == "alice"


async def test_another_users_session_id_cannot_be_taken_and_the_refusal_tells_no_more_than_that(app: Served) -> None:
    # Session ids are one namespace: the 409 says the id is taken (the README says to keep ids
    # unguessable), and nothing of the session itself; alice's session stays hers, untouched.
    session_id = await alices_session(app)

    taken = await app.client.post("/sessions", json={"session_id": session_id, "session_name": "bob's"}, headers=BOB)

    assert taken.status_code == 409
    assert "alice" not in taken.text and "alice's" not in taken.text
    row = await app.database().sessions.get_session(session_id)
    assert row is not None and row.user_id == "alice" and (row.session_data or {}).get("session_name") == "alice's"
