"""The ``/knowledge`` routes against hostile input: every refusal a 4xx naming the field and the
fix, every expected processing failure a ``failed`` content with a plain reason, never a 5xx.

Broken embeddings come from ``BrokenEmbeddings`` (vectors with NaN or only zeros), contents and
searches run on SQLite and PostgreSQL alike where the stores could differ.
"""

from __future__ import annotations

import json
import logging
import random
import string
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.api.harness import Served
from tests.runtime.knowledge.broken_embeddings import BrokenServer, broken_embeddings, broken_embeddings_server
from tests.runtime.knowledge.serving import KNOWLEDGE_BACKENDS, embedder, knowledge_config, serve_knowledge
from tests.runtime.knowledge.test_reading import pdf_of
from tests.support.fake_openai import FakeOpenAIServer, fake_openai, fake_openai_server, serve_asgi
from tests.support.raw_forms import FORM_KINDS, Part, form, multipart

__all__ = ["broken_embeddings", "broken_embeddings_server", "fake_openai", "fake_openai_server"]

MIB = 1024 * 1024
HANDBOOK = "Vacation policy: every employee gets twenty-five days of paid vacation per year."


@pytest.fixture(params=KNOWLEDGE_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def served(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    config = knowledge_config(fake_openai.base_url, {"id": "docs"})
    async with serve_knowledge(backend, config, tmp_path) as running:
        yield running


@pytest.fixture
async def roomy(fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    """A base taking 1.5 MiB per content (more than the form parser's own 1 MiB), on SQLite."""
    base = {"id": "docs", "max_content_bytes": MIB + MIB // 2, "allowed_hosts": ["docs.example.com"]}
    async with serve_knowledge("sqlite", knowledge_config(fake_openai.base_url, base), tmp_path) as running:
        yield running


async def settled_status(served: Served, content_id: str) -> Any:
    assert served.context.knowledge is not None
    await served.context.knowledge["docs"].wait_idle()
    return (await served.client.get(f"/knowledge/content/{content_id}/status")).json()


@pytest.mark.parametrize("url", ["https://docs.example.com/a\r\nX-Injected: 1", "https://docs.example.com/\tb"])
async def test_a_url_holding_a_control_character_is_400_naming_url(roomy: Served, url: str) -> None:
    response = await roomy.client.post("/knowledge/content", data={"url": url})

    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("url: refused: the URL holds a control character")


@pytest.mark.parametrize(
    ("vector", "problem"),
    [
        ("[" + ",".join(["0.5"] * 63 + ["NaN"]) + "]", "a vector holding a value that is not a finite number"),
        ("[" + ",".join(["0"] * 64) + "]", "a vector of zeros only"),
    ],
    ids=["nan", "zeros"],
)
async def test_an_embedder_answering_unusable_vectors_fails_the_content_and_the_search_says_so(
    backend: str,
    broken_embeddings: BrokenServer,
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
    vector: str,
    problem: str,
) -> None:
    broken_embeddings.app.vector = vector
    config = knowledge_config(fake_openai.base_url, {"id": "docs", "embedder": embedder(broken_embeddings.base_url)})
    async with serve_knowledge(backend, config, tmp_path) as served:
        accepted = await served.client.post("/knowledge/content", data={"text_content": HANDBOOK})
        status = await settled_status(served, accepted.json()["id"])
        searched = await served.client.post("/knowledge/search", json={"query": "vacation"})

    reason = f"model 'text-embedding-3-small': the endpoint answered {problem}"
    assert status["status"] == "failed" and status["status_message"].startswith(f"embedding failed: {reason}")
    assert searched.status_code == 502, searched.text
    assert searched.json()["detail"].startswith(f"Embedding the query failed: {reason}")


async def test_filters_are_capped_at_100_terms_on_every_store(served: Served) -> None:
    search = served.client.post
    keys = await search("/knowledge/search", json={"query": "q", "filters": {f"k{i}": i for i in range(100)}})
    items = await search("/knowledge/search", json={"query": "q", "filters": {"tags": list(range(99))}})
    too_many_keys = await search("/knowledge/search", json={"query": "q", "filters": {f"k{i}": i for i in range(300)}})
    too_many_items = await search("/knowledge/search", json={"query": "q", "filters": {"tags": list(range(500))}})

    assert (keys.status_code, items.status_code) == (200, 200), (keys.text, items.text)
    for refused in (too_many_keys, too_many_items):
        assert refused.status_code == 422, refused.text
        (error,) = refused.json()["detail"]
        assert error["loc"] == ["body", "filters"] and "at most 100 terms" in error["msg"]


@pytest.mark.parametrize(
    ("meta", "field", "bound"),
    [({"limit": 10_001}, "limit", 10_000), ({"limit": 10**400}, "limit", 10_000), ({"page": 10**20}, "page", 10**9)],
    ids=["limit-over-a-page", "limit-of-400-digits", "page-of-21-digits"],
)
async def test_a_search_page_or_page_size_beyond_the_listings_bounds_is_422_naming_it_not_echoed(
    served: Served, meta: dict[str, int], field: str, bound: int
) -> None:
    # Python reads any integer: one of 400 digits was echoed in the answer's meta, a number no
    # JSON client reads back (the UI's JavaScript sees Infinity).
    body = '{"query": "vacation", "meta": {"%s": %d}}' % (field, meta[field])  # noqa: UP031  (JSON text as sent)
    answer = await served.client.post("/knowledge/search", content=body, headers={"content-type": "application/json"})

    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "meta", field]
    assert error["msg"] == f"Input should be less than or equal to {bound}"


async def page_for_any_path(scope: dict[str, Any], receive: Any, send: Any) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": HANDBOOK.encode()})


async def test_a_url_of_thousands_of_characters_is_fetched_stored_and_found_on_every_store(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A name as long as the URL passed PostgreSQL's 2,704 bytes for an index row (Agno's index on
    # the chunks' name): the content failed "unexpectedly" with a traceback in the log.
    path = "".join(random.Random(5).choices(string.ascii_letters + string.digits, k=8_000))  # not compressible
    with serve_asgi(page_for_any_path) as port:
        base = {"id": "docs", "allowed_hosts": [f"127.0.0.1:{port}"]}
        async with serve_knowledge(backend, knowledge_config(fake_openai.base_url, base), tmp_path) as served:
            accepted = await served.client.post("/knowledge/content", data={"url": f"http://127.0.0.1:{port}/{path}"})
            status = await settled_status(served, accepted.json()["id"])
            found = await served.client.post("/knowledge/search", json={"query": "vacation policy"})

    assert accepted.status_code == 202, accepted.text
    assert len(accepted.json()["name"]) == 512 and accepted.json()["name"].endswith("...")
    assert status["status"] == "completed", status
    assert [hit["content"] for hit in found.json()["data"]] == [HANDBOOK]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_text_field_sent_as_a_file_is_422_saying_so_without_the_upload_objects_insides(served: Served) -> None:
    answer = await served.client.post("/knowledge/content", files={"text_content": ("notes.txt", b"hi", "text/plain")})

    assert answer.status_code == 422, answer.text
    assert answer.json() == {
        "detail": [
            {
                "type": "string_type",
                "loc": ["body", "text_content"],
                "msg": "Input should be text, not a file: send text_content as a plain form field",
                "input": "notes.txt",
            }
        ]
    }


async def test_the_file_field_sent_as_text_is_422_saying_to_send_a_file(served: Served) -> None:
    answer = await served.client.post("/knowledge/content", data={"file": "not a file"})

    assert answer.status_code == 422, answer.text
    assert answer.json() == {
        "detail": [
            {
                "type": "value_error",
                "loc": ["body", "file"],
                "msg": "Input should be a file, not text: send file as a file part (with a filename)",
                "input": "not a file",
            }
        ]
    }


async def test_text_over_a_mebibyte_is_taken_up_to_max_content_bytes_and_metadata_up_to_64_kib_then_413(
    roomy: Served,
) -> None:
    client = roomy.client
    big_text = await client.post("/knowledge/content", data={"text_content": "word " * 250_000, "chunk_size": "100000"})
    big_metadata = json.dumps({"notes": "n" * 60_000})
    with_metadata = await client.post("/knowledge/content", data={"text_content": HANDBOOK, "metadata": big_metadata})
    too_much_text = await client.post("/knowledge/content", data={"text_content": "word " * 400_000})
    too_much_metadata = json.dumps({"notes": "n" * (MIB + 1000)})
    refused_metadata = await client.post(
        "/knowledge/content", data={"text_content": HANDBOOK, "metadata": too_much_metadata}
    )

    assert (big_text.status_code, with_metadata.status_code) == (202, 202), (big_text.text, with_metadata.text)
    assert (await settled_status(roomy, big_text.json()["id"]))["status"] == "completed"
    content_id = with_metadata.json()["id"]
    patched = await client.patch(f"/knowledge/content/{content_id}", data={"metadata": big_metadata})
    refused_patch = await client.patch(f"/knowledge/content/{content_id}", data={"metadata": too_much_metadata})
    assert patched.status_code == 200, patched.text
    assert too_much_text.status_code == 413
    assert too_much_text.json()["detail"].startswith("text_content: ")
    assert "is over the knowledge base's limit of 1.5 MiB" in too_much_text.json()["detail"]
    for refused in (refused_metadata, refused_patch):
        assert refused.status_code == 413, refused.text
        assert refused.json()["detail"].startswith("metadata: 1,049,589 bytes of metadata, over the 64 KiB allowed")


async def test_metadata_that_would_be_copied_into_too_many_chunks_fails_the_content_before_any_embedding(
    roomy: Served, fake_openai: FakeOpenAIServer
) -> None:
    metadata = json.dumps({"notes": "m" * 60_000})  # 60 KiB into each of ~700 chunks of 50 characters
    text = " ".join(f"w{i}" for i in range(7_000))
    embeddings_before = len(fake_openai.embedding_requests)

    answer = await roomy.client.post(
        "/knowledge/content", data={"text_content": text, "metadata": metadata, "chunk_size": "50"}
    )

    settled = await settled_status(roomy, answer.json()["id"])
    assert settled["status"] == "failed"
    assert "would be copied into each of its" in settled["status_message"]
    assert settled["status_message"].endswith("shorten the metadata or use larger chunks")
    assert len(fake_openai.embedding_requests) == embeddings_before


async def test_a_pdf_whose_text_is_over_max_content_bytes_fails_with_the_limit_and_how_to_raise_it(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    page = "\n".join(["lorem ipsum dolor sit amet"] * 400)  # 10.8 KB of text a page, a few hundred bytes of PDF
    document = pdf_of(*[page] * 40)
    config = knowledge_config(fake_openai.base_url, {"id": "docs", "max_content_bytes": 20_000})
    async with serve_knowledge("sqlite", config, tmp_path) as served:
        accepted = await served.client.post(
            "/knowledge/content", files={"file": ("big.pdf", document, "application/pdf")}
        )
        status = await settled_status(served, accepted.json()["id"])

    assert len(document) < 20_000
    assert status == {
        "id": accepted.json()["id"],
        "status": "failed",
        "status_message": "file 'big.pdf': the PDF's text is over the knowledge base's limit of 19.5 KiB "
        "(max_content_bytes) by page 2: split the document or raise the limit",
    }


async def test_an_upload_a_knowledge_base_takes_is_not_refused_by_the_smaller_body_limit_of_other_routes(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    config = knowledge_config(fake_openai.base_url, {"id": "docs", "max_content_bytes": 3 * MIB})
    document = ("Vacation policy. " * (MIB // 8))[: 2 * MIB].encode()  # 2 MiB, under the base's 3 MiB
    async with serve_knowledge("sqlite", config, tmp_path, max_body_bytes=MIB) as running:
        taken = await running.client.post("/knowledge/content", files={"file": ("policy.txt", document, "text/plain")})
        too_large = await running.client.post(
            "/knowledge/content", files={"file": ("policy.txt", document * 3, "text/plain")}
        )
        elsewhere = await running.client.post("/sessions", json={"session_state": {"blob": "x" * (2 * MIB)}})

    assert taken.status_code == 202, taken.text
    assert too_large.status_code == 413
    assert too_large.json()["detail"] == (
        "Request body too large: at most 4 MiB here "
        "(the largest knowledge base's max_content_bytes, and 1 MiB for the form's other fields)"
    )
    assert elsewhere.status_code == 413
    assert elsewhere.json()["detail"] == "Request body too large: at most 1 MiB here (AGENTOS_MAX_BODY_BYTES)"


NOT_UTF8 = b"\xff\xfe caf\xe9"  # latin-1 bytes: Starlette alone would read them as "\xff\xfe café"
BEYOND_ASCII = "café 🎉 Привет"
NOT_UTF8_FIELDS: dict[str, list[tuple[str, bytes]]] = {
    "name": [("name", NOT_UTF8), ("text_content", HANDBOOK.encode())],
    "description": [("description", NOT_UTF8), ("text_content", HANDBOOK.encode())],
    "text_content": [("text_content", NOT_UTF8)],
    "metadata": [("metadata", b'{"city": "M\xfcnchen"}'), ("text_content", HANDBOOK.encode())],
    "url": [("url", b"https://docs.example.com/caf\xe9")],
}


def not_utf8(what: str) -> dict[str, str]:
    return {"detail": f"{what} is not valid UTF-8: send text encoded as UTF-8"}


async def stored_names(served: Served) -> list[str]:
    listed = await served.client.get("/knowledge/content")
    assert listed.status_code == 200, listed.text
    return [content["name"] for content in listed.json()["data"]]


@pytest.mark.parametrize("kind", FORM_KINDS)
async def test_an_upload_whose_text_field_is_not_utf8_is_400_naming_it_and_stores_nothing(
    served: Served, fake_openai: FakeOpenAIServer, kind: str
) -> None:
    answers = {
        field: await served.client.post("/knowledge/content", **form(kind, *pairs))
        for field, pairs in NOT_UTF8_FIELDS.items()
    }

    for field, answer in answers.items():
        assert (answer.status_code, answer.json()) == (400, not_utf8(f"field '{field}'")), field
    assert await stored_names(served) == []
    assert fake_openai.embedding_requests == []


async def test_an_uploads_file_name_that_is_not_utf8_is_400_but_a_file_of_any_bytes_is_taken(served: Served) -> None:
    latin1_text = "Urlaub: fünfundzwanzig Tage".encode("latin-1")

    misnamed = await served.client.post(
        "/knowledge/content", **multipart(Part("file", latin1_text, "text/plain", filename=b"caf\xe9.txt"))
    )
    taken = await served.client.post(
        "/knowledge/content", **multipart(Part("file", latin1_text, "text/plain", filename=b"urlaub.txt"))
    )

    assert (misnamed.status_code, misnamed.json()) == (400, not_utf8("the file name of field 'file'"))
    assert taken.status_code == 202, taken.text
    assert await stored_names(served) == ["urlaub.txt"]


@pytest.mark.parametrize("kind", FORM_KINDS)
async def test_changing_content_with_a_field_that_is_not_utf8_is_400_and_changes_nothing(
    served: Served, kind: str
) -> None:
    created = await served.client.post("/knowledge/content", data={"name": "handbook", "text_content": HANDBOOK})
    content_id = created.json()["id"]

    changed = await served.client.patch(f"/knowledge/content/{content_id}", **form(kind, ("name", NOT_UTF8)))

    assert (changed.status_code, changed.json()) == (400, not_utf8("field 'name'"))
    assert await stored_names(served) == ["handbook"]


@pytest.mark.parametrize("kind", FORM_KINDS)
async def test_names_and_text_beyond_ascii_sent_as_utf8_are_stored_as_they_were_written(
    served: Served, kind: str
) -> None:
    answer = await served.client.post(
        "/knowledge/content", **form(kind, ("name", BEYOND_ASCII), ("text_content", f"{HANDBOOK} {BEYOND_ASCII}"))
    )

    assert answer.status_code == 202, answer.text
    assert await stored_names(served) == [BEYOND_ASCII]
    assert (await settled_status(served, answer.json()["id"]))["status"] == "completed"
