"""The ``/knowledge`` routes over HTTP, on SQLite (sqlite-vec) and PostgreSQL (pgvector).

Contents are uploaded, processed in the background by the real pipeline (reader, chunker, the
fake OpenAI server's ``/v1/embeddings``, the store), then listed, read, changed, searched and
deleted through the routes. Tests wait for processing with ``KnowledgeBase.wait_idle``, never
by sleeping. What does not depend on the backend (refusals, selection) runs on SQLite only.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.api.harness import Served, agent_config
from tests.runtime.auth.tokens import HS_SECRET, bearer, mint
from tests.runtime.knowledge.serving import (
    KNOWLEDGE_BACKENDS,
    UNREACHABLE,
    embedder,
    knowledge_config,
    serve_knowledge,
)
from tests.support.fake_openai import (  # noqa: F401
    EmbeddingReply,
    FakeOpenAIServer,
    fake_openai,
    fake_openai_server,
    serve_asgi,
)

HANDBOOK = "Vacation policy: every employee gets twenty-five days of paid vacation per year."
EXPENSES = "Expense reports are filed within thirty days, with receipts attached."


@pytest.fixture(params=KNOWLEDGE_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def served(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:  # noqa: F811
    config = knowledge_config(fake_openai.base_url, {"id": "docs", "description": "Team handbook"})
    async with serve_knowledge(backend, config, tmp_path) as running:
        yield running


@pytest.fixture
async def on_sqlite(fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:  # noqa: F811
    """One base, small limits, on SQLite: for what does not depend on the backend."""
    config = knowledge_config(fake_openai.base_url, {"id": "docs", "max_content_bytes": 2000})
    async with serve_knowledge("sqlite", config, tmp_path) as running:
        yield running


async def upload(served: Served, *, params: dict[str, str] | None = None, files: Any = None, **form: Any) -> Any:
    response = await served.client.post("/knowledge/content", data=form, files=files, params=params)
    assert response.status_code == 202, response.text
    return response.json()


async def settle(served: Served, base_id: str = "docs") -> None:
    assert served.context.knowledge is not None
    await served.context.knowledge[base_id].wait_idle()


async def search(served: Served, query: str, **body: Any) -> Any:
    response = await served.client.post("/knowledge/search", json={"query": query, **body})
    assert response.status_code == 200, response.text
    return response.json()


# --- every route, on both backends -----------------------------------------------------------


async def test_uploaded_text_is_accepted_processed_and_found_by_search(served: Served) -> None:
    accepted = await upload(
        served, text_content=HANDBOOK, name="Handbook", description="HR rules", metadata=json.dumps({"team": "hr"})
    )
    assert accepted["status"] == "processing" and accepted["linked_to"] == "docs"
    assert (accepted["name"], accepted["description"], accepted["metadata"]) == ("Handbook", "HR rules", {"team": "hr"})
    await upload(served, text_content=EXPENSES, name="Expenses")
    await settle(served)

    status = (await served.client.get(f"/knowledge/content/{accepted['id']}/status")).json()
    assert status == {"id": accepted["id"], "status": "completed", "status_message": ""}
    found = await search(served, "how many vacation days per year")
    assert found["data"][0]["content"] == HANDBOOK
    assert found["data"][0]["content_id"] == accepted["id"] and found["data"][0]["meta_data"]["team"] == "hr"
    assert found["meta"]["total_count"] == 2 and found["meta"]["page"] == 1
    filtered = await search(served, "vacation", filters={"team": "hr"})
    assert [hit["content_id"] for hit in filtered["data"]] == [accepted["id"]]


async def test_patched_metadata_is_merged_as_in_agno_and_searches_filter_on_it_at_once(served: Served) -> None:
    accepted = await upload(served, text_content=HANDBOOK, metadata=json.dumps({"team": "hr", "year": 2025}))
    await settle(served)

    patched = await served.client.patch(
        f"/knowledge/content/{accepted['id']}", data={"metadata": json.dumps({"team": "eng"})}
    )

    assert patched.status_code == 200 and patched.json()["metadata"] == {"team": "eng", "year": 2025}
    [hit] = (await search(served, "vacation", filters={"team": "eng"}))["data"]
    assert hit["content_id"] == accepted["id"] and hit["meta_data"]["year"] == 2025
    assert (await search(served, "vacation", filters={"team": "hr"}))["data"] == []


async def test_contents_are_listed_read_changed_and_deleted(served: Served) -> None:
    first = await upload(served, text_content=HANDBOOK, name="Handbook")
    second = await upload(
        served, files={"file": ("expenses.md", b"# Expenses\n\n" + EXPENSES.encode(), "text/markdown")}
    )
    await settle(served)

    listed = (await served.client.get("/knowledge/content", params={"sort_by": "name", "sort_order": "asc"})).json()
    assert [item["name"] for item in listed["data"]] == ["Handbook", "expenses.md"]
    assert listed["meta"] == {**listed["meta"], "page": 1, "limit": 20, "total_count": 2, "total_pages": 1}
    paged = (await served.client.get("/knowledge/content", params={"limit": 1, "page": 2, "sort_by": "name"})).json()
    assert [item["name"] for item in paged["data"]] == ["Handbook"] and paged["meta"]["total_pages"] == 2

    read = (await served.client.get(f"/knowledge/content/{second['id']}")).json()
    assert (read["type"], read["status"], read["size"]) == ("md", "completed", str(len(EXPENSES) + 12))

    changed = await served.client.patch(
        f"/knowledge/content/{first['id']}",
        data={"name": "HR handbook", "description": "Rules", "metadata": json.dumps({"year": 2026})},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["metadata"]) == ("HR handbook", {"year": 2026})
    again = (await served.client.get(f"/knowledge/content/{first['id']}")).json()
    assert (again["name"], again["description"], again["metadata"]) == ("HR handbook", "Rules", {"year": 2026})

    deleted = await served.client.delete(f"/knowledge/content/{first['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"id": first["id"]}
    gone = await served.client.get(f"/knowledge/content/{first['id']}")
    assert gone.status_code == 404 and gone.json() == {"detail": f"Content not found: {first['id']}"}
    assert [hit["content_id"] for hit in (await search(served, "vacation days"))["data"]] == [second["id"]]

    cleared = await served.client.delete("/knowledge/content")
    assert cleared.status_code == 200 and cleared.json() == "success"
    assert (await served.client.get("/knowledge/content")).json()["meta"]["total_count"] == 0
    assert (await search(served, "expenses"))["data"] == []


async def test_the_knowledge_config_says_what_the_base_reads_and_filters_on(served: Served, backend: str) -> None:
    await upload(served, text_content=HANDBOOK, metadata=json.dumps({"team": "hr", "year": 2026}))
    await settle(served)
    config = (await served.client.get("/knowledge/config")).json()
    assert {"text", "markdown", "html", "pdf"} <= set(config["readers"]) and "url" not in config["readers"]
    assert set(config["chunkers"]) == {"FixedSizeChunker", "RecursiveChunker", "MarkdownChunker"}
    assert config["filters"] == ["team", "year"]
    [vector_db] = config["vector_dbs"]
    assert vector_db["id"] == "knowledge_docs" and vector_db["search_types"] == ["vector"]
    assert vector_db["name"] == ("PgVector" if backend == "pgvector" else "SqliteVec")


async def test_config_lists_each_base_with_its_database_and_contents_table(served: Served) -> None:
    knowledge = (await served.client.get("/config")).json()["knowledge"]
    assert knowledge == {
        "dbs": [{"db_id": "main-db", "domain_config": {"display_name": "main-db"}, "tables": ["agno_knowledge"]}],
        "knowledge_instances": [
            {
                "id": "docs",
                "name": "docs",
                "description": "Team handbook",
                "db_id": "main-db",
                "table": "agno_knowledge",
            }
        ],
    }


async def test_reader_id_says_how_to_read_a_file_without_an_extension(on_sqlite: Served) -> None:
    markdown = b"# Travel\n\nTrains are booked by the travel desk."
    as_markdown = await upload(on_sqlite, reader_id="markdown", files={"file": ("notes", markdown, "text/plain")})
    as_sent = await upload(on_sqlite, files={"file": ("notes", markdown, "text/plain")})
    await settle(on_sqlite)
    assert (as_markdown["type"], as_sent["type"]) == ("md", "txt")
    status = await on_sqlite.client.get(f"/knowledge/content/{as_markdown['id']}/status")
    assert status.json()["status"] == "completed"


class Page:
    """An HTTP server with one page whose text the test changes."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.open = threading.Event()
        """Answers wait until it is set (the server runs in a thread of its own)."""
        self.open.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await asyncio.to_thread(self.open.wait)
        body = self.text.encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})


async def test_a_url_content_is_fetched_and_refreshed_from_its_source(
    fake_openai: FakeOpenAIServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    page = Page(HANDBOOK)
    config = knowledge_config(fake_openai.base_url, {"id": "docs", "allowed_hosts": ["127.0.0.1"]})
    with serve_asgi(page) as port:
        async with serve_knowledge("sqlite", config, tmp_path) as served:
            url = f"http://127.0.0.1:{port}/handbook.txt"
            page.open.clear()
            fetched = await upload(served, url=url)
            assert (fetched["name"], fetched["type"]) == (url, "url")
            busy = await served.client.post(f"/knowledge/content/{fetched['id']}/refresh")
            assert busy.status_code == 409 and "being processed" in busy.json()["detail"]
            page.open.set()
            await settle(served)
            assert (await search(served, "vacation"))["data"][0]["content"] == HANDBOOK

            page.text = EXPENSES
            refreshed = await served.client.post(f"/knowledge/content/{fetched['id']}/refresh")
            assert refreshed.status_code == 202 and refreshed.json()["status"] == "processing"
            await settle(served)
            assert [hit["content"] for hit in (await search(served, "vacation"))["data"]] == [EXPENSES]
            status = await served.client.get(f"/knowledge/content/{fetched['id']}/status")
            assert status.json()["status"] == "completed"

            text = await upload(served, text_content=HANDBOOK)
            not_again = await served.client.post(f"/knowledge/content/{text['id']}/refresh")
            assert not_again.status_code == 400 and "upload it again" in not_again.json()["detail"]
            missing = await served.client.post("/knowledge/content/nope/refresh")
            assert missing.status_code == 404


# --- processing that fails ---------------------------------------------------------------------


async def test_a_failed_embedding_fails_the_content_with_its_reason_and_nothing_is_searchable(
    fake_openai: FakeOpenAIServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    config = knowledge_config(
        fake_openai.base_url,
        {"id": "docs"},
        {"id": "broken", "table": "broken_chunks", "embedder": embedder(UNREACHABLE)},
    )
    async with serve_knowledge("sqlite", config, tmp_path) as served:
        accepted = await upload(served, params={"knowledge_id": "broken"}, text_content=HANDBOOK)
        await settle(served, "broken")
        status = await served.client.get(
            f"/knowledge/content/{accepted['id']}/status", params={"knowledge_id": "broken"}
        )
        assert status.json()["status"] == "failed"
        assert status.json()["status_message"].startswith("embedding failed")
        refused = await served.client.post("/knowledge/search", json={"query": "vacation", "knowledge_id": "broken"})
        assert refused.status_code == 502 and refused.json()["detail"].startswith("Embedding the query failed")
        assert (await search(served, "vacation", knowledge_id="docs"))["data"] == []


@pytest.mark.parametrize(
    ("reply", "status", "detail"),
    [
        (EmbeddingReply.fail(401, "Incorrect API key", code="invalid_api_key"), 502, "Embedding the query failed"),
        (EmbeddingReply.fail(404, "The model does not exist", code="model_not_found"), 502, "Embedding the query"),
        (EmbeddingReply.fail(429, "Rate limit reached", type="requests"), 429, "Rate limit reached"),
        (EmbeddingReply.fail(400, "Too long", code="context_length_exceeded"), 400, "Too long"),
    ],
)
async def test_a_search_whose_embedding_fails_answers_as_the_caller_can_act_on_it(
    on_sqlite: Served,
    fake_openai: FakeOpenAIServer,  # noqa: F811
    reply: EmbeddingReply,
    status: int,
    detail: str,
) -> None:
    """The embedder's own 401 or 404 would read as the caller's, so they are 502; a rate limit
    stays 429 and a query too long for the model 400."""
    fake_openai.script_embeddings(reply)
    response = await on_sqlite.client.post("/knowledge/search", json={"query": "vacation"})
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]


# --- refusals (SQLite only) --------------------------------------------------------------------


async def test_a_file_of_an_unsupported_type_is_415_naming_it(on_sqlite: Served) -> None:
    response = await on_sqlite.client.post(
        "/knowledge/content", files={"file": ("slides.pptx", b"PK\x03\x04binary", "application/octet-stream")}
    )
    assert response.status_code == 415
    assert "slides.pptx" in response.json()["detail"] and ".pdf" in response.json()["detail"]


async def test_content_over_the_base_limit_is_413(on_sqlite: Served) -> None:
    response = await on_sqlite.client.post("/knowledge/content", data={"text_content": "word " * 1000})
    assert response.status_code == 413 and "max_content_bytes" in response.json()["detail"]
    big_file = await on_sqlite.client.post("/knowledge/content", files={"file": ("big.txt", b"x" * 3000, "text/plain")})
    assert big_file.status_code == 413


async def test_an_upload_over_both_limits_is_413_naming_the_file(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:  # noqa: F811
    config = knowledge_config(fake_openai.base_url, {"id": "docs", "max_content_bytes": 10_000})
    async with serve_knowledge("sqlite", config, tmp_path, max_body_bytes=10_000) as served:
        response = await served.client.post(
            "/knowledge/content", files={"file": ("a.txt", b"a " * 20_000, "text/plain")}
        )
        assert response.status_code == 413
        assert response.json()["detail"].startswith("file: 39.1 KiB is over the knowledge base's limit of 9.8 KiB")


async def test_a_url_is_refused_when_the_base_allows_no_host(on_sqlite: Served) -> None:
    response = await on_sqlite.client.post("/knowledge/content", data={"url": "https://docs.example.com/a"})
    assert response.status_code == 400 and "allowed_hosts" in response.json()["detail"]


@pytest.mark.parametrize("escaped", ["\\ud800", "\\udcff", "\\u0000"])
async def test_a_json_encoded_url_escaping_what_no_store_takes_is_a_422_and_nothing_is_stored(
    fake_openai: FakeOpenAIServer,  # noqa: F811
    tmp_path: Path,
    escaped: str,
) -> None:
    config = knowledge_config(fake_openai.base_url, {"id": "docs", "allowed_hosts": ["docs.example.com"]})
    async with serve_knowledge("sqlite", config, tmp_path) as served:
        # The form's text is plain ASCII; only its JSON escapes decode to a lone surrogate or a NUL.
        url = f'"https://docs.example.com/a{escaped}b"'
        response = await served.client.post("/knowledge/content", data={"url": url})

        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", "url"]
        assert (await served.client.get("/knowledge/content")).json()["data"] == []


@pytest.mark.parametrize(
    ("form", "detail"),
    [
        ({}, "Provide a file, text_content, or URL to upload."),
        ({"text_content": "a", "url": "https://x.example.com"}, "got text_content and url"),
        ({"url": '["https://a.example.com"]'}, "submit each URL separately"),
    ],
)
async def test_an_upload_without_exactly_one_input_is_400(on_sqlite: Served, form: dict[str, str], detail: str) -> None:
    response = await on_sqlite.client.post("/knowledge/content", data=form)
    assert response.status_code == 400 and detail in response.json()["detail"]


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"text_content": "a", "metadata": "team=hr"}, "metadata"),
        ({"text_content": "a", "metadata": '{"team": "h\\u0000r"}'}, "metadata"),
        ({"text_content": "a", "name": "bad\x00name"}, "name"),
        ({"text_content": "a", "chunker": "SemanticChunker"}, "chunker"),
        ({"text_content": "a", "chunk_size": "100", "chunk_overlap": "100"}, "chunk_overlap"),
        ({"text_content": "a", "chunk_size": "many"}, "chunk_size"),
        ({"text_content": "a", "reader_id": "docx"}, "reader_id"),
        ({"text_content": "a", "metadata": json.dumps({"n": 2**64})}, "metadata"),
    ],
)
async def test_a_bad_upload_field_is_422_naming_it(on_sqlite: Served, form: dict[str, str], field: str) -> None:
    response = await on_sqlite.client.post("/knowledge/content", data=form)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", field]


@pytest.mark.parametrize("filename", [b"a\x00b.txt", b"a" * 600 + b".txt"])
async def test_a_file_name_no_content_name_can_be_is_422_naming_file(on_sqlite: Served, filename: bytes) -> None:
    # Written by hand: httpx would percent-encode the NUL a hostile client sends as it is.
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: text/plain\r\n\r\nhello\r\n--XX--\r\n"
    )
    headers = {"content-type": "multipart/form-data; boundary=XX"}
    response = await on_sqlite.client.post("/knowledge/content", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "file"]


async def test_unknown_contents_are_404_on_every_content_route(on_sqlite: Served) -> None:
    client = on_sqlite.client
    for response in (
        await client.get("/knowledge/content/nope"),
        await client.get("/knowledge/content/nope/status"),
        await client.patch("/knowledge/content/nope", data={"name": "x"}),
        await client.delete("/knowledge/content/nope"),
    ):
        assert response.status_code == 404 and response.json() == {"detail": "Content not found: nope"}


async def test_bad_searches_are_refused_with_the_reason(on_sqlite: Served) -> None:
    client = on_sqlite.client
    wrong_store = await client.post("/knowledge/search", json={"query": "q", "vector_db_ids": ["elsewhere"]})
    assert wrong_store.status_code == 400 and "knowledge_docs" in wrong_store.json()["detail"]
    keyword = await client.post("/knowledge/search", json={"query": "q", "search_type": "keyword"})
    assert keyword.status_code == 400 and "vector" in keyword.json()["detail"]
    empty = await client.post("/knowledge/search", json={"query": ""})
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "query"]
    nul = await client.post("/knowledge/search", json={"query": "a\u0000b"})
    assert nul.status_code == 422
    unsorted = await client.get("/knowledge/content", params={"sort_by": "colour"})
    assert unsorted.status_code == 422 and unsorted.json()["detail"][0]["loc"] == ["query", "sort_by"]
    huge = await client.post("/knowledge/search", json={"query": "q", "filters": {"n": [1, 10**30]}})
    assert huge.status_code == 422 and huge.json()["detail"][0]["loc"] == ["body", "filters", "n", 1]
    far = await client.get("/knowledge/content", params={"page": 10**19})
    assert far.status_code == 422 and far.json()["detail"][0]["loc"] == ["query", "page"]


async def test_bases_are_chosen_by_knowledge_id_or_db_id_as_in_agno(
    fake_openai: FakeOpenAIServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    config = knowledge_config(fake_openai.base_url, {"id": "docs"}, {"id": "faq", "table": "faq_chunks"})
    async with serve_knowledge("sqlite", config, tmp_path) as served:
        client = served.client
        ambiguous = await client.get("/knowledge/content")
        assert ambiguous.status_code == 400 and "['docs', 'faq']" in ambiguous.json()["detail"]
        by_db = await client.get("/knowledge/content", params={"db_id": "main-db"})
        assert by_db.status_code == 400 and "Please specify knowledge_id" in by_db.json()["detail"]
        unknown_db = await client.get("/knowledge/content", params={"db_id": "other"})
        assert unknown_db.status_code == 404
        unknown = await client.get("/knowledge/content", params={"knowledge_id": "wiki"})
        assert unknown.status_code == 404 and unknown.json() == {"detail": "Knowledge base 'wiki' not found"}

        faq = await upload(served, params={"knowledge_id": "faq"}, text_content=EXPENSES)
        await settle(served, "faq")
        in_faq = await client.get("/knowledge/content", params={"knowledge_id": "faq"})
        assert [item["id"] for item in in_faq.json()["data"]] == [faq["id"]]
        in_docs = await client.get("/knowledge/content", params={"knowledge_id": "docs"})
        assert in_docs.json()["data"] == []
        hits = await search(served, "expense reports", knowledge_id="faq")
        assert hits["data"][0]["content_id"] == faq["id"]
        listed = (await client.get("/config")).json()["knowledge"]["knowledge_instances"]
        assert [instance["id"] for instance in listed] == ["docs", "faq"]


async def test_remote_sources_answer_as_agentos_does_when_none_is_configured(on_sqlite: Served) -> None:
    client = on_sqlite.client
    assert (await client.get("/knowledge/docs/sources")).json() == []
    files = await client.get("/knowledge/docs/sources/s3/files")
    assert files.status_code == 404 and files.json() == {"detail": "Content source not found: s3"}
    assert (await client.get("/knowledge/wiki/sources")).status_code == 404
    remote = await client.post("/knowledge/remote-content", data={"config_id": "s3", "path": "a.pdf"})
    assert remote.status_code == 400 and remote.json()["detail"].startswith("Unknown content source: s3")


async def test_without_a_knowledge_base_the_routes_answer_503_as_agentos(
    fake_openai: FakeOpenAIServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    async with serve_knowledge("sqlite", agent_config(fake_openai.base_url), tmp_path) as served:
        client = served.client
        for response in (
            await client.get("/knowledge/content"),
            await client.get("/knowledge/config"),
            await client.get("/knowledge/content/c-1/status"),
            await client.post("/knowledge/content", data={"text_content": "x"}),
            await client.post("/knowledge/search", json={"query": "x"}),
        ):
            assert response.status_code == 503 and "knowledge_bases" in response.json()["detail"]
        named = await client.get("/knowledge/content", params={"knowledge_id": "docs"})
        assert named.status_code == 404
        assert (await client.get("/config")).json()["knowledge"] == {"dbs": [], "knowledge_instances": []}


async def test_the_files_knowledge_block_wins_for_its_databases(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:  # noqa: F811
    block = {"display_name": "Docs", "dbs": [{"db_id": "main-db", "domain_config": {"display_name": "Main"}}]}
    config = knowledge_config(fake_openai.base_url, {"id": "docs", "name": "Handbook"}, knowledge=block)
    async with serve_knowledge("sqlite", config, tmp_path) as served:
        knowledge = (await served.client.get("/config")).json()["knowledge"]
    assert knowledge["display_name"] == "Docs"
    assert knowledge["dbs"] == [{"db_id": "main-db", "domain_config": {"display_name": "Main"}}]
    assert knowledge["knowledge_instances"] == [
        {"id": "docs", "name": "Handbook", "db_id": "main-db", "table": "agno_knowledge"}
    ]


async def test_scopes_and_user_isolation_guard_contents_as_in_agno(
    fake_openai: FakeOpenAIServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Shared contents (an admin's): under user isolation a caller that is not admin reads and searches
    them but may not change or delete them, and deleting all deletes none of them."""
    config = knowledge_config(
        fake_openai.base_url, {"id": "docs"}, authorization={"user_isolation": True, "algorithm": "HS256"}
    )
    admin = bearer(mint(scopes=["agent_os:admin"]))
    reader = bearer(mint(scopes=["knowledge:read"], sub="bob"))
    member = bearer(mint(scopes=["knowledge:read", "knowledge:write", "knowledge:delete"], sub="bob"))
    async with serve_knowledge("sqlite", config, tmp_path, jwt_verification_key=HS_SECRET) as served:
        client = served.client
        created = await client.post("/knowledge/content", data={"text_content": HANDBOOK}, headers=admin)
        content_id = created.json()["id"]
        await settle(served)

        assert (await client.get(f"/knowledge/content/{content_id}", headers=reader)).status_code == 200
        found = await client.post("/knowledge/search", json={"query": "vacation"}, headers=reader)
        assert found.json()["data"][0]["content_id"] == content_id
        refused = await client.post("/knowledge/content", data={"text_content": "x"}, headers=reader)
        assert refused.status_code == 403 and "knowledge:write" in refused.json()["detail"]

        patched = await client.patch(f"/knowledge/content/{content_id}", data={"name": "mine"}, headers=member)
        assert patched.status_code == 403 and patched.json() == {"detail": "Cannot modify shared content"}
        refreshed = await client.post(f"/knowledge/content/{content_id}/refresh", headers=member)
        assert refreshed.status_code == 403 and refreshed.json() == {"detail": "Cannot refresh shared content"}
        deleted = await client.delete(f"/knowledge/content/{content_id}", headers=member)
        assert deleted.status_code == 403 and deleted.json() == {"detail": "Cannot delete shared content"}
        cleared = await client.delete("/knowledge/content", headers=member)
        assert cleared.json() == "success"
        assert (await client.get("/knowledge/content", headers=admin)).json()["meta"]["total_count"] == 1

        assert (await client.delete(f"/knowledge/content/{content_id}", headers=admin)).status_code == 200


async def test_under_user_isolation_each_user_sees_and_changes_only_their_own_contents_and_reads_shared_ones(
    backend: str,
    fake_openai: FakeOpenAIServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """As Agno: an upload is the uploader's; another user neither lists, reads, searches nor
    deletes it (404, as if absent); its owner changes and deletes it; shared content (an admin's)
    is read by all and changed by none but admins; deleting all deletes the caller's own only."""
    config = knowledge_config(
        fake_openai.base_url, {"id": "docs"}, authorization={"user_isolation": True, "algorithm": "HS256"}
    )
    every_right = ["knowledge:read", "knowledge:write", "knowledge:delete"]
    admin = bearer(mint(scopes=["agent_os:admin"]))
    bob, alice = bearer(mint(scopes=every_right, sub="bob")), bearer(mint(scopes=every_right, sub="alice"))
    async with serve_knowledge(backend, config, tmp_path, jwt_verification_key=HS_SECRET) as served:
        client = served.client
        shared = (await client.post("/knowledge/content", data={"text_content": HANDBOOK}, headers=admin)).json()
        data = {"text_content": "Bob's salary is 123456 dollars.", "name": "bob-private"}
        bobs = (await client.post("/knowledge/content", data=data, headers=bob)).json()
        await settle(served)

        def listed(answer: Any) -> list[str]:
            return sorted(content["name"] for content in answer.json()["data"])

        assert listed(await client.get("/knowledge/content", headers=alice)) == [shared["name"]]
        assert listed(await client.get("/knowledge/content", headers=bob)) == sorted([shared["name"], "bob-private"])
        assert len(listed(await client.get("/knowledge/content", headers=admin))) == 2
        for path in (f"/knowledge/content/{bobs['id']}", f"/knowledge/content/{bobs['id']}/status"):
            assert (await client.get(path, headers=alice)).status_code == 404
            assert (await client.get(path, headers=bob)).status_code == 200
        salary = {"query": "Bob salary dollars", "max_results": 10}
        alice_found = (await client.post("/knowledge/search", json=salary, headers=alice)).json()["data"]
        bob_found = (await client.post("/knowledge/search", json=salary, headers=bob)).json()["data"]
        assert {hit["content_id"] for hit in alice_found} == {shared["id"]}
        assert bobs["id"] in {hit["content_id"] for hit in bob_found}

        assert (await client.delete(f"/knowledge/content/{bobs['id']}", headers=alice)).status_code == 404
        assert (
            await client.patch(f"/knowledge/content/{bobs['id']}", data={"name": "x"}, headers=alice)
        ).status_code == 404
        renamed = await client.patch(f"/knowledge/content/{bobs['id']}", data={"name": "bob-renamed"}, headers=bob)
        assert renamed.status_code == 200 and renamed.json()["name"] == "bob-renamed"
        refused = await client.delete(f"/knowledge/content/{shared['id']}", headers=bob)
        assert refused.status_code == 403 and refused.json() == {"detail": "Cannot delete shared content"}

        assert (await client.delete("/knowledge/content", headers=alice)).json() == "success"
        assert len(listed(await client.get("/knowledge/content", headers=admin))) == 2, "alice owned none"
        assert (await client.delete("/knowledge/content", headers=bob)).json() == "success"
        assert listed(await client.get("/knowledge/content", headers=admin)) == [shared["name"]]
        bob_found = (await client.post("/knowledge/search", json=salary, headers=bob)).json()["data"]
        assert {hit["content_id"] for hit in bob_found} == {shared["id"]}, "his chunks went with his contents"


async def test_an_edit_takes_back_any_name_and_description_an_upload_takes_and_no_longer(on_sqlite: Served) -> None:
    name, description = "n" * 512, "d" * 4096
    content = await upload(on_sqlite, text_content="Vacation is 25 days.", name=name, description=description)

    edited = await on_sqlite.client.patch(
        f"/knowledge/content/{content['id']}", data={"name": name[::-1], "description": description[::-1]}
    )
    too_long = await on_sqlite.client.patch(
        f"/knowledge/content/{content['id']}", data={"name": name + "n", "description": description + "d"}
    )

    assert edited.status_code == 200, edited.text
    assert too_long.status_code == 422
    assert sorted(error["loc"][-1] for error in too_long.json()["detail"]) == ["description", "name"]
