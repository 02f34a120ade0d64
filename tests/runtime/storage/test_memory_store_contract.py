"""The user-memory store contract, run identically on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from agentos_runtime.errors import BadRequest
from agentos_runtime.storage.ports import Database, MemoryQuery, MemoryRow, UserMemoryStats

from tests.support.databases import BACKENDS, fresh_database


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database(request.param, tmp_path) as database:
        yield database


def memory(memory_id: str, text: str = "likes tea", **fields: object) -> MemoryRow:
    values: dict[str, object] = {"user_id": "ana", "created_at": 1_000, "updated_at": 1_000}
    values.update(fields)
    return MemoryRow(memory_id=memory_id, memory=text, **values)  # type: ignore[arg-type]


async def ids(db: Database, query: MemoryQuery) -> list[str]:
    return [row.memory_id for row in (await db.memories.list_memories(query)).items]


async def test_upserted_memory_reads_back_with_every_column(db: Database) -> None:
    row = MemoryRow(
        memory_id="m1",
        memory="Prefers window seats",
        user_id="ana",
        agent_id="travel",
        team_id="crew",
        topics=["travel", "preferences"],
        input="I always take the window",
        feedback="good",
        created_at=1_700_000_000,
        updated_at=1_700_000_050,
    )

    assert await db.memories.upsert_memory(row) == row
    assert await db.memories.get_memory("m1") == row


async def test_memory_text_that_looks_like_json_stays_text(db: Database) -> None:
    for memory_id, text in [("m1", '{"a": 1}'), ("m2", "42"), ("m3", '"quoted"'), ("m4", "[1, 2]")]:
        await db.memories.upsert_memory(memory(memory_id, text))
        stored = await db.memories.get_memory(memory_id)
        assert stored is not None and stored.memory == text


async def test_updating_a_memory_keeps_created_at_and_stamps_updated_at(db: Database) -> None:
    await db.memories.upsert_memory(memory("m1", "likes tea", created_at=500, updated_at=500))

    updated = await db.memories.upsert_memory(memory("m1", "likes green tea", created_at=None, updated_at=None))

    assert updated.memory == "likes green tea"
    assert updated.created_at == 500
    assert updated.updated_at is not None and updated.updated_at > 500
    assert await db.memories.get_memory("m1") == updated


async def test_a_new_memory_without_times_gets_now(db: Database) -> None:
    written = await db.memories.upsert_memory(memory("m1", created_at=None, updated_at=None))

    assert written.created_at is not None and written.created_at > 1_600_000_000
    assert written.updated_at == written.created_at


async def test_get_memory_is_scoped_to_its_user(db: Database) -> None:
    await db.memories.upsert_memory(memory("m1", user_id="ana"))

    assert await db.memories.get_memory("m1", user_id="ana") is not None
    assert await db.memories.get_memory("m1", user_id="bob") is None
    assert await db.memories.get_memory("missing") is None


async def test_list_memories_filters_by_user_agent_and_team(db: Database) -> None:
    await db.memories.upsert_memory(memory("m1", user_id="ana", agent_id="a1", updated_at=3))
    await db.memories.upsert_memory(memory("m2", user_id="ana", team_id="t1", updated_at=2))
    await db.memories.upsert_memory(memory("m3", user_id="bob", agent_id="a1", updated_at=1))

    assert await ids(db, MemoryQuery()) == ["m1", "m2", "m3"]
    assert await ids(db, MemoryQuery(user_id="ana")) == ["m1", "m2"]
    assert await ids(db, MemoryQuery(agent_id="a1")) == ["m1", "m3"]
    assert await ids(db, MemoryQuery(team_id="t1")) == ["m2"]
    assert await ids(db, MemoryQuery(user_id="bob", team_id="t1")) == []


async def test_topics_filter_keeps_memories_having_every_listed_topic(db: Database) -> None:
    await db.memories.upsert_memory(memory("m1", topics=["food", "drinks"], updated_at=3))
    await db.memories.upsert_memory(memory("m2", topics=["food"], updated_at=2))
    await db.memories.upsert_memory(memory("m3", topics=["foodie"], updated_at=1))

    assert await ids(db, MemoryQuery(topics=["food"])) == ["m1", "m2"]
    assert await ids(db, MemoryQuery(topics=["food", "drinks"])) == ["m1"]
    assert await ids(db, MemoryQuery(topics=["foo"])) == []


async def test_search_content_matches_part_of_the_text_ignoring_case(db: Database) -> None:
    await db.memories.upsert_memory(memory("m1", "Likes GREEN tea", updated_at=3))
    await db.memories.upsert_memory(memory("m2", "Allergic to 50% of nuts", updated_at=2))
    await db.memories.upsert_memory(memory("m3", "Lives in Porto", updated_at=1))

    assert await ids(db, MemoryQuery(search_content="green")) == ["m1"]
    assert await ids(db, MemoryQuery(search_content="50%")) == ["m2"]
    assert await ids(db, MemoryQuery(search_content="%")) == ["m2"]
    assert await ids(db, MemoryQuery(search_content="li")) == ["m1", "m3"]


async def test_search_content_ignores_the_case_of_letters_beyond_ascii_on_every_backend(db: Database) -> None:
    await db.memories.upsert_memory(memory("m1", "Vit à GENÈVE, près du LÉMAN", updated_at=2))
    await db.memories.upsert_memory(memory("m2", "Читает Толстого", updated_at=1))

    assert await ids(db, MemoryQuery(search_content="genève")) == ["m1"]
    assert await ids(db, MemoryQuery(search_content="léman")) == ["m1"]
    assert await ids(db, MemoryQuery(search_content="ТОЛСТ")) == ["m2"]


async def test_search_content_folds_the_letters_python_lowers_unlike_sql_as_sql_does(db: Database) -> None:
    await db.memories.upsert_memory(memory("m1", "Flies to İSTANBUL", updated_at=3))
    await db.memories.upsert_memory(memory("m2", "Lives in istanbul", updated_at=2))
    await db.memories.upsert_memory(memory("m3", "Reads ΟΔΟΣ", updated_at=1))

    assert await ids(db, MemoryQuery(search_content="İstanbul")) == ["m1", "m2"]
    assert await ids(db, MemoryQuery(search_content="odos")) == []
    assert await ids(db, MemoryQuery(search_content="οδοσ")) == ["m3"]
    assert await ids(db, MemoryQuery(search_content="ΟΔΟΣ")) == ["m3"]


async def test_list_memories_sorts_and_pages_with_the_total_of_all_matches(db: Database) -> None:
    for index in range(5):
        await db.memories.upsert_memory(memory(f"m{index}", created_at=100 + index, updated_at=900 - index))

    first = await db.memories.list_memories(MemoryQuery(limit=2))
    third = await db.memories.list_memories(MemoryQuery(limit=2, page=3))
    by_creation = await db.memories.list_memories(MemoryQuery(sort_by="created_at", sort_order="desc", limit=2))

    assert [row.memory_id for row in first.items] == ["m0", "m1"]
    assert [row.memory_id for row in third.items] == ["m4"]
    assert (first.total, third.total) == (5, 5)
    assert [row.memory_id for row in by_creation.items] == ["m4", "m3"]
    with pytest.raises(BadRequest):
        await db.memories.list_memories(MemoryQuery(page=0))


async def test_delete_memories_deletes_only_the_users_memories(db: Database) -> None:
    await db.memories.upsert_memory(memory("m1", user_id="ana"))
    await db.memories.upsert_memory(memory("m2", user_id="bob"))
    await db.memories.upsert_memory(memory("m3", user_id="ana"))

    assert await db.memories.delete_memories(["m1", "m2", "missing"], user_id="ana") == 1
    assert await db.memories.get_memory("m1") is None
    assert await db.memories.get_memory("m2") is not None
    assert await db.memories.delete_memories(["m2", "m3"]) == 2
    assert await db.memories.delete_memories([]) == 0
    assert (await db.memories.list_memories(MemoryQuery())).total == 0


async def test_list_topics_gives_each_topic_once_sorted_for_one_user_or_all(db: Database) -> None:
    await db.memories.upsert_memory(memory("m1", user_id="ana", topics=["food", "travel"]))
    await db.memories.upsert_memory(memory("m2", user_id="ana", topics=["food"]))
    await db.memories.upsert_memory(memory("m3", user_id="bob", topics=["work"]))
    await db.memories.upsert_memory(memory("m4", user_id="bob"))

    assert await db.memories.list_topics() == ["food", "travel", "work"]
    assert await db.memories.list_topics(user_id="ana") == ["food", "travel"]
    assert await db.memories.list_topics(user_id="nobody") == []


async def test_user_memory_stats_count_each_users_memories_latest_update_first(db: Database) -> None:
    await db.memories.upsert_memory(memory("m1", user_id="ana", updated_at=100))
    await db.memories.upsert_memory(memory("m2", user_id="ana", updated_at=300))
    await db.memories.upsert_memory(memory("m3", user_id="bob", updated_at=200))
    await db.memories.upsert_memory(memory("m4", user_id="cid", updated_at=400))
    await db.memories.upsert_memory(memory("m5", user_id=None, updated_at=999))

    everyone = await db.memories.user_memory_stats()
    second_page = await db.memories.user_memory_stats(limit=2, page=2)

    assert everyone.items == [
        UserMemoryStats("cid", 1, 400),
        UserMemoryStats("ana", 2, 300),
        UserMemoryStats("bob", 1, 200),
    ]
    assert everyone.total == 3
    assert second_page.items == [UserMemoryStats("bob", 1, 200)]
    assert second_page.total == 3


async def test_utf8_memories_and_topics_round_trip_and_match(db: Database) -> None:
    row = memory("记忆-1", "喜欢会话缓存 and naïve café", user_id="用户", topics=["会话", "缓存"])

    assert await db.memories.upsert_memory(row) == row
    assert await db.memories.get_memory("记忆-1") == row
    assert await ids(db, MemoryQuery(search_content="会话缓存", topics=["缓存"])) == ["记忆-1"]
    assert await db.memories.list_topics(user_id="用户") == ["会话", "缓存"]


async def test_changing_a_memorys_user_moves_it_to_the_new_user(db: Database) -> None:
    await db.memories.upsert_memory(memory("m1", user_id="ana"))

    await db.memories.upsert_memory(replace(memory("m1"), user_id="bob"))

    assert await ids(db, MemoryQuery(user_id="ana")) == []
    assert await ids(db, MemoryQuery(user_id="bob")) == ["m1"]
    assert await db.memories.list_topics(user_id="ana") == []


async def test_updating_a_memory_rewrites_only_one_still_stored_and_of_its_user(db: Database) -> None:
    await db.memories.upsert_memory(memory("m1", topics=["a"]))
    await db.memories.upsert_memory(memory("m2", user_id="bob"))
    read = await db.memories.get_memory("m1", user_id="ana")
    assert read is not None

    updated = await db.memories.update_memory(replace(read, memory="likes green tea", updated_at=None), user_id="ana")
    assert updated is not None and (updated.memory, updated.created_at) == ("likes green tea", 1_000)
    assert await db.memories.update_memory(memory("m2", "taken over"), user_id="ana") is None
    assert (await db.memories.get_memory("m2")).memory == "likes tea"  # type: ignore[union-attr]

    # Read, then deleted (the user's "forget it"), then the update lands: it stays deleted.
    assert await db.memories.delete_memories(["m1"], user_id="ana") == 1
    assert await db.memories.update_memory(replace(read, memory="back again"), user_id="ana") is None
    assert await db.memories.update_memory(replace(read, memory="back again")) is None
    assert await db.memories.get_memory("m1") is None
    assert await ids(db, MemoryQuery(user_id="ana")) == []
