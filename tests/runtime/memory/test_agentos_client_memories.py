"""Agno's own ``AgentOSClient`` memory calls against the runtime under uvicorn, on every backend.

Each call goes through Agno's client and is parsed into Agno's schemas; the assertions check
the parsed values.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from agno.client import AgentOSClient
from agno.os.routers.memory.schemas import UserMemorySchema

from tests.runtime.api.agno_client import client_for, serve_for_agno
from tests.runtime.api.harness import BASIC_CONFIG

KEY = "memory-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def client(backend: str, tmp_path: Path) -> AsyncIterator[AgentOSClient]:
    async with serve_for_agno(backend, BASIC_CONFIG, tmp_path, security_key=KEY) as running:
        yield client_for(running)


async def test_memories_are_created_read_listed_and_updated_through_agnos_client(client: AgentOSClient) -> None:
    created = await client.create_memory("Ana likes green tea", "ana", topics=["drinks", "preferences"], headers=AUTH)
    await client.create_memory("Ana lives in Lisbon", "ana", topics=["home"], headers=AUTH)
    await client.create_memory("Bob likes coffee", "bob", topics=["drinks"], headers=AUTH)

    assert isinstance(created, UserMemorySchema)
    assert (created.memory, created.user_id, created.topics) == (
        "Ana likes green tea",
        "ana",
        ["drinks", "preferences"],
    )
    assert created.updated_at is not None and created.updated_at.tzinfo is not None
    fetched = await client.get_memory(created.memory_id, headers=AUTH)
    assert fetched == created
    page = await client.list_memories(user_id="ana", topics=["drinks"], headers=AUTH)
    assert [m.memory for m in page.data] == ["Ana likes green tea"] and page.meta.total_count == 1
    everyone = await client.list_memories(sort_order="asc", limit=2, headers=AUTH)
    assert everyone.meta.total_count == 3 and everyone.meta.total_pages == 2 and len(everyone.data) == 2

    updated = await client.update_memory(
        created.memory_id, "Ana likes jasmine tea", "ana", topics=["drinks"], headers=AUTH
    )
    assert (updated.memory_id, updated.memory, updated.topics) == (
        created.memory_id,
        "Ana likes jasmine tea",
        ["drinks"],
    )
    assert await client.get_memory_topics(headers=AUTH) == ["drinks", "home"]
    assert await client.get_memory_topics(headers=AUTH, user_id="ana") == ["drinks", "home"]


async def test_user_stats_and_deletes_through_agnos_client(client: AgentOSClient) -> None:
    first = await client.create_memory("one", "ana", headers=AUTH)
    second = await client.create_memory("two", "ana", headers=AUTH)
    third = await client.create_memory("three", "bob", headers=AUTH)

    stats = await client.get_user_memory_stats(headers=AUTH)
    assert sorted((s.user_id, s.total_memories) for s in stats.data) == [("ana", 2), ("bob", 1)]
    assert all(s.last_memory_updated_at is not None for s in stats.data)
    (ana,) = (await client.get_user_memory_stats(headers=AUTH, user_id="ana")).data
    assert ana.total_memories == 2

    await client.delete_memory(first.memory_id, headers=AUTH)
    await client.delete_memories([second.memory_id, third.memory_id], headers=AUTH)

    assert (await client.list_memories(headers=AUTH)).data == []
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await client.get_memory(first.memory_id, headers=AUTH)
    assert caught.value.response.status_code == 404


async def test_memory_calls_need_the_key(client: AgentOSClient) -> None:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await client.list_memories()
    assert caught.value.response.status_code == 401
