"""The ``/sessions`` routes: Agno's filters, envelope, schemas, status codes and texts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import SessionRow

from tests.runtime.api.harness import Served, serve, serve_on

CONFIG = """
models: [{id: fake, api_key_env: null}]
agents: [{id: assistant}]
"""
TWO_DATABASES: dict[str, dict[str, Any]] = {"main-db": {}, "other-db": {"tables": {"sessions": "other_sessions"}}}


def agent_run(run_id: str, question: str, answer: str, *, created_at: int, status: str = "COMPLETED") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "agent_id": "assistant",
        "agent_name": "Assistant",
        "content": answer,
        "content_type": "str",
        "status": status,
        "created_at": created_at,
        "input": {"input_content": question},
        "metrics": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "earlier question", "from_history": True},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ],
    }


def agent_session(session_id: str, *, created_at: int, user_id: str | None = None, **fields: Any) -> SessionRow:
    return SessionRow(
        session_id=session_id,
        session_type="agent",
        created_at=created_at,
        agent_id="assistant",
        user_id=user_id,
        **fields,
    )


async def seed(served: Served) -> None:
    store = served.database().sessions
    await store.upsert_session(
        agent_session(
            "s-1",
            created_at=1_700_000_000,
            user_id="ana",
            session_data={"session_state": {"n": 1}, "session_metrics": {"total_tokens": 42}},
            runs=[agent_run("r-1", "What is 2+2?", "4", created_at=1_700_000_001)],
        )
    )
    await store.upsert_session(
        agent_session(
            "s-2",
            created_at=1_700_000_100,
            user_id="bo",
            session_data={"session_name": "Named"},
            runs=[
                agent_run("r-2", "Hi", "Hello", created_at=1_700_000_101),
                agent_run("r-3", "Bye", "oops", created_at=1_700_000_200, status="ERROR"),
            ],
        )
    )
    await store.upsert_session(
        SessionRow(session_id="t-1", session_type="team", created_at=1_700_000_050, team_id="crew", user_id="ana")
    )


async def test_list_sessions_returns_agnos_envelope_newest_first(served: Served) -> None:
    await seed(served)
    response = await served.client.get("/sessions")
    assert response.status_code == 200
    body = response.json()
    assert [s["session_id"] for s in body["data"]] == ["s-2", "t-1", "s-1"]
    meta = body["meta"]
    assert (meta["page"], meta["limit"], meta["total_pages"], meta["total_count"]) == (1, 20, 1, 3)
    assert meta["search_time_ms"] >= 0
    first = body["data"][2]
    assert first["session_name"] == "What is 2+2?"
    assert first["session_state"] == {"n": 1}
    assert first["total_tokens"] == 42 and first["metrics"] == {"total_tokens": 42}
    assert first["created_at"] == "2023-11-14T22:13:20Z"
    assert first["updated_at"].endswith("Z")
    assert first["session_type"] == "agent" and first["agent_id"] == "assistant" and first["user_id"] == "ana"
    assert body["data"][0]["session_name"] == "Named"


async def test_list_sessions_filters_by_type_component_user_and_name(served: Served) -> None:
    await seed(served)

    async def ids(**params: Any) -> list[str]:
        response = await served.client.get("/sessions", params=params)
        assert response.status_code == 200, response.text
        return [s["session_id"] for s in response.json()["data"]]

    assert await ids(type="agent") == ["s-2", "s-1"]
    assert await ids(type="team") == ["t-1"]
    assert await ids(component_id="crew") == ["t-1"]
    assert await ids(user_id="ana") == ["t-1", "s-1"]
    assert await ids(session_name="Nam") == ["s-2"]
    assert await ids(sort_order="asc") == ["s-1", "t-1", "s-2"]


async def test_list_sessions_pages_through_results(served: Served) -> None:
    await seed(served)
    response = await served.client.get("/sessions", params={"limit": 2, "page": 2})
    body = response.json()
    assert [s["session_id"] for s in body["data"]] == ["s-1"]
    assert body["meta"]["total_pages"] == 2 and body["meta"]["total_count"] == 3 and body["meta"]["page"] == 2


async def test_bad_pagination_params_are_422_with_a_pydantic_detail_list(served: Served) -> None:
    for params in ({"limit": 0}, {"page": 0}, {"limit": "many"}, {"sort_order": "sideways"}, {"type": "robot"}):
        response = await served.client.get("/sessions", params=params)
        assert response.status_code == 422, params
        detail = response.json()["detail"]
        assert isinstance(detail, list) and detail[0]["loc"][0] == "query"


async def test_get_session_returns_the_agent_detail_with_chat_history(served: Served) -> None:
    await seed(served)
    response = await served.client.get("/sessions/s-1")
    assert response.status_code == 200
    body = response.json()
    assert body["session_id"] == "s-1" and body["agent_session_id"] == "s-1"
    assert body["agent_id"] == "assistant" and body["user_id"] == "ana"
    assert body["session_name"] == "What is 2+2?"
    assert body["session_state"] == {"n": 1} and body["total_tokens"] == 42
    assert body["chat_history"] == [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]


async def test_get_team_session_returns_the_team_detail(served: Served) -> None:
    await seed(served)
    body = (await served.client.get("/sessions/t-1", params={"type": "team"})).json()
    assert body["team_id"] == "crew" and "agent_session_id" not in body and body["chat_history"] == []


async def test_unknown_session_is_404_with_agnos_text(served: Served) -> None:
    plain = await served.client.get("/sessions/nope")
    assert plain.status_code == 404 and plain.json() == {"detail": "Session with id 'nope' not found"}
    typed = await served.client.get("/sessions/nope", params={"type": "agent"})
    assert typed.json() == {"detail": "Agent Session with id 'nope' not found"}
    runs = await served.client.get("/sessions/nope/runs")
    assert runs.status_code == 404 and runs.json() == {"detail": "Session with ID nope not found"}


async def test_a_session_of_another_user_is_not_found(served: Served) -> None:
    await seed(served)
    assert (await served.client.get("/sessions/s-1", params={"user_id": "bo"})).status_code == 404
    assert (await served.client.get("/sessions/s-1", params={"user_id": "ana"})).status_code == 200


async def test_create_session_is_201_and_then_listed(served: Served) -> None:
    payload = {"session_id": "new-1", "session_name": "Plans", "session_state": {"step": 1}, "user_id": "ana"}
    payload |= {"agent_id": "assistant", "metadata": {"source": "test"}}
    response = await served.client.post("/sessions", params={"type": "agent"}, json=payload)
    assert response.status_code == 201
    body = response.json()
    assert body["session_id"] == "new-1" and body["session_name"] == "Plans"
    assert body["session_state"] == {"step": 1} and body["metadata"] == {"source": "test"}
    stored = await served.database().sessions.get_session("new-1")
    assert stored is not None and stored.agent_id == "assistant" and stored.user_id == "ana"
    listed = (await served.client.get("/sessions")).json()["data"]
    assert [s["session_id"] for s in listed] == ["new-1"]


async def test_create_session_without_a_body_generates_an_id(served: Served) -> None:
    response = await served.client.post("/sessions")
    assert response.status_code == 201
    assert len(response.json()["session_id"]) == 36


async def test_creating_an_existing_session_id_is_409_and_keeps_the_stored_runs(served: Served) -> None:
    await seed(served)
    response = await served.client.post("/sessions", json={"session_id": "s-1"})
    assert response.status_code == 409 and "already exists" in response.json()["detail"]
    stored = await served.database().sessions.get_session("s-1")
    assert stored is not None and stored.runs and stored.runs[0]["run_id"] == "r-1"


async def test_of_two_creations_of_one_session_id_at_once_one_is_201_and_the_other_409(served: Served) -> None:
    ana, bob = await asyncio.gather(
        served.client.post("/sessions", json={"session_id": "new", "user_id": "ana", "session_state": {"who": "ana"}}),
        served.client.post("/sessions", json={"session_id": "new", "user_id": "bob", "session_state": {"who": "bob"}}),
    )

    assert sorted([ana.status_code, bob.status_code]) == [201, 409]
    winner = ana if ana.status_code == 201 else bob
    stored = await served.database().sessions.get_session("new")
    assert stored is not None and stored.user_id == winner.json()["user_id"]
    assert (stored.session_data or {})["session_state"] == winner.json()["session_state"]


async def test_patch_changes_state_and_metadata_only(served: Served) -> None:
    await seed(served)
    response = await served.client.patch("/sessions/s-1", json={"session_state": {"n": 2}, "metadata": {"k": "v"}})
    assert response.status_code == 200
    body = response.json()
    assert body["session_state"] == {"n": 2} and body["metadata"] == {"k": "v"}
    assert body["session_name"] == "What is 2+2?"
    stored = await served.database().sessions.get_session("s-1")
    assert stored is not None and stored.runs is not None and len(stored.runs) == 1


async def test_rename_sets_the_name_shown_in_the_list(served: Served) -> None:
    await seed(served)
    response = await served.client.post("/sessions/s-1/rename", json={"session_name": "Arithmetic"})
    assert response.status_code == 200 and response.json()["session_name"] == "Arithmetic"
    listed = (await served.client.get("/sessions", params={"session_name": "Arith"})).json()["data"]
    assert [s["session_id"] for s in listed] == ["s-1"]


async def test_changing_an_unknown_session_is_404(served: Served) -> None:
    assert (await served.client.patch("/sessions/nope", json={"session_name": "x"})).status_code == 404
    assert (await served.client.post("/sessions/nope/rename", json={"session_name": "x"})).status_code == 404
    await seed(served)
    mistyped = await served.client.patch("/sessions/s-1", params={"type": "team"}, json={"session_name": "x"})
    assert mistyped.status_code == 404
    stored = await served.database().sessions.get_session("s-1")
    assert stored is not None and (stored.session_data or {}).get("session_name") is None


async def test_rename_needs_a_name(served: Served) -> None:
    await seed(served)
    response = await served.client.post("/sessions/s-1/rename", json={})
    assert response.status_code == 422


async def test_delete_one_session_is_204_and_it_is_gone(served: Served) -> None:
    await seed(served)
    response = await served.client.delete("/sessions/s-1")
    assert response.status_code == 204 and response.content == b""
    assert (await served.client.get("/sessions/s-1")).status_code == 404
    assert (await served.client.get("/sessions/s-2")).status_code == 200


async def test_delete_many_sessions_is_204(served: Served) -> None:
    await seed(served)
    body = {"session_ids": ["s-1", "t-1"], "session_types": ["agent", "team"]}
    response = await served.client.request("DELETE", "/sessions", json=body)
    assert response.status_code == 204
    listed = (await served.client.get("/sessions")).json()["data"]
    assert [s["session_id"] for s in listed] == ["s-2"]


async def test_delete_many_with_mismatched_lists_is_400(served: Served) -> None:
    await seed(served)
    body = {"session_ids": ["s-1", "t-1"], "session_types": ["agent"]}
    response = await served.client.request("DELETE", "/sessions", json=body)
    assert response.status_code == 400
    assert response.json() == {"detail": "Session IDs and session types must have the same length"}
    assert (await served.client.get("/sessions/s-1")).status_code == 200


async def test_session_runs_are_listed_as_agno_run_schemas(served: Served) -> None:
    await seed(served)
    response = await served.client.get("/sessions/s-2/runs")
    assert response.status_code == 200
    runs = response.json()
    assert [r["run_id"] for r in runs] == ["r-2", "r-3"]
    assert runs[0]["run_input"] == "Hi" and runs[0]["content"] == "Hello"
    assert runs[0]["agent_id"] == "assistant" and runs[0]["status"] == "COMPLETED"
    assert runs[0]["run_response_format"] == "text"
    assert runs[0]["created_at"] == "2023-11-14T22:15:01Z"
    assert runs[0]["metrics"]["total_tokens"] == 5


async def test_session_runs_filter_by_status_and_time(served: Served) -> None:
    await seed(served)
    errors = (await served.client.get("/sessions/s-2/runs", params={"status": "error"})).json()
    assert [r["run_id"] for r in errors] == ["r-3"]
    late = (await served.client.get("/sessions/s-2/runs", params={"created_after": 1_700_000_150})).json()
    assert [r["run_id"] for r in late] == ["r-3"]
    bad = await served.client.get("/sessions/s-2/runs", params={"status": "SLEEPING"})
    assert bad.status_code == 400


async def test_a_run_without_a_creation_time_passes_the_time_filters_as_in_agno(served: Served) -> None:
    undated = agent_run("r-0", "Old", "run", created_at=0)
    del undated["created_at"]
    dated = agent_run("r-1", "New", "run", created_at=1_700_000_001)
    await served.database().sessions.upsert_session(
        agent_session("s-9", created_at=1_700_000_000, runs=[undated, dated])
    )
    after = (await served.client.get("/sessions/s-9/runs", params={"created_after": 1_700_000_100})).json()
    before = (await served.client.get("/sessions/s-9/runs", params={"created_before": 1_600_000_000})).json()
    assert [r["run_id"] for r in after] == ["r-0"] and [r["run_id"] for r in before] == ["r-0"]


async def test_one_session_run_and_its_404s(served: Served) -> None:
    await seed(served)
    found = await served.client.get("/sessions/s-2/runs/r-3")
    assert found.status_code == 200 and found.json()["status"] == "ERROR"
    missing = await served.client.get("/sessions/s-2/runs/r-9")
    assert missing.status_code == 404 and missing.json() == {"detail": "Run with ID r-9 not found in session s-2"}
    empty = await served.client.get("/sessions/t-1/runs/r-1")
    assert empty.json() == {"detail": "Session with ID t-1 has no runs"}


async def test_db_id_is_required_with_several_databases_and_selects_one(backend: str, tmp_path: Path) -> None:
    async with serve_on(backend, CONFIG, tmp_path, databases=TWO_DATABASES) as running:
        await running.database("other-db").sessions.upsert_session(agent_session("o-1", created_at=1))
        missing = await running.client.get("/sessions")
        assert missing.status_code == 400
        assert missing.json() == {"detail": "The db_id query parameter is required when using multiple databases"}
        other = (await running.client.get("/sessions", params={"db_id": "other-db"})).json()
        assert [s["session_id"] for s in other["data"]] == ["o-1"]
        main = (await running.client.get("/sessions", params={"db_id": "main-db"})).json()
        assert main["data"] == []
        unknown = await running.client.get("/sessions", params={"db_id": "nope"})
        assert unknown.status_code == 404 and unknown.json() == {"detail": "No database found with id 'nope'"}
        table = await running.client.get("/sessions", params={"db_id": "other-db", "table": "other_sessions"})
        assert table.status_code == 200
        wrong_table = await running.client.get("/sessions", params={"db_id": "other-db", "table": "agno_sessions"})
        assert wrong_table.status_code == 404
        no_db = await running.client.get("/sessions", params={"table": "other_sessions"})
        assert no_db.status_code == 400


class BrokenSessions(InMemoryDatabase):
    def __init__(self, *, id: str) -> None:
        super().__init__(id=id)
        self.sessions = self  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:
        async def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise StorageUnavailable("sessions table unreachable")

        return unavailable


async def test_storage_down_is_503_with_a_detail_on_every_sessions_route(tmp_path: Path) -> None:
    from tests.runtime.api.harness import BASIC_CONFIG

    async def opener(config, **_):  # type: ignore[no-untyped-def]
        return BrokenSessions(id=config.id)

    async with serve(BASIC_CONFIG, data_dir=tmp_path, open_database=opener) as running:
        client = running.client
        responses = [
            await client.get("/sessions"),
            await client.get("/sessions/s-1"),
            await client.post("/sessions", json={"session_id": "x"}),
            await client.patch("/sessions/s-1", json={"session_name": "x"}),
            await client.post("/sessions/s-1/rename", json={"session_name": "x"}),
            await client.delete("/sessions/s-1"),
            await client.request("DELETE", "/sessions", json={"session_ids": ["a"], "session_types": ["agent"]}),
            await client.get("/sessions/s-1/runs"),
            await client.get("/sessions/s-1/runs/r-1"),
        ]
    for response in responses:
        assert response.status_code == 503, response.request.url
        assert response.json() == {"detail": "sessions table unreachable"}
