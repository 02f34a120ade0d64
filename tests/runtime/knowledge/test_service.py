"""A knowledge base as the routes and runs use it: add, process, search, list, update, delete,
on SQLite (sqlite-vec) and PostgreSQL (pgvector)."""

from __future__ import annotations

import logging
import tracemalloc
from pathlib import Path

import pytest
import yaml
from agentos_runtime.config import RuntimeConfig
from agentos_runtime.config.knowledge import KnowledgeBaseConfig
from agentos_runtime.errors import BadRequest, NotFound
from agentos_runtime.knowledge.base import Upload, check_upload
from agentos_runtime.knowledge.metrics import KnowledgeMetrics
from agentos_runtime.knowledge.reading import ContentTooLarge, UnsupportedContent
from agentos_runtime.observability.startup import startup_lines
from agentos_runtime.storage.factory import open_database

from tests.runtime.api.harness import build_app
from tests.runtime.knowledge.hubs import KnowledgeSpace, provider_error
from tests.support.fake_openai import EmbeddingReply, FakeOpenAIServer, fake_openai, fake_openai_server

__all__ = ["fake_openai", "fake_openai_server"]


VACATION = "Vacation policy: every employee gets 30 days of paid vacation per year."
EXPENSES = "Expense reports are due on the fifth working day of each month."


async def test_added_text_is_processing_then_completed_and_found_by_a_search(space: KnowledgeSpace) -> None:
    hub = await space.open()
    docs = hub["docs"]

    added = await docs.add(Upload(name="handbook", text=VACATION, metadata={"team": "hr"}))
    await docs.add(Upload(name="finance", text=EXPENSES))

    assert added.status == "processing"
    assert (added.type, added.size, added.linked_to) == ("text", len(VACATION), "docs")
    await docs.wait_idle()
    stored = await docs.get(added.id)
    assert (stored.status, stored.status_message, stored.metadata) == ("completed", None, {"team": "hr"})
    hits = await docs.search("how many vacation days do employees get")
    assert hits[0].content == VACATION
    assert hits[0].content_id == added.id
    assert hits[0].meta_data["team"] == "hr"
    assert hits[0].distance < hits[1].distance


async def test_a_file_is_read_by_its_type_and_named_after_it(space: KnowledgeSpace) -> None:
    docs = (await space.open())["docs"]
    html = b"<html><head><title>x</title></head><body><h1>Onboarding</h1><p>Badges are issued at reception.</p></body></html>"

    added = await docs.add(Upload(data=html, filename="onboarding.html", content_type="text/html"))
    await docs.wait_idle()

    assert (added.name, added.type, added.size) == ("onboarding.html", "html", len(html))
    (hit,) = await docs.search("where are badges issued", max_results=1)
    assert "Badges are issued at reception." in hit.content
    assert "<p>" not in hit.content


async def test_a_file_over_the_limit_is_refused_with_413_naming_file_and_nothing_is_stored(
    sqlite_space: KnowledgeSpace,
) -> None:
    docs = (await sqlite_space.open(sqlite_space.base(max_content_bytes=100)))["docs"]

    with pytest.raises(ContentTooLarge) as refused:
        await docs.add(Upload(data=b"x" * 101, filename="big.txt"))

    assert refused.value.status_code == 413
    assert refused.value.detail.startswith("file: 101 bytes is over")
    assert "max_content_bytes" in refused.value.detail
    assert await docs.list() == ([], 0)


async def test_a_file_of_an_unsupported_type_is_refused_with_415(sqlite_space: KnowledgeSpace) -> None:
    docs = (await sqlite_space.open())["docs"]

    with pytest.raises(UnsupportedContent) as refused:
        await docs.add(Upload(data=b"PK\x03\x04", filename="slides.pptx"))

    assert refused.value.status_code == 415
    assert refused.value.detail.startswith("file: ")
    assert ".pptx" in refused.value.detail
    assert await docs.list() == ([], 0)


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (Upload(), "provide exactly one of file, text_content or url"),
        (
            Upload(text="a", url="https://docs.example.com/a"),
            "provide exactly one of file, text_content or url (got text_content, url)",
        ),
        (Upload(text="  \n"), "text_content: the text is empty"),
        (Upload(data=b"", filename="a.txt"), "file: the file is empty"),
        (
            Upload(url="https://docs.example.com/a"),
            "url: this knowledge base fetches no URLs (its allowed_hosts is empty)",
        ),
    ],
)
async def test_an_upload_with_nothing_to_read_or_a_url_not_allowed_is_refused_with_400(
    sqlite_space: KnowledgeSpace, upload: Upload, message: str
) -> None:
    docs = (await sqlite_space.open())["docs"]

    with pytest.raises(BadRequest) as refused:
        await docs.add(upload)

    assert refused.value.status_code == 400
    assert refused.value.detail.startswith(message)


async def test_a_url_on_a_host_not_in_allowed_hosts_is_refused_naming_the_allowed_ones(
    sqlite_space: KnowledgeSpace,
) -> None:
    docs = (await sqlite_space.open(sqlite_space.base(allowed_hosts=["*.example.com"])))["docs"]

    with pytest.raises(BadRequest) as refused:
        await docs.add(Upload(url="https://evil.test/page"))

    assert refused.value.detail == "url: refused: host 'evil.test' is not in allowed_hosts (*.example.com)"


async def test_a_failed_embedding_fails_the_content_with_the_provider_message_and_leaves_nothing_searchable(
    space: KnowledgeSpace,
) -> None:
    docs = (await space.open())["docs"]
    space.embedder.fail_with = provider_error("rate limited by the embeddings endpoint")

    added = await docs.add(Upload(text=VACATION))
    await docs.wait_idle()

    failed = await docs.status(added.id)
    assert failed.status == "failed"
    assert failed.status_message == "embedding failed: rate limited by the embeddings endpoint"
    assert await docs.store.counts() == (1, 0)
    space.embedder.fail_with = None
    assert await docs.search("vacation") == []


async def test_deleting_a_content_removes_its_chunks_from_search(space: KnowledgeSpace) -> None:
    docs = (await space.open())["docs"]
    vacation = await docs.add(Upload(text=VACATION))
    await docs.add(Upload(text=EXPENSES))
    await docs.wait_idle()

    await docs.delete(vacation.id)

    assert [hit.content for hit in await docs.search("vacation days")] == [EXPENSES]
    with pytest.raises(NotFound):
        await docs.get(vacation.id)
    with pytest.raises(NotFound):
        await docs.delete(vacation.id)
    assert await docs.delete_all() == 1
    assert await docs.search("expense reports") == []


async def test_update_changes_name_description_and_metadata_and_an_unknown_id_is_not_found(
    space: KnowledgeSpace,
) -> None:
    docs = (await space.open())["docs"]
    added = await docs.add(Upload(name="old", text=VACATION))
    await docs.wait_idle()
    space.clock.advance(5)

    updated = await docs.update(added.id, name="handbook", metadata={"year": 2026})

    assert (updated.name, updated.description, updated.metadata) == ("handbook", None, {"year": 2026})
    assert updated.updated_at == int(space.clock())
    assert (await docs.get(added.id)).name == "handbook"
    with pytest.raises(NotFound) as missing:
        await docs.update("no-such-id", name="x")
    assert missing.value.detail == "content 'no-such-id' not found in knowledge base 'docs'"


async def test_list_pages_through_the_contents(space: KnowledgeSpace) -> None:
    docs = (await space.open())["docs"]
    for number in range(5):
        await docs.add(Upload(name=f"note {number}", text=f"note number {number}"))
        space.clock.advance(1)
    await docs.wait_idle()

    first, total = await docs.list(page=1, limit=2, sort_by="created_at", sort_order="asc")
    last, _ = await docs.list(page=3, limit=2, sort_by="created_at", sort_order="asc")

    assert total == 5
    assert [c.name for c in first] == ["note 0", "note 1"]
    assert [c.name for c in last] == ["note 4"]


async def test_metrics_count_contents_chunks_embedding_requests_and_searches(sqlite_space: KnowledgeSpace) -> None:
    metrics = KnowledgeMetrics()
    base = sqlite_space.base(embedder={"dimensions": 64, "batch_size": 2}, chunking={"strategy": "fixed", "size": 50})
    docs = (await sqlite_space.open(base, metrics=metrics))["docs"]

    await docs.add(Upload(text="word " * 40))  # 200 characters: 4 chunks of 50, 2 requests of 2
    await docs.wait_idle()
    await docs.search("word")
    sqlite_space.embedder.fail_with = provider_error()
    await docs.add(Upload(text="other"))
    await docs.wait_idle()

    assert metrics.contents.value(("docs",)) == 2
    assert metrics.chunks.value(("docs",)) == 4
    assert metrics.embedding_requests.value(("docs", "ok")) == 3  # two batches and the query
    assert metrics.embedding_requests.value(("docs", "error")) == 1
    assert metrics.ingestions.value(("docs", "completed")) == 1
    assert metrics.ingestions.value(("docs", "failed")) == 1
    assert metrics.search_seconds.count(("docs",)) == 1
    assert metrics.processing.value(("docs",)) == 0
    exposed = metrics.render()
    assert b"# TYPE agentos_knowledge_chunks gauge\n" in exposed
    assert b'agentos_knowledge_chunks{knowledge_base="docs"} 4\n' in exposed


def test_the_start_up_line_of_a_knowledge_base_names_its_database_and_embedder_and_never_the_key(
    tmp_path: Path,
) -> None:
    config = RuntimeConfig.model_validate(
        {
            "databases": [{"id": "main", "type": "postgres"}, {"id": "local", "type": "sqlite"}],
            "knowledge_bases": [
                {"id": "handbook", "sources": [{"path": "/docs"}]},
                {
                    "id": "notes",
                    "db": "local",
                    "embedder": {"base_url": "http://tei:8080/v1", "api_key_env": "TEI_KEY"},
                },
            ],
        }
    )
    environ = {"OPENAI_API_KEY": "sk-secret-value", "DATABASE_URL": "postgresql://u:pw@db/x"}

    lines = startup_lines("c.yaml", config, config.databases, environ, data_dir=tmp_path)
    knowledge = [line for line in lines if line.text.startswith("knowledge base")]

    assert [line.text for line in knowledge] == [
        "knowledge base handbook: database main, embedder text-embedding-3-small at https://api.openai.com/v1, "
        "1 source, key from OPENAI_API_KEY (set)",
        "knowledge base notes: database local, embedder text-embedding-3-small at http://tei:8080/v1, "
        "key from TEI_KEY (not set: called without a key)",
    ]
    assert all("sk-secret-value" not in str(line) for line in lines)
    unset = startup_lines("c.yaml", config, config.databases, {}, data_dir=tmp_path)
    handbook = next(line for line in unset if line.text.startswith("knowledge base handbook"))
    assert handbook.level == logging.WARNING
    assert handbook.text.endswith(
        "(NOT SET): OpenAI refuses requests without a key; "
        "set OPENAI_API_KEY, or point embedder.base_url at a local server"
    )
    assert handbook.fields["key_set"] is False


def app_config(base_url: str, *, api_key_env: str | None = None) -> str:
    embedder = {"model": "text-embedding-3-small", "base_url": base_url, "api_key_env": api_key_env, "dimensions": 64}
    return yaml.safe_dump({"knowledge_bases": [{"id": "docs", "embedder": embedder}]})


async def test_the_app_opens_its_knowledge_bases_on_the_embedded_database_and_embeds_through_the_endpoint(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    app = build_app(app_config(fake_openai.base_url), data_dir=tmp_path, open_database=open_database)

    async with app.router.lifespan_context(app):
        docs = app.state.context.knowledge["docs"]
        added = await docs.add(Upload(text=VACATION))
        await docs.wait_idle()
        hits = await docs.search("paid vacation days")
        exposed = app.state.telemetry.render()

    assert added.status == "processing"
    assert docs.db_id == "agentos-db"
    assert (tmp_path / "agentos.knowledge.db").exists()
    assert [hit.content for hit in hits] == [VACATION]
    assert [r.body["model"] for r in fake_openai.embedding_requests] == ["text-embedding-3-small"] * 2
    assert b'agentos_knowledge_chunks{knowledge_base="docs"} 1' in exposed
    assert b'agentos_knowledge_embedding_requests_total{knowledge_base="docs",outcome="ok"} 2' in exposed


async def test_a_refused_embedder_key_fails_the_content_with_a_message_that_never_carries_the_key(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    key = "sk-test-0123456789abcdef"
    fake_openai.script_embeddings(
        EmbeddingReply.fail(401, f"Incorrect API key provided: {key}.", code="invalid_api_key")
    )
    app = build_app(
        app_config(fake_openai.base_url, api_key_env="EMBED_KEY"),
        data_dir=tmp_path,
        open_database=open_database,
        environ={"EMBED_KEY": key},
    )

    async with app.router.lifespan_context(app):
        docs = app.state.context.knowledge["docs"]
        added = await docs.add(Upload(text=VACATION))
        await docs.wait_idle()
        failed = await docs.get(added.id)

    assert failed.status == "failed"
    assert (failed.status_message or "").startswith("embedding failed: ")
    assert key not in (failed.status_message or "")
    assert key[-8:] not in (failed.status_message or "")
    assert fake_openai.embedding_requests[0].headers["authorization"] == f"Bearer {key}"


async def test_text_with_a_nul_or_a_lone_surrogate_is_stored_cleaned(space: KnowledgeSpace) -> None:
    docs = (await space.open())["docs"]

    added = await docs.add(Upload(text="Caf\ud800 menu\x00 of the day"))
    await docs.wait_idle()

    assert added.name == "Caf\ufffd menu of the day"
    (hit,) = await docs.search("menu of the day")
    assert hit.content == "Caf\ufffd menu of the day"


def test_a_text_of_a_million_lines_is_named_after_its_first_line_without_splitting_all_of_it() -> None:
    config = KnowledgeBaseConfig.model_validate({"id": "docs", "embedder": {"dimensions": 8}})
    text = "  \n Leave policy for every employee of the company, in force from January on, and for all contractors\r\n"
    text += "ab\n" * 1_000_000

    tracemalloc.start()
    try:
        checked = check_upload(Upload(text=text), config)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert checked.name == "Leave policy for every employee of the company, in force from January on, and fo"
    # The text cleaned, encoded and stripped: a few copies. A list of every line was 20 times the text.
    assert peak < 6 * len(text), f"{peak:,} bytes to name {len(text):,}"


def test_a_url_upload_without_a_name_is_named_after_at_most_512_characters_of_it_and_keeps_all_of_it_to_fetch() -> None:
    config = KnowledgeBaseConfig.model_validate(
        {"id": "docs", "embedder": {"dimensions": 8}, "allowed_hosts": ["docs.example.com"]}
    )
    url = "https://docs.example.com/" + "wiki/" * 1_600

    checked = check_upload(Upload(url=url), config)

    assert len(checked.name) == 512 and checked.name == url[:509] + "..."
    assert checked.payload.url == url


async def test_a_url_upload_without_a_name_is_named_without_its_credentials_or_query(
    sqlite_space: KnowledgeSpace,
) -> None:
    docs = (await sqlite_space.open(sqlite_space.base(allowed_hosts=["127.0.0.1:1"])))["docs"]

    added = await docs.add(Upload(url="http://reader:hunter2@127.0.0.1:1/guide.html?token=s3cr3t"))

    assert (added.name, added.type) == ("http://127.0.0.1:1/guide.html", "url")
    await docs.wait_idle()  # nothing listens on port 1: the fetch fails, naming the URL the same way
    failed = await docs.get(added.id)
    assert failed.status_message is not None
    assert failed.status_message.startswith(
        "fetching http://127.0.0.1:1/guide.html failed: no connection (ConnectError) (a temporary failure: retry 1 at"
    )
    assert "hunter2" not in (failed.status_message or "")
    assert "s3cr3t" not in (failed.status_message or "")


async def test_an_app_without_knowledge_bases_has_no_hub(tmp_path: Path) -> None:
    app = build_app(yaml.safe_dump({"agents": []}), data_dir=tmp_path, open_database=open_database)

    async with app.router.lifespan_context(app):
        assert app.state.context.knowledge is None

    assert not (tmp_path / "agentos.knowledge.db").exists()


async def test_a_search_longer_than_the_apis_limit_is_refused_wherever_it_comes_from_before_any_embedding(
    sqlite_space: KnowledgeSpace,
) -> None:
    docs = (await sqlite_space.open())["docs"]
    await docs.search("x" * 32_768)
    embedder = sqlite_space.embedders[-1]
    asked = len(embedder.calls)

    with pytest.raises(BadRequest, match="query: at most 32,768 characters, got 100,000: search with fewer words"):
        await docs.search("word " * 20_000)

    assert asked == 1 and len(embedder.calls) == asked
