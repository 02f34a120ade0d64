"""Knowledge runs through the runtime's HTTP API, as a client sees them: the runtime serves an
agent naming a knowledge base on embedded SQLite (sqlite-vec) or PostgreSQL (pgvector), its
embeddings and chat answers both from the local OpenAI-compatible server; a document is added,
the model searches, the answer cites it.

The run's ``references`` come back in the ``stream=false`` answer, in the streamed
``RunCompleted``, in ``GET /sessions/{id}/runs`` and through Agno's ``AgentOSClient``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from agentos_runtime.knowledge.base import Upload
from agno.client import AgentOSClient
from agno.utils.http import aclose_default_clients

from tests.runtime.api.harness import Served, read_frames
from tests.runtime.knowledge.search_fakes import DIMENSIONS, LAPTOPS, VACATION, search_call
from tests.runtime.knowledge.serving import KNOWLEDGE_BACKENDS, serve_knowledge
from tests.support.fake_openai import EmbeddingReply, FakeOpenAIServer, Reply, fake_openai, fake_openai_server

__all__ = ["fake_openai", "fake_openai_server"]

JSON = dict[str, Any]


def runtime_text(base_url: str) -> str:
    model = {"base_url": base_url, "api_key_env": None, "max_retries": 0}
    embedder = {"base_url": base_url, "api_key_env": None, "dimensions": DIMENSIONS, "max_retries": 0}
    document = {
        "os_id": "knowledge-runs",
        "models": [{"id": "fake", "model": "fake-model", **model}],
        "knowledge_bases": [{"id": "handbook", "embedder": embedder}],
        "agents": [{"id": "helpdesk", "name": "Helpdesk", "knowledge": "handbook"}],
    }
    return yaml.safe_dump(document)


@pytest.fixture(params=KNOWLEDGE_BACKENDS)
async def served(
    request: pytest.FixtureRequest, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> AsyncIterator[Served]:
    text = runtime_text(fake_openai.base_url)
    async with serve_knowledge(request.param, text, tmp_path, over_sockets=True) as running:
        hub = running.context.knowledge
        assert hub is not None
        handbook = hub["handbook"]
        await handbook.add(Upload(name="vacation.md", text=VACATION, metadata={"department": "hr"}))
        await handbook.add(Upload(name="laptops.md", text=LAPTOPS))
        await handbook.wait_idle()
        yield running


async def test_a_run_over_http_searches_the_added_document_and_returns_its_references(
    served: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(search_call("paid vacation days")), Reply.say("25 days, says vacation.md."))
    response = await served.client.post(
        "/agents/helpdesk/runs", data={"message": "Vacation?", "stream": "false", "session_id": "h-1"}
    )

    assert response.status_code == 200
    output = response.json()
    assert output["status"] == "COMPLETED" and output["content"] == "25 days, says vacation.md."
    found = json.loads(fake_openai.bodies[1]["messages"][-1]["content"])
    assert found[0]["content"] == VACATION and found[0]["name"] == "vacation.md"
    assert output["references"] == [
        {"query": "paid vacation days", "references": found, "time": output["references"][0]["time"]}
    ]
    assert fake_openai.app.embedding_requests[-1].body["input"] == ["paid vacation days"]

    runs = await served.client.get("/sessions/h-1/runs", params={"type": "agent"})
    assert runs.status_code == 200
    (stored,) = runs.json()
    assert stored["references"] == output["references"]


async def test_a_streamed_run_ends_with_the_references_in_run_completed(
    served: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(search_call("laptop replacement")), Reply.say("IT orders it.", chunks=2))
    async with served.client.stream(
        "POST", "/agents/helpdesk/runs", data={"message": "Laptop broke", "session_id": "h-2"}
    ) as response:
        frames = [frame async for frame in read_frames(response)]

    names = [frame.event for frame in frames]
    assert "ToolCallCompleted" in names and names[-1] == "RunCompleted"
    tool = frames[names.index("ToolCallCompleted")].data["tool"]
    assert tool["tool_name"] == "search_knowledge_base" and json.loads(tool["result"])[0]["content"] == LAPTOPS
    assert frames[-1].data["references"][0]["query"] == "laptop replacement"


async def test_the_embeddings_endpoint_failing_mid_run_is_a_tool_error_and_the_run_completes(
    served: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.app.script_embeddings(EmbeddingReply.fail(500, "the embeddings backend is overloaded"))
    fake_openai.script(Reply.call(search_call("vacation")), Reply.say("I cannot search the handbook right now."))
    response = await served.client.post("/agents/helpdesk/runs", data={"message": "Vacation?", "stream": "false"})

    assert response.status_code == 200
    output = response.json()
    assert output["status"] == "COMPLETED" and "references" not in output
    (tool,) = output["tools"]
    assert tool["tool_call_error"] is True
    assert tool["result"].startswith("Error: KnowledgeSearchError: knowledge base 'handbook' could not be searched: ")
    assert fake_openai.bodies[1]["messages"][-1]["content"] == tool["result"]


async def test_agnos_client_reads_the_references_of_a_run(served: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.call(search_call("vacation")), Reply.say("25 days."))
    client = AgentOSClient(str(served.client.base_url), timeout=15.0)

    try:
        output = await client.run_agent("helpdesk", "Vacation?", session_id="h-4")
    finally:
        await aclose_default_clients()  # Agno's shared httpx client belongs to this test's event loop

    assert output.references is not None
    (reference,) = output.references
    assert reference.query == "vacation" and reference.references is not None
    first = reference.references[0]
    assert isinstance(first, dict) and first["content"] == VACATION


async def test_the_agent_view_lists_the_search_tool_and_where_its_knowledge_is_kept(served: Served) -> None:
    """As Agno's AgentResponse: the tool among the agent's tools, and a ``knowledge`` block."""
    hub = served.context.knowledge
    assert hub is not None
    view = (await served.client.get("/agents/helpdesk")).json()
    assert [tool["name"] for tool in view["tools"]["tools"]] == ["search_knowledge_base"]
    assert view["knowledge"] == {"db_id": hub["handbook"].db_id, "knowledge_table": "agno_knowledge"}
