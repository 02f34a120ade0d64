"""Every knowledge store keeps the same contract, on SQLite (sqlite-vec) and PostgreSQL (pgvector)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from agentos_runtime.errors import AgentOSError, BadRequest, Conflict, StorageUnavailable
from agentos_runtime.knowledge.records import Chunk, Content
from agentos_runtime.knowledge.stores.checking import IncompatibleStore, UnstorableData

from tests.runtime.knowledge.stores.conftest import DIMENSIONS, KnowledgeSpot
from tests.support.fake_embeddings import fake_embedding

TEXTS = {
    "vacation": "The vacation policy gives every employee 25 days off per year.",
    "expenses": "Expense reports need receipts and are paid at the end of the month.",
    "badges": "Security badges open the office doors; report a lost badge at once.",
}


def content(content_id: str, base: str = "docs", **fields: Any) -> Content:
    values: dict[str, Any] = {"name": f"{content_id}.md", "created_at": 100, "updated_at": 100, **fields}
    return Content(id=content_id, linked_to=base, **values)


def chunk(content_id: str, text: str, *, chunk_id: str | None = None, **meta: Any) -> Chunk:
    return Chunk(
        id=chunk_id or f"{content_id}-{abs(hash(text)) % 10**8}",
        content_id=content_id,
        name=f"{content_id}.md",
        content=text,
        embedding=fake_embedding(text, DIMENSIONS),
        meta_data=dict(meta),
        content_hash=f"hash-{content_id}",
    )


async def stored(spot: KnowledgeSpot, content_id: str, *texts: str, base: str = "docs", **meta: Any) -> Any:
    """A store of ``base`` holding one completed content with a chunk per text."""
    store = await spot.open(base)
    await store.add_content(content(content_id, base))
    assert await store.complete_content(content_id, [chunk(content_id, text, **meta) for text in texts], updated_at=200)
    return store


def query(text: str) -> list[float]:
    return fake_embedding(text, DIMENSIONS)


def cosine_distance(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return 1.0 - dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


async def test_a_content_reads_back_as_it_was_added(spot: KnowledgeSpot) -> None:
    store = await spot.open()
    added = content(
        "c1",
        description="Leave rules",
        type="md",
        size=1234,
        metadata={"team": "hr", "year": 2026, "tags": ["policy", "naïve ☃"]},
        external_id="ext-1",
    )
    await store.add_content(added)

    assert await store.get_content("c1") == added
    assert await store.get_content("missing") is None


async def test_adding_a_content_id_twice_is_a_conflict_and_keeps_the_first(spot: KnowledgeSpot) -> None:
    store = await spot.open()
    await store.add_content(content("c1", name="first"))

    with pytest.raises(Conflict, match="'c1' already exists"):
        await store.add_content(content("c1", name="second"))

    found = await store.get_content("c1")
    assert found is not None and found.name == "first"


async def test_a_base_sees_only_its_own_rows_of_the_shared_contents_table(spot: KnowledgeSpot) -> None:
    docs, other = await spot.open("docs"), await spot.open("other")
    await docs.add_content(content("c1", "docs"))
    await other.add_content(content("c2", "other"))

    assert await other.get_content("c1") is None
    assert [c.id for c in (await docs.list_contents(page=1, limit=10))[0]] == ["c1"]
    assert await other.update_content(content("c1", "other", name="stolen")) is False
    assert await other.delete_content("c1") is False
    assert await other.delete_all() == 1
    assert await docs.get_content("c1") is not None


async def test_list_gives_one_sorted_page_and_the_total(spot: KnowledgeSpot) -> None:
    store = await spot.open()
    for i, name in enumerate(["delta", "alpha", "echo", "charlie", "bravo"], start=1):
        await store.add_content(content(f"c{i}", name=name, created_at=i, size=10 * i))

    newest, total = await store.list_contents(page=1, limit=2)
    assert [c.id for c in newest] == ["c5", "c4"] and total == 5
    last, total = await store.list_contents(page=3, limit=2)
    assert [c.id for c in last] == ["c1"] and total == 5
    by_name, _ = await store.list_contents(page=1, limit=5, sort_by="name", sort_order="asc")
    assert [c.name for c in by_name] == ["alpha", "bravo", "charlie", "delta", "echo"]
    by_size, _ = await store.list_contents(page=2, limit=2, sort_by="size", sort_order="desc")
    assert [c.size for c in by_size] == [30, 20]
    assert await store.list_contents(page=9, limit=2) == ([], 5)


async def test_an_update_overwrites_the_editable_fields_and_reports_a_missing_row(spot: KnowledgeSpot) -> None:
    store = await spot.open()
    await store.add_content(content("c1", type="md", size=5))
    edited = content(
        "c1", name="renamed", description="new", metadata={"k": "v"}, status="failed", status_message="why"
    )
    edited.updated_at = 300

    assert await store.update_content(edited) is True
    found = await store.get_content("c1")
    assert found is not None
    assert (found.name, found.description, found.metadata, found.status, found.status_message, found.updated_at) == (
        "renamed",
        "new",
        {"k": "v"},
        "failed",
        "why",
        300,
    )
    assert (found.type, found.size) == ("md", 5)
    assert await store.update_content(content("missing")) is False


async def test_an_edit_overwrites_name_description_and_time_merges_metadata_but_never_the_status(
    spot: KnowledgeSpot,
) -> None:
    store = await spot.open()
    await store.add_content(content("c1", metadata={"kept": 1}))
    read_while_processing = await store.get_content("c1")
    assert read_while_processing is not None
    assert await store.complete_content("c1", [chunk("c1", TEXTS["vacation"])], updated_at=200)
    read_while_processing.name, read_while_processing.metadata = "renamed", {"ignored": "the row's is merged"}
    read_while_processing.description, read_while_processing.updated_at = "new", 300

    assert await store.edit_content(read_while_processing, metadata={"k": "v"}) is True
    found = await store.get_content("c1")
    assert found is not None
    assert (found.name, found.description, found.updated_at) == ("renamed", "new", 300)
    assert found.metadata == {"kept": 1, "k": "v"}
    assert (found.status, found.status_message) == ("completed", None)
    assert await store.counts() == (1, 1)
    assert await store.edit_content(content("missing")) is False
    other = await spot.open("other")
    assert await other.edit_content(content("c1", "other", name="stolen")) is False


async def test_edited_metadata_replaces_the_keys_it_names_whole_in_the_content_and_its_chunks_as_agno_merges(
    spot: KnowledgeSpot,
) -> None:
    stored_metadata = {"team": "hr", "year": 2025, "nested": {"a": 1, "b": 2}, "flag": True, "none": None}
    store = await spot.open()
    await store.add_content(content("c1", metadata=stored_metadata))
    chunks = [chunk("c1", TEXTS["vacation"], **stored_metadata, chunk=1)]
    assert await store.complete_content("c1", chunks, updated_at=200)
    patch = {"team": "eng", "nested": {"c": [1, "two", None, False]}, "new": 1.5, "ünï \"key'": "odd"}

    readback = await store.get_content("c1")
    assert readback is not None
    assert await store.edit_content(readback, metadata=patch)

    merged = {"team": "eng", "year": 2025, "nested": {"c": [1, "two", None, False]}, "flag": True, "none": None}
    merged.update({"new": 1.5, "ünï \"key'": "odd"})
    found = await store.get_content("c1")
    assert found is not None and found.metadata == merged
    [hit] = await store.search(query(TEXTS["vacation"]), limit=5, filters={"team": "eng"})
    assert hit.meta_data == {**merged, "chunk": 1}
    assert await store.search(query(TEXTS["vacation"]), limit=5, filters={"team": "hr"}) == []
    assert await store.search(query(TEXTS["vacation"]), limit=5, filters={"flag": True, "year": 2025})


async def test_an_edit_leaves_every_value_it_does_not_name_exactly_as_stored(spot: KnowledgeSpot) -> None:
    exact = {"big": 2**70, "float": 0.1 + 0.2, "tiny": 5e-324, "negative": -(2**63), "digits": "1.10"}
    store = await spot.open()
    await store.add_content(content("c1", metadata=exact))
    assert await store.complete_content("c1", [chunk("c1", TEXTS["vacation"], **exact)], updated_at=200)
    readback = await store.get_content("c1")
    assert readback is not None

    assert await store.edit_content(readback, metadata={"new": 1})

    found = await store.get_content("c1")
    assert found is not None and found.metadata == {**exact, "new": 1}
    [hit] = await store.search(query(TEXTS["vacation"]), limit=1)
    assert hit.meta_data == {**exact, "new": 1}
    assert await store.search(query(TEXTS["vacation"]), limit=1, filters={"float": 0.1 + 0.2, "new": 1})


async def test_an_edit_made_while_a_content_is_processed_reaches_the_chunks_written_after_it(
    spot: KnowledgeSpot,
) -> None:
    store = await spot.open()
    await store.add_content(content("c1", metadata={"team": "hr", "year": 2025}))
    processing = await store.get_content("c1")
    assert processing is not None
    # Processing built its chunks from the metadata it read; the edit lands before they are written.
    built = [chunk("c1", TEXTS["vacation"], team="hr", year=2025, chunk=1, linked_to="docs")]
    assert await store.edit_content(processing, metadata={"team": "eng", "chunk": "a user's key"})

    assert await store.complete_content("c1", built, updated_at=200)

    [hit] = await store.search(query(TEXTS["vacation"]), limit=5, filters={"team": "eng"})
    assert hit.meta_data == {"team": "eng", "year": 2025, "chunk": 1, "linked_to": "docs"}, "its own keys kept"
    assert await store.search(query(TEXTS["vacation"]), limit=5, filters={"team": "hr"}) == []


async def test_a_restart_marks_a_content_processing_again_and_leaves_its_name_and_metadata(spot: KnowledgeSpot) -> None:
    store = await spot.open()
    await store.add_content(content("c1"))
    await store.fail_content("c1", "the fetch failed", updated_at=200)
    edited = await store.get_content("c1")
    assert edited is not None
    edited.name, edited.updated_at = "renamed", 250
    assert await store.edit_content(edited, metadata={"k": "v"})

    assert await store.restart_content("c1", updated_at=300) is True
    found = await store.get_content("c1")
    assert found is not None
    assert (found.status, found.status_message, found.updated_at) == ("processing", None, 300)
    assert (found.name, found.metadata) == ("renamed", {"k": "v"})
    assert await store.restart_content("missing", updated_at=300) is False
    other = await spot.open("other")
    assert await other.restart_content("c1", updated_at=300) is False


async def test_completing_a_content_writes_its_chunks_and_marks_it_completed(spot: KnowledgeSpot) -> None:
    store = await spot.open()
    await store.add_content(content("c1", status_message="working"))
    chunks = [chunk("c1", TEXTS["vacation"], page=1), chunk("c1", TEXTS["expenses"], page=2)]

    assert await store.complete_content("c1", chunks, updated_at=200) is True

    found = await store.get_content("c1")
    assert found is not None
    assert (found.status, found.status_message, found.updated_at) == ("completed", None, 200)
    hits = await store.search(query("vacation policy days"), limit=5)
    assert [hit.id for hit in hits] == [chunks[0].id, chunks[1].id]
    assert (hits[0].content, hits[0].content_id, hits[0].name, hits[0].meta_data) == (
        TEXTS["vacation"],
        "c1",
        "c1.md",
        {"page": 1},
    )
    assert await store.counts() == (1, 2)


async def test_completing_again_replaces_the_chunks(spot: KnowledgeSpot) -> None:
    store = await stored(spot, "c1", TEXTS["vacation"], TEXTS["expenses"])

    assert await store.complete_content("c1", [chunk("c1", TEXTS["badges"])], updated_at=300)

    hits = await store.search(query("anything"), limit=10)
    assert [hit.content for hit in hits] == [TEXTS["badges"]]


async def test_completing_a_deleted_content_writes_nothing_and_says_so(spot: KnowledgeSpot) -> None:
    store = await spot.open()
    await store.add_content(content("c1"))
    assert await store.delete_content("c1") is True

    assert await store.complete_content("c1", [chunk("c1", TEXTS["vacation"])], updated_at=200) is False

    assert await store.search(query("vacation"), limit=5) == []
    assert await store.get_content("c1") is None
    assert await store.counts() == (0, 0)


async def test_failing_a_content_marks_it_failed_and_removes_its_chunks(spot: KnowledgeSpot) -> None:
    store = await stored(spot, "c1", TEXTS["vacation"])

    await store.fail_content("c1", "embedding failed: rate limited", updated_at=300)

    found = await store.get_content("c1")
    assert found is not None
    assert (found.status, found.status_message, found.updated_at) == ("failed", "embedding failed: rate limited", 300)
    assert await store.search(query("vacation"), limit=5) == []


async def test_a_chunk_refused_midway_leaves_nothing_searchable_and_the_status_unchanged(spot: KnowledgeSpot) -> None:
    store = await stored(spot, "c1", TEXTS["vacation"])
    taken = (await store.search(query(TEXTS["vacation"]), limit=1))[0].id
    await store.add_content(content("c2"))
    chunks = [chunk("c2", TEXTS["expenses"]), chunk("c2", TEXTS["badges"]), chunk("c2", "clash", chunk_id=taken)]

    with pytest.raises(UnstorableData, match="refused the data"):
        await store.complete_content("c2", chunks, updated_at=300)

    found = await store.get_content("c2")
    assert found is not None and (found.status, found.updated_at) == ("processing", 100)
    assert [hit.content_id for hit in await store.search(query("anything"), limit=10)] == ["c1"]


@pytest.mark.parametrize("spot", ["postgres"], indirect=True)
async def test_a_value_past_a_limit_of_postgresql_is_refused_as_data_and_nothing_is_written(
    spot: KnowledgeSpot,
) -> None:
    # Agno's btree index on the chunks' name takes at most 2,704 bytes a row.
    store = await spot.open()
    await store.add_content(content("c1"))
    unindexable = "".join(chr(0x4E00 + (i * 7919) % 20_000) for i in range(1_000))  # 3,000 bytes, not compressible
    named = Chunk(id="c1-1", content_id="c1", name=unindexable, content="x", embedding=query("x"))

    with pytest.raises(UnstorableData, match="refused the data: too large for the database: index row size"):
        await store.complete_content("c1", [named], updated_at=200)

    found = await store.get_content("c1")
    assert found is not None and found.status == "processing"
    assert await store.counts() == (1, 0)


async def test_an_embedding_of_the_wrong_length_is_refused_before_anything_is_written(spot: KnowledgeSpot) -> None:
    store = await spot.open()
    await store.add_content(content("c1"))
    short = Chunk(id="bad", content_id="c1", name="c1.md", content="x", embedding=[1.0] * (DIMENSIONS - 1))

    with pytest.raises(UnstorableData, match=f"embedding of {DIMENSIONS - 1} dimensions.*holds {DIMENSIONS}"):
        await store.complete_content("c1", [chunk("c1", TEXTS["vacation"]), short], updated_at=200)

    found = await store.get_content("c1")
    assert found is not None and found.status == "processing"
    assert await store.counts() == (1, 0)


async def test_deleting_a_content_removes_its_chunks_and_no_other(spot: KnowledgeSpot) -> None:
    store = await stored(spot, "c1", TEXTS["vacation"])
    await store.add_content(content("c2"))
    await store.complete_content("c2", [chunk("c2", TEXTS["expenses"])], updated_at=200)

    assert await store.delete_content("c1") is True
    assert await store.delete_content("c1") is False

    assert [hit.content_id for hit in await store.search(query("anything"), limit=10)] == ["c2"]
    assert await store.counts() == (1, 1)


async def test_deleting_everything_removes_every_content_and_chunk_of_the_base(spot: KnowledgeSpot) -> None:
    store = await stored(spot, "c1", TEXTS["vacation"], TEXTS["expenses"])
    await store.add_content(content("c2"))

    assert await store.delete_all() == 2

    assert await store.counts() == (0, 0)
    assert await store.search(query("vacation"), limit=5) == []
    assert await store.list_contents(page=1, limit=10) == ([], 0)


async def test_a_user_reads_and_searches_their_own_contents_and_shared_ones_and_deletes_only_their_own(
    spot: KnowledgeSpot,
) -> None:
    store = await spot.open()
    owners = {"shared": None, "bobs": "bob", "alices": "alice"}
    texts = {"shared": TEXTS["vacation"], "bobs": TEXTS["expenses"], "alices": TEXTS["badges"]}
    for content_id, owner in owners.items():
        await store.add_content(content(content_id, user_id=owner))
        assert await store.complete_content(content_id, [chunk(content_id, texts[content_id])], updated_at=200)

    assert (await store.get_content("bobs", user_id="bob")).user_id == "bob"
    assert await store.get_content("alices", user_id="bob") is None
    assert (await store.get_content("shared", user_id="bob")).user_id is None
    assert (await store.get_content("alices")).user_id == "alice"
    listed, total = await store.list_contents(page=1, limit=10, user_id="bob")
    assert (sorted(c.id for c in listed), total) == (["bobs", "shared"], 2)
    assert (await store.list_contents(page=1, limit=10))[1] == 3
    for limit in (1, 10_000):  # sqlite-vec's nearest-k scan, and every chunk ranked
        found = await store.search(query(TEXTS["badges"]), limit=limit, user_id="bob")
        assert {hit.content_id for hit in found} <= {"bobs", "shared"} and found
    every = await store.search(query(TEXTS["badges"]), limit=3)
    assert {hit.content_id for hit in every} == set(owners)

    assert await store.delete_all(user_id="bob") == 1
    remaining, _ = await store.list_contents(page=1, limit=10)
    assert sorted(c.id for c in remaining) == ["alices", "shared"]
    left = await store.search(query(TEXTS["expenses"]), limit=10)
    assert {hit.content_id for hit in left} == {"alices", "shared"}, "bob's chunks went with his content"


async def test_search_returns_the_nearest_chunks_first_with_their_cosine_distances(spot: KnowledgeSpot) -> None:
    store = await stored(spot, "c1", *TEXTS.values())
    asked = query("how many vacation days off per year")

    hits = await store.search(asked, limit=2)

    assert [hit.content for hit in hits][0] == TEXTS["vacation"]
    assert len(hits) == 2
    assert hits[0].distance <= hits[1].distance
    for hit in hits:
        assert hit.distance == pytest.approx(cosine_distance(asked, query(hit.content)), abs=1e-5)
    exact = await store.search(query(TEXTS["badges"]), limit=1)
    assert exact[0].content == TEXTS["badges"] and exact[0].distance == pytest.approx(0.0, abs=1e-5)


async def test_search_keeps_the_chunks_whose_meta_data_has_every_filter(spot: KnowledgeSpot) -> None:
    store = await spot.open()
    await store.add_content(content("c1"))
    await store.complete_content(
        "c1",
        [
            chunk("c1", TEXTS["vacation"], team="hr", year=2026, public=True, tags=["policy", "leave"]),
            chunk("c1", TEXTS["expenses"], team="finance", year=2026, public=False, tags=["money"]),
            chunk("c1", TEXTS["badges"], team="security", year="2026", public=1, tags=[]),
        ],
        updated_at=200,
    )

    async def found(**filters: Any) -> list[str]:
        return sorted(hit.content for hit in await store.search(query("policy"), limit=10, filters=filters))

    assert await found(team="hr") == [TEXTS["vacation"]]
    assert await found(year=2026) == sorted([TEXTS["vacation"], TEXTS["expenses"]])
    assert await found(year="2026") == [TEXTS["badges"]]
    assert await found(public=True) == [TEXTS["vacation"]]
    assert await found(public=1) == [TEXTS["badges"]]
    assert await found(tags=["leave"]) == [TEXTS["vacation"]]
    assert await found(team="finance", year=2026) == [TEXTS["expenses"]]
    assert await found(team="nobody") == []


async def test_a_filtered_search_finds_every_match_behind_many_nearer_chunks(spot: KnowledgeSpot) -> None:
    store = await spot.open()
    await store.add_content(content("c1"))
    near = [chunk("c1", f"vacation policy days {i}", chunk_id=f"near-{i}", team="a") for i in range(300)]
    far = [chunk("c1", f"badge office door number {i}", chunk_id=f"far-{i}", team="b") for i in range(4)]
    await store.complete_content("c1", near + far, updated_at=200)

    hits = await store.search(query("vacation policy days"), limit=3, filters={"team": "b"})

    assert len(hits) == 3 and {hit.meta_data["team"] for hit in hits} == {"b"}
    assert [hit.distance for hit in hits] == sorted(hit.distance for hit in hits)
    assert len(await store.search(query("vacation policy days"), limit=10, filters={"team": "b"})) == 4


async def test_search_never_returns_chunks_of_another_base_on_the_same_database(spot: KnowledgeSpot) -> None:
    await stored(spot, "c1", TEXTS["vacation"], base="docs")
    other = await stored(spot, "c2", TEXTS["expenses"], base="other")

    hits = await other.search(query(TEXTS["vacation"]), limit=10)

    assert [hit.content_id for hit in hits] == ["c2"]


async def test_stale_processing_contents_are_found_until_their_heartbeat_moves(spot: KnowledgeSpot) -> None:
    store = await spot.open()
    await store.add_content(content("old", updated_at=100))
    await store.add_content(content("fresh", updated_at=500))
    await store.add_content(content("done", updated_at=100, status="completed"))

    assert [c.id for c in await store.stale_contents(updated_before=400)] == ["old"]
    await store.touch_contents(["old", "done"], updated_at=450)
    assert await store.stale_contents(updated_before=400) == []
    done = await store.get_content("done")
    assert done is not None and done.updated_at == 100
    await store.touch_contents([], updated_at=999)


async def test_counts_are_the_contents_and_chunks_of_the_base(spot: KnowledgeSpot) -> None:
    store = await stored(spot, "c1", *TEXTS.values())
    await store.add_content(content("c2"))
    await stored(spot, "c3", TEXTS["vacation"], base="other")

    assert await store.counts() == (2, 3)


async def test_preparing_twice_and_from_two_replicas_at_once_is_safe(spot: KnowledgeSpot) -> None:
    first = await spot.open(prepare=False)
    second = await spot.open(prepare=False)
    third = await spot.open("other", prepare=False)

    await asyncio.gather(first.prepare(), second.prepare(), third.prepare())
    await first.prepare()

    await first.add_content(content("c1"))
    assert await second.get_content("c1") is not None


async def test_hostile_text_is_stored_with_nul_and_lone_surrogates_replaced(spot: KnowledgeSpot) -> None:
    store = await spot.open()
    await store.add_content(
        content("c1", name="bad\x00name\ud800", description="d\udfff", metadata={"k\x00": "v\x00\ud83d", "n": [1]})
    )
    huge = "vacation " + "ünïcødé ☃ 日本語 " * 60_000
    chunks = [
        chunk("c1", "nul\x00inside text", chunk_id="nul", note="x\x00y"),
        chunk("c1", "lone \ud800 surrogate", chunk_id="surrogate"),
        chunk("c1", huge, chunk_id="huge"),
        chunk("c1", "emoji 😀 and 🇫🇷", chunk_id="emoji"),
    ]

    assert await store.complete_content("c1", chunks, updated_at=200)

    found = await store.get_content("c1")
    assert found is not None
    assert (found.name, found.description, found.metadata) == (
        "bad\ufffdname\ufffd",
        "d\ufffd",
        {"k\ufffd": "v\ufffd\ufffd", "n": [1]},
    )
    hits = {hit.id: hit for hit in await store.search(query("vacation"), limit=10)}
    # A chunk's metadata is its content's (as stored when it is written) with its own keys.
    assert hits["nul"].content == "nul\ufffdinside text"
    assert hits["nul"].meta_data == {"note": "x\ufffdy", "k\ufffd": "v\ufffd\ufffd", "n": [1]}
    assert hits["surrogate"].content == "lone \ufffd surrogate"
    assert hits["huge"].content == huge and len(huge.encode()) > 1_000_000
    assert hits["emoji"].content == "emoji 😀 and 🇫🇷"


async def test_metadata_that_is_not_json_is_refused_naming_the_field(spot: KnowledgeSpot) -> None:
    store = await spot.open()

    with pytest.raises(UnstorableData, match="metadata is not JSON"):
        await store.add_content(content("c1", metadata={"when": object()}))

    assert await store.get_content("c1") is None


async def test_a_chunk_table_of_other_dimensions_is_a_clear_error_at_prepare(spot: KnowledgeSpot) -> None:
    await spot.open("docs", dimensions=DIMENSIONS)
    store = await spot.open("docs", dimensions=DIMENSIONS * 2, prepare=False)

    with pytest.raises(IncompatibleStore) as raised:
        await store.prepare()

    message = str(raised.value)
    assert "knowledge_docs" in message and f"{DIMENSIONS} dimensions" in message
    assert f"configured for {DIMENSIONS * 2}" in message and f"set embedder.dimensions to {DIMENSIONS}" in message


async def test_an_unreachable_database_is_storage_unavailable_without_its_location(spot: KnowledgeSpot) -> None:
    if spot.kind == "postgres":
        spot.environ["DATABASE_URL"] = "postgresql://app:s3cret-pw@127.0.0.1:1/knowledge"
        secrets = ["s3cret-pw", "127.0.0.1"]
    else:
        spot.data_dir.parent.mkdir(parents=True, exist_ok=True)
        spot.data_dir.write_text("a file where the data directory should be")
        secrets = []
    store = await spot.open(prepare=False)

    with pytest.raises(StorageUnavailable) as raised:
        await store.prepare()

    assert not isinstance(raised.value, IncompatibleStore)
    assert all(secret not in str(raised.value) for secret in secrets)
    assert isinstance(raised.value, AgentOSError)


@pytest.mark.parametrize("odd_id", ["nul\x00id", "lone\ud800id", "😀" * 300])
async def test_an_id_no_database_can_hold_is_simply_not_found(spot: KnowledgeSpot, odd_id: str) -> None:
    store = await stored(spot, "c1", TEXTS["vacation"])

    assert await store.get_content(odd_id) is None
    assert await store.delete_content(odd_id) is False
    assert await store.complete_content(odd_id, [], updated_at=300) is False
    await store.fail_content(odd_id, "gone", updated_at=300)
    await store.touch_contents([odd_id], updated_at=300)
    assert await store.update_content(content(odd_id)) is False
    assert await store.counts() == (1, 1)


async def test_filters_with_nul_or_lone_surrogates_match_the_text_as_it_was_stored(spot: KnowledgeSpot) -> None:
    store = await stored(spot, "c1", TEXTS["vacation"], note="x\x00y", **{"k\ud800": "v"})

    assert len(await store.search(query("vacation"), limit=5, filters={"note": "x\x00y"})) == 1
    assert len(await store.search(query("vacation"), limit=5, filters={"k\ud800": "v"})) == 1
    assert await store.search(query("vacation"), limit=5, filters={"note": "xy"}) == []


async def test_a_page_below_one_is_a_bad_request(spot: KnowledgeSpot) -> None:
    store = await spot.open()

    with pytest.raises(BadRequest, match="page"):
        await store.list_contents(page=0, limit=10)


async def test_a_search_asking_for_more_chunks_than_any_scan_returns_gives_them_all_nearest_first(
    spot: KnowledgeSpot,
) -> None:
    store = await stored(spot, "c1", *TEXTS.values(), team="hr")

    for filters in (None, {"team": "hr"}):
        hits = await store.search(query("vacation policy"), limit=5000, filters=filters)
        assert len(hits) == 3 and hits[0].content == TEXTS["vacation"]
        assert [hit.distance for hit in hits] == sorted(hit.distance for hit in hits)


async def test_list_and_nested_filters_match_as_postgresql_containment(spot: KnowledgeSpot) -> None:
    store = await spot.open()
    await store.add_content(content("c1"))
    await store.complete_content(
        "c1",
        [
            chunk("c1", TEXTS["vacation"], tags=["policy", "leave", 3], info={"a": 1, "b": [2]}, **{"it's": "x"}),
            chunk("c1", TEXTS["expenses"], tags="leave", info={"a": 2}),
        ],
        updated_at=200,
    )

    async def found(**filters: Any) -> list[str]:
        return [hit.content for hit in await store.search(query("policy"), limit=10, filters=filters)]

    assert await found(tags=["leave", "policy"]) == [TEXTS["vacation"]]
    assert await found(tags=[3.0]) == [TEXTS["vacation"]]
    assert await found(tags=["leave", "missing"]) == []
    assert await found(tags="leave") == [TEXTS["expenses"]]
    assert await found(tags=[]) == [TEXTS["vacation"]]
    assert await found(info={"a": 1}) == [TEXTS["vacation"]]
    assert await found(info={"b": [2]}) == [TEXTS["vacation"]]
    assert await found(info={"a": 3}) == []
    assert await found(**{"it's": "x"}) == [TEXTS["vacation"]]
