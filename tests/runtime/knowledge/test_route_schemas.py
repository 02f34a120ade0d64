"""The pure parts of the ``/knowledge`` routes: which base a request means, upload fields, views."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from agentos_runtime.api.routes import knowledge_schemas as views
from agentos_runtime.config.knowledge import ChunkingSettings
from agentos_runtime.errors import AgentOSError, BadRequest, NotFound
from agentos_runtime.knowledge.base import check_size
from agentos_runtime.knowledge.records import Content, SearchHit
from fastapi.exceptions import RequestValidationError


@dataclass(frozen=True)
class FakeBase:
    id: str
    db_id: str


DOCS = FakeBase("docs", "main-db")
FAQ = FakeBase("faq", "main-db")
WIKI = FakeBase("wiki", "other-db")


def loc_of(error: RequestValidationError) -> tuple[object, ...]:
    return tuple(error.errors()[0]["loc"])


def test_one_base_is_chosen_when_the_request_names_none() -> None:
    assert views.select_base({"docs": DOCS}, None, None) is DOCS


def test_knowledge_id_names_a_base_and_wins_over_db_id() -> None:
    bases = {"docs": DOCS, "wiki": WIKI}
    assert views.select_base(bases, "main-db", "wiki") is WIKI


def test_an_unknown_knowledge_id_is_404_naming_it() -> None:
    with pytest.raises(NotFound, match="Knowledge base 'nope' not found"):
        views.select_base({"docs": DOCS}, None, "nope")


def test_db_id_picks_the_only_base_of_that_database() -> None:
    assert views.select_base({"docs": DOCS, "wiki": WIKI}, "other-db", None) is WIKI


def test_an_unknown_db_id_is_404_as_in_agno() -> None:
    with pytest.raises(NotFound, match="Knowledge instance with db_id 'gone' not found"):
        views.select_base({"docs": DOCS}, "gone", None)


def test_a_db_id_with_two_bases_is_400_listing_their_ids() -> None:
    with pytest.raises(BadRequest, match=r"Please specify knowledge_id parameter. Available IDs: \['docs', 'faq'\]"):
        views.select_base({"docs": DOCS, "faq": FAQ, "wiki": WIKI}, "main-db", None)


def test_two_bases_and_no_id_is_400_asking_for_one() -> None:
    with pytest.raises(BadRequest, match="db_id or knowledge_id query parameter is required"):
        views.select_base({"docs": DOCS, "wiki": WIKI}, None, None)


def test_no_base_at_all_is_503_saying_where_to_declare_one() -> None:
    with pytest.raises(views.KnowledgeUnavailable, match="knowledge_bases") as caught:
        views.select_base({}, None, None)
    assert caught.value.status_code == 503


def test_no_base_and_an_id_is_404() -> None:
    with pytest.raises(NotFound):
        views.select_base({}, None, "docs")


def test_metadata_is_a_json_object() -> None:
    assert views.parse_metadata('{"team": "docs", "year": 2026}') == {"team": "docs", "year": 2026}
    assert views.parse_metadata(None) == {} and views.parse_metadata("  ") == {}


@pytest.mark.parametrize("text", ["team=docs", "[1, 2]", '"docs"', "{bad json"])
def test_metadata_that_is_not_a_json_object_is_422_naming_the_field(text: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        views.parse_metadata(text)
    assert loc_of(caught.value) == ("body", "metadata")
    assert "metadata must be a JSON object" in caught.value.errors()[0]["msg"]


def test_metadata_with_an_integer_of_more_digits_than_python_reads_is_422_saying_so() -> None:
    with pytest.raises(RequestValidationError) as caught:
        views.parse_metadata('{"n": ' + "9" * 5000 + "}")
    assert loc_of(caught.value) == ("body", "metadata")
    assert caught.value.errors()[0]["msg"] == "Integers must fit in 64 bits (at most 9223372036854775807)"


def test_metadata_with_a_nul_character_is_422_at_its_key() -> None:
    with pytest.raises(RequestValidationError) as caught:
        views.parse_metadata('{"team": "do\\u0000cs"}')
    assert loc_of(caught.value) == ("body", "metadata", "team")


def test_form_text_with_a_lone_surrogate_is_422_naming_the_field() -> None:
    with pytest.raises(RequestValidationError) as caught:
        views.check_form_text({"name": "fine", "description": "bad \ud800"})
    assert loc_of(caught.value) == ("body", "description")


@pytest.mark.parametrize(
    "filters",
    [
        {f"k{i}": i for i in range(views.MAX_FILTER_TERMS)},
        {"tags": list(range(views.MAX_FILTER_TERMS - 1))},
        {"a": {"b": {"c": [1, 2]}}},
        None,
    ],
    ids=["keys", "list", "nested", "none"],
)
def test_filters_of_up_to_the_limit_of_terms_are_accepted(filters: dict[str, object] | None) -> None:
    views.check_filter_terms(("body", "filters"), filters)


@pytest.mark.parametrize(
    "filters",
    [
        {f"k{i}": i for i in range(views.MAX_FILTER_TERMS + 1)},
        {"tags": list(range(views.MAX_FILTER_TERMS))},
        {"a": {f"k{i}": [i, i] for i in range(40)}},
        {"tags": list(range(1_000_000))},
    ],
    ids=["keys", "keys-and-list", "nested", "huge-list"],
)
def test_filters_of_more_terms_than_the_limit_are_422_naming_filters_and_the_limit(filters: dict[str, object]) -> None:
    with pytest.raises(RequestValidationError) as caught:
        views.check_filter_terms(("body", "filters"), filters)

    assert loc_of(caught.value) == ("body", "filters")
    assert caught.value.errors()[0]["msg"] == (
        "filters may hold at most 100 terms (keys and list items, nested ones included): search with fewer"
    )


def test_metadata_over_64_kib_in_utf8_is_413_saying_it_is_copied_into_every_chunk() -> None:
    views.check_metadata_size('{"a": "' + "x" * (64 * 1024 - 10) + '"}')
    views.check_metadata_size(None)
    with pytest.raises(AgentOSError) as caught:
        views.check_metadata_size('{"a": "' + "é" * 32_768 + '"}')  # 32,777 characters, 65,545 bytes

    assert caught.value.status_code == 413
    assert caught.value.detail == (
        "metadata: 65,545 bytes of metadata, over the 64 KiB allowed: metadata is copied into every chunk of "
        "the content for search filters; keep it to a few keys and put text in the content"
    )


def test_a_url_may_come_plain_or_json_encoded() -> None:
    assert views.parse_url("https://docs.example.com/a") == "https://docs.example.com/a"
    assert views.parse_url('"https://docs.example.com/a"') == "https://docs.example.com/a"
    assert views.parse_url("   ") is None


def test_a_url_longer_than_servers_take_is_refused_before_it_becomes_a_name() -> None:
    at_limit = "https://docs.example.com/" + "a" * (views.MAX_URL_LENGTH - 25)
    assert views.parse_url(at_limit) == at_limit
    with pytest.raises(RequestValidationError) as caught:
        views.parse_url(at_limit + "a")
    (error,) = caught.value.errors()
    assert error["loc"] == ("body", "url")
    assert error["msg"] == f"A URL may have at most {views.MAX_URL_LENGTH} characters, got {views.MAX_URL_LENGTH + 1}"


def test_a_list_of_urls_is_400_as_in_agno() -> None:
    with pytest.raises(BadRequest, match="submit each URL separately"):
        views.parse_url('["https://a.example.com", "https://b.example.com"]')


BASE_CHUNKING = ChunkingSettings(strategy="recursive", size=1000, overlap=100)


def test_no_chunking_field_keeps_the_base_chunking() -> None:
    assert views.chunking_for(BASE_CHUNKING, None, None, None) is None


def test_agnos_chunker_keys_map_to_the_strategies() -> None:
    chosen = views.chunking_for(BASE_CHUNKING, "FixedSizeChunker", 400, None)
    assert chosen == ChunkingSettings(strategy="fixed", size=400, overlap=100)
    assert views.chunking_for(BASE_CHUNKING, "markdown", None, 0) == ChunkingSettings(
        strategy="markdown", size=1000, overlap=0
    )


def test_an_unknown_chunker_is_422_listing_the_known_ones() -> None:
    with pytest.raises(RequestValidationError) as caught:
        views.chunking_for(BASE_CHUNKING, "SemanticChunker", None, None)
    assert loc_of(caught.value) == ("body", "chunker")
    assert "FixedSizeChunker, RecursiveChunker, MarkdownChunker" in caught.value.errors()[0]["msg"]


def test_an_overlap_not_below_the_size_is_422_naming_chunk_overlap() -> None:
    with pytest.raises(RequestValidationError) as caught:
        views.chunking_for(BASE_CHUNKING, None, 200, 200)
    assert loc_of(caught.value) == ("body", "chunk_overlap")


def test_a_chunk_size_below_the_minimum_is_422_naming_chunk_size() -> None:
    with pytest.raises(RequestValidationError) as caught:
        views.chunking_for(BASE_CHUNKING, None, 10, 0)
    assert loc_of(caught.value) == ("body", "chunk_size")


def test_an_unknown_reader_is_422_and_a_known_one_gives_its_content_type() -> None:
    assert views.reader_content_type("markdown") == "text/markdown"
    assert views.reader_content_type(None) is None
    with pytest.raises(RequestValidationError) as caught:
        views.reader_content_type("docx")
    assert loc_of(caught.value) == ("body", "reader_id")


def test_a_content_is_shown_with_agnos_field_types() -> None:
    content = Content(
        id="c-1",
        name="handbook.md",
        linked_to="docs",
        type="md",
        size=2048,
        metadata={"team": "hr"},
        status="failed",
        status_message="embedding failed: rate limited",
        created_at=1795489505,
        updated_at=1795489510,
    )
    assert views.content_view(content) == {
        "id": "c-1",
        "name": "handbook.md",
        "description": None,
        "type": "md",
        "size": "2048",
        "linked_to": "docs",
        "metadata": {"team": "hr"},
        "access_count": 0,
        "status": "failed",
        "status_message": "embedding failed: rate limited",
        "created_at": "2026-11-24T03:05:05Z",
        "updated_at": "2026-11-24T03:05:10Z",
    }
    assert views.status_view(content) == {
        "id": "c-1",
        "status": "failed",
        "status_message": "embedding failed: rate limited",
    }


def test_search_results_are_paged_by_meta() -> None:
    hits = [SearchHit(f"h{i}", "c-1", "doc", f"chunk {i}", {"chunk": i}, distance=i / 10) for i in range(5)]
    page = views.result_page(hits, views.SearchMeta(limit=2, page=2), 1.5)
    assert [item["id"] for item in page["data"]] == ["h2", "h3"]
    assert page["meta"] == {"page": 2, "limit": 2, "total_pages": 3, "total_count": 5, "search_time_ms": 1.5}
    assert page["data"][0]["content_id"] == "c-1" and page["data"][0]["size"] == len("chunk 2")
    assert views.result_page(hits, views.SearchMeta(limit=2, page=4), 0)["data"] == []


def test_the_config_lists_the_url_reader_only_when_hosts_are_allowed() -> None:
    def readers(url_allowed: bool) -> dict[str, object]:
        view = views.config_view(
            base_id="docs",
            description=None,
            table="knowledge_docs",
            database_type="sqlite",
            chunking=BASE_CHUNKING,
            url_allowed=url_allowed,
            filters=["team"],
        )
        return dict(view["readers"]), view

    without, view = readers(False)
    assert "url" not in without and set(without) == {"text", "markdown", "html", "pdf", "json", "csv"}
    assert view["readersForType"][".pdf"] == ["pdf"] and "url" not in view["readersForType"]
    assert view["vector_dbs"] == [
        {
            "id": "knowledge_docs",
            "name": "SqliteVec",
            "description": "Chunks of knowledge base 'docs' in table knowledge_docs",
            "search_types": ["vector"],
        }
    ]
    assert view["chunkers"]["RecursiveChunker"]["metadata"] == {"chunk_size": 1000, "chunk_overlap": 100}
    assert view["filters"] == ["team"]
    with_url, _ = readers(True)
    assert "url" in with_url


def test_filters_are_the_metadata_keys_of_the_contents() -> None:
    contents = [
        Content(id="a", name="a", linked_to="docs", metadata={"team": "hr", "year": 1}),
        Content(id="b", name="b", linked_to="docs", metadata={"team": "it", "lang": "en"}),
    ]
    assert views.metadata_keys(contents) == ["lang", "team", "year"]


def test_a_size_just_over_the_limit_is_said_in_bytes_rather_than_rounded_to_the_limit() -> None:
    with pytest.raises(AgentOSError) as caught:
        check_size("file", 1_048_577, 1_048_576)

    assert caught.value.detail.startswith("file: 1,048,577 bytes is over the knowledge base's limit of 1,048,576 bytes")
