"""Agno's ``AgentOSClient`` knowledge methods against the runtime under uvicorn, on SQLite and pgvector.

Every call goes through Agno's client code and is parsed into Agno's own schemas
(``ContentResponseSchema``, ``ContentStatusResponse``, ``PaginatedResponse[VectorSearchResult]``,
``ConfigResponseSchema``); the assertions read the parsed values.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from agno.media import File
from agno.os.routers.knowledge.schemas import ContentStatus

from tests.runtime.api.agno_client import client_for, serve_for_agno
from tests.runtime.api.harness import Served
from tests.runtime.conformance.conftest import SECURITY_KEY
from tests.runtime.knowledge.serving import KNOWLEDGE_BACKENDS, knowledge_config, serve_knowledge
from tests.support.fake_openai import FakeOpenAIServer

AUTH = {"Authorization": f"Bearer {SECURITY_KEY}"}
POLICY = "Vacation policy: every employee gets twenty-five days of paid vacation per year."
TRAVEL = "# Travel\n\nTrain tickets are booked through the travel desk, never by employees themselves."


@pytest.fixture(params=KNOWLEDGE_BACKENDS)
async def knowledge_runtime(
    request: pytest.FixtureRequest,
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
) -> AsyncIterator[Served]:
    config = knowledge_config(fake_openai.base_url, {"id": "handbook", "name": "Handbook", "description": "HR rules"})
    async with serve_for_agno(
        request.param, config, tmp_path, security_key=SECURITY_KEY, serving=serve_knowledge
    ) as running:
        yield running


async def settle(runtime: Served) -> None:
    assert runtime.context.knowledge is not None
    await runtime.context.knowledge["handbook"].wait_idle()


async def test_contents_go_through_agnos_client_from_upload_to_delete(knowledge_runtime: Served) -> None:
    client = client_for(knowledge_runtime)
    text = await client.upload_knowledge_content(
        name="Vacation", text_content=POLICY, metadata={"team": "hr"}, headers=AUTH
    )
    assert text.status == ContentStatus.PROCESSING and text.name == "Vacation"
    travel = await client.upload_knowledge_content(
        file=File(content=TRAVEL.encode(), filename="travel.md", mime_type="text/markdown"),
        chunker="MarkdownChunker",
        chunk_size=200,
        headers=AUTH,
    )
    await settle(knowledge_runtime)

    status = await client.get_knowledge_content_status(text.id, headers=AUTH)
    assert (status.status, status.status_message) == (ContentStatus.COMPLETED, "")
    read = await client.get_knowledge_content(travel.id, headers=AUTH)
    assert (read.name, read.type, read.status) == ("travel.md", "md", ContentStatus.COMPLETED)
    assert read.created_at is not None and read.created_at.tzinfo is not None

    listed = await client.list_knowledge_content(sort_by="name", sort_order="asc", headers=AUTH)
    assert [item.name for item in listed.data] == ["Vacation", "travel.md"]
    assert listed.meta.total_count == 2 and listed.meta.total_pages == 1

    changed = await client.update_knowledge_content(
        text.id, name="Paid leave", metadata={"team": "people"}, headers=AUTH
    )
    assert (changed.name, changed.metadata) == ("Paid leave", {"team": "people"})

    found = await client.search_knowledge("how many days of paid vacation", limit=1, headers=AUTH)
    assert found.data[0].content == POLICY and found.data[0].content_id == text.id
    assert found.meta.total_count == 2 and found.meta.total_pages == 2
    by_id = await client.search_knowledge("travel desk", knowledge_id="handbook", headers=AUTH)
    assert by_id.data[0].content_id == travel.id and "travel desk" in by_id.data[0].content

    config = await client.get_knowledge_config(headers=AUTH)
    assert config.readers is not None and {"text", "markdown", "pdf"} <= set(config.readers)
    assert config.chunkers is not None and "MarkdownChunker" in config.chunkers
    assert config.filters == ["team"]
    assert config.vector_dbs is not None and [db.id for db in config.vector_dbs] == ["knowledge_handbook"]

    deleted = await client.delete_knowledge_content(text.id, headers=AUTH)
    assert deleted.id == text.id
    with pytest.raises(httpx.HTTPStatusError) as missing:
        await client.get_knowledge_content(text.id, headers=AUTH)
    assert missing.value.response.status_code == 404

    assert await client.delete_all_knowledge_content(headers=AUTH) == "success"
    assert (await client.list_knowledge_content(headers=AUTH)).data == []


async def test_the_os_config_advertises_the_base_as_agnos_client_reads_it(knowledge_runtime: Served) -> None:
    config = await client_for(knowledge_runtime).aget_config(headers=AUTH)
    assert config.knowledge is not None
    [instance] = config.knowledge.knowledge_instances or []
    assert (instance.id, instance.name, instance.description) == ("handbook", "Handbook", "HR rules")
    assert (instance.db_id, instance.table) == ("main-db", "agno_knowledge")
    assert [(db.db_id, db.tables) for db in config.knowledge.dbs or []] == [("main-db", ["agno_knowledge"])]


async def test_an_upload_refused_by_the_runtime_raises_in_agnos_client(knowledge_runtime: Served) -> None:
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await client_for(knowledge_runtime).upload_knowledge_content(
            file=File(content=b"\x00\x01binary", filename="slides.pptx"), headers=AUTH
        )
    assert refused.value.response.status_code == 415
    assert "slides.pptx" in json.loads(refused.value.response.text)["detail"]
