"""``GET /openapi.json`` says what every route answers, and the answers on real data match it.

Schemathesis mostly sees empty databases; here an agent, a team and a workflow have run and a
memory is stored, on each backend, and every read route's body is validated against the
schema the document gives for its path, method and status; so are the knowledge routes' answers
once a content is processed, on SQLite and pgvector.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.runtime.api.harness import Served, serve_on
from tests.runtime.fuzz.test_schemathesis import runtime_config
from tests.runtime.knowledge.serving import KNOWLEDGE_BACKENDS, knowledge_config, serve_knowledge
from tests.support.fake_openai import FakeOpenAIServer, Reply

JSON = dict[str, Any]


@pytest.fixture
async def runtime(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    fake_openai.app.default = Reply.say("Noted: you like tea.")
    async with serve_on(backend, runtime_config(fake_openai.base_url), tmp_path) as running:
        yield running


def success_schema(document: JSON, path: str, method: str, status: int) -> JSON:
    """The JSON schema the document gives for one answer, resolvable on its own."""
    response = document["paths"][path][method]["responses"][str(status)]
    schema: JSON = response["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


def names_a_model(schema: JSON) -> bool:
    """A ``$ref`` to a component (for a list: its items), or an array of strings."""
    if "$ref" in schema or any("$ref" in option for option in schema.get("anyOf", [])):
        return True
    items = schema.get("items", {})
    return schema.get("type") == "array" and ("$ref" in items or items.get("type") == "string")


async def test_every_operation_names_the_model_of_its_answer(runtime: Served) -> None:
    document = (await runtime.client.get("/openapi.json")).json()
    unnamed = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                content = response.get("content", {})
                if set(content) == {"text/event-stream"}:  # a stream only: its frames' schema is the model
                    if "itemSchema" not in content["text/event-stream"]:
                        unnamed.append(f"{method.upper()} {path} {status}")
                    continue
                schema = content.get("application/json", {}).get("schema", {})
                if not names_a_model(schema):
                    unnamed.append(f"{method.upper()} {path} {status}")
    assert unnamed == []


async def test_answers_on_real_data_match_the_document(runtime: Served) -> None:
    client = runtime.client
    document = (await client.get("/openapi.json")).json()
    form = {"message": "I like tea", "session_id": "s-1", "user_id": "ana", "stream": "false"}
    agent_run = (await client.post("/agents/assistant/runs", data=form)).json()
    team_run = (await client.post("/teams/crew/runs", data={**form, "session_id": "s-2"})).json()
    flow_run = (await client.post("/workflows/flow/runs", data={**form, "session_id": "s-3"})).json()
    memory = (await client.post("/memories", json={"memory": "Likes tea", "user_id": "ana", "topics": ["food"]})).json()
    await client.post("/sessions", json={"session_id": "s-4", "session_name": "Empty", "session_state": {"a": 1}})

    reads: list[tuple[str, str, str, JSON]] = [
        ("/", "/", "get", {}),
        ("/info", "/info", "get", {}),
        ("/health", "/health", "get", {}),
        ("/ready", "/ready", "get", {}),
        ("/config", "/config", "get", {}),
        ("/models", "/models", "get", {}),
        ("/agents", "/agents", "get", {}),
        ("/agents/{agent_id}", "/agents/assistant", "get", {}),
        ("/agents/{agent_id}/runs", "/agents/assistant/runs", "get", {"session_id": "s-1"}),
        (
            "/agents/{agent_id}/runs/{run_id}",
            f"/agents/assistant/runs/{agent_run['run_id']}",
            "get",
            {"session_id": "s-1"},
        ),
        ("/teams", "/teams", "get", {}),
        ("/teams/{team_id}", "/teams/crew", "get", {}),
        ("/teams/{team_id}/runs", "/teams/crew/runs", "get", {"session_id": "s-2"}),
        ("/teams/{team_id}/runs/{run_id}", f"/teams/crew/runs/{team_run['run_id']}", "get", {"session_id": "s-2"}),
        ("/workflows", "/workflows", "get", {}),
        ("/workflows/{workflow_id}", "/workflows/flow", "get", {}),
        ("/workflows/{workflow_id}/runs", "/workflows/flow/runs", "get", {"session_id": "s-3"}),
        (
            "/workflows/{workflow_id}/runs/{run_id}",
            f"/workflows/flow/runs/{flow_run['run_id']}",
            "get",
            {"session_id": "s-3"},
        ),
        ("/sessions", "/sessions", "get", {}),
        ("/sessions/{session_id}", "/sessions/s-1", "get", {}),
        ("/sessions/{session_id}", "/sessions/s-2", "get", {}),
        ("/sessions/{session_id}", "/sessions/s-3", "get", {}),
        ("/sessions/{session_id}", "/sessions/s-4", "get", {}),
        ("/sessions/{session_id}/runs", "/sessions/s-1/runs", "get", {}),
        ("/sessions/{session_id}/runs", "/sessions/s-2/runs", "get", {}),
        ("/sessions/{session_id}/runs", "/sessions/s-3/runs", "get", {}),
        ("/sessions/{session_id}/run-previews", "/sessions/s-2/run-previews", "get", {}),
        ("/sessions/{session_id}/runs/{run_id}", f"/sessions/s-1/runs/{agent_run['run_id']}", "get", {}),
        ("/memories", "/memories", "get", {}),
        ("/memories/{memory_id}", f"/memories/{memory['memory_id']}", "get", {}),
        ("/memory_topics", "/memory_topics", "get", {}),
        ("/user_memory_stats", "/user_memory_stats", "get", {}),
        ("/metrics", "/metrics", "get", {}),
        ("/metrics/refresh/status", "/metrics/refresh/status", "get", {}),
        ("/eval-runs", "/eval-runs", "get", {}),
    ]
    answers = {"POST /agents/{agent_id}/runs": agent_run, "POST /teams/{team_id}/runs": team_run}
    answers |= {"POST /workflows/{workflow_id}/runs": flow_run, "POST /memories": memory}
    for template, url, method, params in reads:
        response = await client.request(method.upper(), url, params=params)
        assert response.status_code == 200, (url, response.text)
        answers[f"{method.upper()} {template} {url}"] = response.json()
    assert agent_run["status"] == "COMPLETED" and team_run["status"] == "COMPLETED"
    assert flow_run["status"] == "COMPLETED" and len(answers["GET /sessions /sessions"]["data"]) == 4

    for key, body in answers.items():
        method, template = key.split(" ")[:2]
        schema = success_schema(document, template, method.lower(), 200)
        errors = [error.message for error in jsonschema.Draft202012Validator(schema).iter_errors(body)]
        assert errors == [], key


@pytest.mark.parametrize("kind", KNOWLEDGE_BACKENDS)
async def test_knowledge_answers_on_real_data_match_the_document(
    kind: str,
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
) -> None:
    config = knowledge_config(fake_openai.base_url, {"id": "docs", "description": "Handbook"})
    async with serve_knowledge(kind, config, tmp_path) as runtime:
        client = runtime.client
        document = (await client.get("/openapi.json")).json()
        form = {"text_content": "Vacation: twenty-five days a year.", "metadata": '{"team": "hr"}'}
        uploaded = await client.post("/knowledge/content", data=form)
        assert uploaded.status_code == 202, uploaded.text
        content_id = uploaded.json()["id"]
        assert runtime.context.knowledge is not None
        await runtime.context.knowledge["docs"].wait_idle()
        answers: dict[str, tuple[int, Any]] = {"POST /knowledge/content": (202, uploaded.json())}
        calls: list[tuple[str, str, str, dict[str, Any]]] = [
            ("/knowledge/content", "/knowledge/content", "get", {}),
            ("/knowledge/content/{content_id}", f"/knowledge/content/{content_id}", "get", {}),
            ("/knowledge/content/{content_id}/status", f"/knowledge/content/{content_id}/status", "get", {}),
            ("/knowledge/content/{content_id}", f"/knowledge/content/{content_id}", "patch", {"data": {"name": "x"}}),
            ("/knowledge/search", "/knowledge/search", "post", {"json": {"query": "vacation"}}),
            ("/knowledge/config", "/knowledge/config", "get", {}),
            ("/knowledge/{knowledge_id}/sources", "/knowledge/docs/sources", "get", {}),
            ("/config", "/config", "get", {}),
            ("/knowledge/content/{content_id}", f"/knowledge/content/{content_id}", "delete", {}),
            ("/knowledge/content", "/knowledge/content", "delete", {}),
        ]
        for template, url, method, kwargs in calls:
            response = await client.request(method.upper(), url, **kwargs)
            assert response.status_code == 200, (url, response.text)
            answers[f"{method.upper()} {template}"] = (200, response.json())
    assert answers["POST /knowledge/search"][1]["data"][0]["content_id"] == content_id

    for key, (status, body) in answers.items():
        method, template = key.split(" ")
        schema = success_schema(document, template, method.lower(), status)
        errors = [error.message for error in jsonschema.Draft202012Validator(schema).iter_errors(body)]
        assert errors == [], key
