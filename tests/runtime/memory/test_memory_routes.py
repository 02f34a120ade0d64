"""``/memories``, ``/memory_topics`` and ``/user_memory_stats`` on every storage backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.storage.ports import MemoryQuery, MemoryRow

from tests.runtime.api.harness import BASIC_CONFIG, Served, serve_on


@pytest.fixture
async def app(backend: str, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, BASIC_CONFIG, tmp_path) as running:
        yield running


async def create(app: Served, memory: str, user_id: str = "ana", topics: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"memory": memory, "user_id": user_id}
    if topics is not None:
        body["topics"] = topics
    response = await app.client.post("/memories", json=body)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def listed(app: Served, **params: Any) -> list[str]:
    response = await app.client.get("/memories", params=params)
    assert response.status_code == 200, response.text
    return [memory["memory"] for memory in response.json()["data"]]


async def test_a_created_memory_reads_back_in_agnos_shape(app: Served) -> None:
    created = await create(app, "Ana likes green tea", topics=["drinks", "preferences"])

    assert set(created) == {"memory_id", "memory", "topics", "agent_id", "team_id", "user_id", "updated_at"}
    assert (created["memory"], created["topics"], created["user_id"]) == (
        "Ana likes green tea",
        ["drinks", "preferences"],
        "ana",
    )
    assert created["updated_at"].endswith("Z")
    fetched = await app.client.get(f"/memories/{created['memory_id']}")
    assert fetched.status_code == 200 and fetched.json() == created
    stored = await app.database().memories.get_memory(created["memory_id"])
    assert stored is not None and stored.memory == "Ana likes green tea"


async def test_creating_without_a_user_is_400_and_without_text_422(app: Served) -> None:
    no_user = await app.client.post("/memories", json={"memory": "anonymous"})
    assert no_user.status_code == 400 and no_user.json() == {"detail": "User ID is required"}
    assert (await app.client.post("/memories", json={"memory": "", "user_id": "ana"})).status_code == 422
    assert (await app.client.post("/memories", json={"memory": "x" * 5001, "user_id": "ana"})).status_code == 422


@pytest.mark.parametrize(
    ("topics", "where"),
    [
        ([f"t{n}" for n in range(21)], ["body", "topics"]),
        (["x" * 101], ["body", "topics", 0]),
        (["ok", " "], ["body", "topics", 1]),
    ],
    ids=["21 topics", "a topic of 101 characters", "a blank topic"],
)
async def test_topics_past_their_bounds_are_422_naming_the_topic_and_nothing_is_stored(
    app: Served, topics: list[str], where: list[object]
) -> None:
    refused = await app.client.post("/memories", json={"memory": "Ana sails", "user_id": "ana", "topics": topics})

    assert refused.status_code == 422
    assert [error["loc"] for error in refused.json()["detail"]] == [where]
    assert (await app.database().memories.list_memories(MemoryQuery(user_id="ana"))).total == 0


async def test_twenty_topics_of_a_hundred_characters_are_taken(app: Served) -> None:
    topics = [f"{n:02d}" + "x" * 98 for n in range(20)]

    taken = await app.client.post("/memories", json={"memory": "Ana sails", "user_id": "ana", "topics": topics})

    assert taken.status_code == 200 and taken.json()["topics"] == topics


async def test_listing_filters_by_user_topics_and_content_and_pages(app: Served) -> None:
    await app.database().memories.upsert_memory(
        MemoryRow(
            memory_id="m0",
            memory="Ana flies to Lisbon",
            user_id="ana",
            agent_id="travel",
            topics=["travel"],
            updated_at=10,
        )
    )
    await create(app, "Ana likes green tea", topics=["drinks", "preferences"])
    await create(app, "Ana hates coffee", topics=["drinks"])
    await create(app, "Bob likes coffee", user_id="bob", topics=["drinks"])

    assert sorted(await listed(app, user_id="ana")) == [
        "Ana flies to Lisbon",
        "Ana hates coffee",
        "Ana likes green tea",
    ]
    assert await listed(app, agent_id="travel") == ["Ana flies to Lisbon"]
    assert await listed(app, topics="drinks,preferences") == ["Ana likes green tea"]
    assert await listed(app, topics=["drinks", "preferences"]) == ["Ana likes green tea"]
    assert sorted(await listed(app, search_content="COFFEE")) == ["Ana hates coffee", "Bob likes coffee"]
    assert (await listed(app, sort_by="updated_at", sort_order="asc"))[0] == "Ana flies to Lisbon"
    page = (await app.client.get("/memories", params={"limit": 3, "page": 2})).json()
    assert len(page["data"]) == 1
    assert {k: page["meta"][k] for k in ("page", "limit", "total_pages", "total_count")} == {
        "page": 2,
        "limit": 3,
        "total_pages": 2,
        "total_count": 4,
    }
    assert (await app.client.get("/memories", params={"page": 0})).status_code == 422


async def test_an_unknown_memory_or_one_of_another_user_is_404(app: Served) -> None:
    created = await create(app, "Ana likes green tea")

    missing = await app.client.get("/memories/nope")
    assert missing.status_code == 404 and missing.json() == {"detail": "Memory with ID nope not found"}
    other = await app.client.get(f"/memories/{created['memory_id']}", params={"user_id": "bob"})
    assert other.status_code == 404


async def test_patching_replaces_text_and_topics_and_clears_the_origin_as_agno_does(app: Served) -> None:
    await app.database().memories.upsert_memory(
        MemoryRow(
            memory_id="m1",
            memory="Ana likes tea",
            user_id="ana",
            agent_id="helper",
            team_id="crew",
            input="I like tea",
            feedback="good",
            created_at=5,
            updated_at=5,
        )
    )

    patched = await app.client.patch(
        "/memories/m1", json={"memory": "Ana likes green tea", "user_id": "bob", "topics": ["drinks"]}
    )

    assert patched.status_code == 200
    body = patched.json()
    assert (body["memory"], body["topics"], body["agent_id"], body["team_id"]) == (
        "Ana likes green tea",
        ["drinks"],
        None,
        None,
    )
    assert body["user_id"] == "ana", "an existing memory keeps its owner (Agno's upsert leaves user_id)"
    stored = await app.database().memories.get_memory("m1")
    assert stored is not None and (stored.input, stored.feedback, stored.created_at) == (None, None, 5)
    assert stored.updated_at is not None and stored.updated_at > 5
    no_user = await app.client.patch("/memories/m1", json={"memory": "x"})
    assert no_user.status_code == 400


async def test_patching_an_unknown_memory_creates_it_as_agno_does(app: Served) -> None:
    created = await app.client.patch("/memories/new-1", json={"memory": "Ana sails", "user_id": "ana"})

    assert created.status_code == 200
    assert (created.json()["memory_id"], created.json()["user_id"]) == ("new-1", "ana")
    stored = await app.database().memories.get_memory("new-1", user_id="ana")
    assert stored is not None and stored.memory == "Ana sails" and stored.topics == []


async def test_deleting_one_or_many_answers_204_and_respects_the_user(app: Served) -> None:
    first = await create(app, "one")
    second = await create(app, "two")
    bobs = await create(app, "three", user_id="bob")

    assert (await app.client.delete(f"/memories/{first['memory_id']}")).status_code == 204
    assert (await app.client.get(f"/memories/{first['memory_id']}")).status_code == 404
    deleted = await app.client.request(
        "DELETE", "/memories", json={"memory_ids": [second["memory_id"], bobs["memory_id"]], "user_id": "bob"}
    )

    assert deleted.status_code == 204
    assert sorted(await listed(app)) == ["two"]
    assert (await app.client.request("DELETE", "/memories", json={"memory_ids": []})).status_code == 422


async def test_deleting_a_memory_of_another_user_answers_204_as_agno_does_and_keeps_it(app: Served) -> None:
    anas = await create(app, "Ana sails")

    deleted = await app.client.delete(f"/memories/{anas['memory_id']}", params={"user_id": "bob"})

    # 204 either way, as in Agno: a 404 would tell bob that the id exists for someone else.
    assert deleted.status_code == 204
    assert await listed(app, user_id="ana") == ["Ana sails"]


async def test_topics_are_listed_once_sorted_and_per_user(app: Served) -> None:
    await create(app, "a", topics=["travel", "drinks"])
    await create(app, "b", topics=["drinks"])
    await create(app, "c", user_id="bob", topics=["work"])

    assert (await app.client.get("/memory_topics")).json() == ["drinks", "travel", "work"]
    assert (await app.client.get("/memory_topics", params={"user_id": "bob"})).json() == ["work"]


async def test_user_stats_count_memories_per_user_latest_first(app: Served) -> None:
    store = app.database().memories
    for memory_id, user_id, updated_at in [("m1", "ana", 100), ("m2", "ana", 300), ("m3", "bob", 200)]:
        await store.upsert_memory(MemoryRow(memory_id=memory_id, memory="x", user_id=user_id, updated_at=updated_at))

    body = (await app.client.get("/user_memory_stats")).json()

    assert body["data"] == [
        {"user_id": "ana", "total_memories": 2, "last_memory_updated_at": "1970-01-01T00:05:00Z"},
        {"user_id": "bob", "total_memories": 1, "last_memory_updated_at": "1970-01-01T00:03:20Z"},
    ]
    assert body["meta"]["total_count"] == 2
    (bob,) = (await app.client.get("/user_memory_stats", params={"user_id": "bob"})).json()["data"]
    assert bob["total_memories"] == 1
    assert (await app.client.get("/user_memory_stats", params={"user_id": "nobody"})).json()["data"] == []
    second_page = (await app.client.get("/user_memory_stats", params={"limit": 1, "page": 2})).json()
    assert [s["user_id"] for s in second_page["data"]] == ["bob"]
