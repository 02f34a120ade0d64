"""The bodies of the ``/knowledge`` routes: Agno's request and response shapes, built by pure functions.

Which base a request means (``select_base``) follows Agno's ``get_knowledge_instance``: one
base and no ids is that base; ``knowledge_id`` names a base (404 when unknown); ``db_id``
names the database (404 when no base lives there, 400 when several do); several bases and no
id is 400, and no base at all is Agno's 503. A base's id is the one ``GET /config`` lists
under ``knowledge.knowledge_instances``.

Form fields of an upload are parsed here too: ``metadata`` must be a JSON object, ``url`` a
single URL (plain or JSON-encoded, as Agno's client may send it), and ``chunker``,
``chunk_size`` and ``chunk_overlap`` must make valid ``ChunkingSettings``; each problem is a
422 naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, RootModel, ValidationError

from agentos_runtime.api.responses import Described, PageMeta
from agentos_runtime.api.text_checks import check_json, check_text, validation_error
from agentos_runtime.api.timestamps import iso_utc
from agentos_runtime.config.knowledge import ChunkingSettings, ChunkingStrategy, metadata_problem
from agentos_runtime.errors import AgentOSError, BadRequest, NotFound
from agentos_runtime.knowledge.base import MAX_QUERY_LENGTH
from agentos_runtime.knowledge.reading import ContentTooLarge
from agentos_runtime.knowledge.records import MAX_NAME_CHARS, Content, SearchHit
from agentos_runtime.storable import Problem

JSON = dict[str, Any]

NO_KNOWLEDGE = (
    "No knowledge base is available on this AgentOS: declare one in knowledge_bases of the runtime "
    "config (knowledgeBases of the AgentOSConfig resource)"
)
SEARCH_TYPE = "vector"
# A query is embedded as one text; embedding models take a few thousand tokens at most.
# ``GET /knowledge/config`` lists the metadata keys of at most this many contents (newest first).
FILTER_SCAN_LIMIT = 1000
# A content's name (a file's name when the upload names none), as the runtime file allows.
MAX_NAME_LENGTH = MAX_NAME_CHARS
# A content's description, at upload and in an edit alike (what one stores, the other takes back).
MAX_DESCRIPTION_LENGTH = 4096
# A content's URL (the name it gets unless one is given): what common HTTP servers accept.
MAX_URL_LENGTH = 8192
# Pages of contents: page x limit stays far inside the 64-bit OFFSET of SQLite and PostgreSQL.
MAX_PAGE = 1_000_000_000
MAX_PAGE_SIZE = 10_000
# Terms a search's ``filters`` may hold (keys and list items, nested ones too): far more than a
# real search names, and few enough for every store (SQLite refuses a WHERE clause nested
# deeper than 1000, which about 300 terms reach).
MAX_FILTER_TERMS = 100
# Integers SQLite and PostgreSQL compare as numbers (64 bits): a larger one in metadata or a
# filter is refused rather than stored by one backend and refused by the other.
INT64 = (-(2**63), 2**63 - 1)


class KnowledgeUnavailable(AgentOSError):
    """No knowledge base is declared: Agno answers every ``/knowledge`` route with 503."""

    status_code = 503


class Selectable(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def db_id(self) -> str: ...


Base = TypeVar("Base", bound=Selectable)


def select_base(bases: Mapping[str, Base], db_id: str | None, knowledge_id: str | None) -> Base:
    """The base a request names, by Agno's rules; raises ``NotFound``, ``BadRequest`` or 503."""
    if len(bases) == 1 and not db_id and not knowledge_id:
        return next(iter(bases.values()))
    if knowledge_id:
        base = bases.get(knowledge_id)
        if base is None:
            raise NotFound(f"Knowledge base '{knowledge_id}' not found")
        return base
    if db_id:
        matches = [base for base in bases.values() if base.db_id == db_id]
        if not matches:
            raise NotFound(f"Knowledge instance with db_id '{db_id}' not found")
        if len(matches) == 1:
            return matches[0]
        raise BadRequest(
            f"Multiple knowledge instances found for db_id '{db_id}'. "
            f"Please specify knowledge_id parameter. Available IDs: {[base.id for base in matches]}"
        )
    if not bases:
        raise KnowledgeUnavailable(NO_KNOWLEDGE)
    raise BadRequest(
        "db_id or knowledge_id query parameter is required when using multiple knowledge bases. "
        f"Available IDs: {list(bases)}"
    )


# --- what the routes answer -------------------------------------------------------------------


class ContentView(Described):
    """Agno's ``ContentResponseSchema``."""

    id: str
    name: str | None = None
    description: str | None = None
    type: str | None = Field(default=None, description="What the content was read as: pdf, md, txt, html, url...")
    size: str | None = Field(default=None, description="Bytes read, as a string (Agno's type)")
    linked_to: str | None = Field(default=None, description="Id of the knowledge base holding the content")
    metadata: dict[str, Any] | None = None
    access_count: int | None = None
    status: Literal["processing", "completed", "failed"] | None = None
    status_message: str | None = None
    created_at: str | None = Field(default=None, description="ISO-8601 UTC")
    updated_at: str | None = Field(default=None, description="ISO-8601 UTC")


class ContentPage(Described):
    data: list[ContentView]
    meta: PageMeta


class ContentStatusView(Described):
    """Agno's ``ContentStatusResponse``."""

    id: str | None = None
    status: Literal["processing", "completed", "failed"]
    status_message: str = Field(description="Why processing failed; empty otherwise")


class DeletedContent(Described):
    id: str


class SearchResult(Described):
    """Agno's ``VectorSearchResult``: one chunk found."""

    id: str | None = None
    content: str
    name: str | None = None
    meta_data: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    reranking_score: float | None = None
    content_id: str | None = None
    content_origin: str | None = None
    size: int | None = None


class SearchPage(Described):
    data: list[SearchResult]
    meta: PageMeta


class Reader(Described):
    id: str
    name: str | None = None
    description: str | None = None
    chunkers: list[str] | None = None
    content_types: list[str] | None = None


class Chunker(Described):
    key: str
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None


class VectorDb(Described):
    id: str
    name: str | None = None
    description: str | None = None
    search_types: list[str] | None = None


class KnowledgeConfig(Described):
    """Agno's ``ConfigResponseSchema`` of ``GET /knowledge/config``."""

    readers: dict[str, Reader] | None = None
    readersForType: dict[str, list[str]] | None = None  # noqa: N815  (Agno's name)
    chunkers: dict[str, Chunker] | None = None
    filters: list[str] | None = None
    vector_dbs: list[VectorDb] | None = None
    remote_content_sources: list[dict[str, Any]] | None = None


class ContentSource(Described):
    """Agno's ``RemoteContentSourceSchema`` (none can be configured here)."""

    id: str
    name: str
    type: str
    metadata: dict[str, Any] | None = None
    prefix: str | None = None


class SourceFiles(Described):
    """Agno's ``SourceFilesResponseSchema``: files and folders of a remote source."""

    source_id: str
    source_name: str
    prefix: str | None = None
    folders: list[dict[str, Any]]
    files: list[dict[str, Any]]
    meta: PageMeta


class Success(RootModel[str]):
    """``"success"``: every content of the base is deleted."""


class SearchMeta(BaseModel):
    """Which page of the results; bounded as a listing's pages are (an integer beyond them, which
    Python reads whatever its length, would come back in the answer's ``meta``)."""

    limit: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE, description="Results per page")
    page: int = Field(default=1, ge=1, le=MAX_PAGE, description="Page number, from 1")


class SearchRequest(BaseModel):
    """``POST /knowledge/search`` (Agno's ``VectorSearchRequestSchema``)."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_LENGTH, description="The text to search for")
    db_id: str | None = Field(default=None, description="Database of the knowledge base to search")
    knowledge_id: str | None = Field(default=None, description="Knowledge base to search")
    vector_db_ids: list[str] | None = Field(
        default=None, description="Vector databases to search (from /knowledge/config)"
    )
    search_type: str | None = Field(default=None, description="vector (the only type served)")
    max_results: int | None = Field(default=None, ge=1, le=1000, description="Chunks to find; defaults to the base's")
    filters: dict[str, Any] | None = Field(default=None, description="Metadata each chunk found must have")
    meta: SearchMeta | None = Field(default=None, description="Which page of the results to return")


def content_view(content: Content) -> JSON:
    """One ``ContentResponseSchema``."""
    return {
        "id": content.id,
        "name": content.name,
        "description": content.description,
        "type": content.type,
        "size": str(content.size) if content.size else "0",
        "linked_to": content.linked_to,
        "metadata": content.metadata,
        "access_count": content.access_count,
        "status": content.status,
        "status_message": content.status_message,
        "created_at": iso_utc(content.created_at),
        "updated_at": iso_utc(content.updated_at or content.created_at),
    }


def status_view(content: Content) -> JSON:
    """One ``ContentStatusResponse``."""
    return {"id": content.id, "status": content.status, "status_message": content.status_message or ""}


def hit_view(hit: SearchHit) -> JSON:
    """One ``VectorSearchResult``."""
    return {
        "id": hit.id,
        "content": hit.content,
        "name": hit.name,
        "meta_data": hit.meta_data,
        "usage": hit.usage,
        "reranking_score": None,
        "content_id": hit.content_id,
        "content_origin": None,
        "size": len(hit.content.encode("utf-8", "surrogatepass")),
    }


def result_page(hits: Sequence[SearchHit], meta: SearchMeta | None, elapsed_ms: float) -> JSON:
    """Agno's paginated search answer: the results cut into pages of ``meta.limit``."""
    limit = meta.limit if meta else 20
    page = meta.page if meta else 1
    start = (page - 1) * limit
    shown = hits[start : start + limit]
    return {
        "data": [hit_view(hit) for hit in shown],
        "meta": {
            "page": page,
            "limit": limit,
            "total_pages": (len(hits) + limit - 1) // limit,
            "total_count": len(hits),
            "search_time_ms": round(elapsed_ms, 3),
        },
    }


# --- upload fields ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReaderInfo:
    """A reader of ``knowledge/reading.py`` under Agno's reader id."""

    id: str
    name: str
    description: str
    content_types: tuple[str, ...]
    """File extensions and content types it reads (``/knowledge/config``'s ``readersForType``)."""
    reads_as: str | None
    """The content type a file without an extension is read as when an upload names this reader."""


READERS = (
    ReaderInfo("text", "TextReader", "Plain text", (".txt", "text/plain", "text"), "text/plain"),
    ReaderInfo("markdown", "MarkdownReader", "Markdown (MarkdownChunker cuts at its headings)", (".md", ".markdown", "text/markdown"), "text/markdown"),
    ReaderInfo("html", "HTMLReader", "The visible text of HTML pages, headings kept", (".html", ".htm", "text/html"), "text/html"),
    ReaderInfo("pdf", "PdfReader", "The text of PDF documents (no OCR)", (".pdf", "application/pdf"), "application/pdf"),
    ReaderInfo("json", "JsonReader", "JSON documents, as text", (".json", "application/json"), "application/json"),
    ReaderInfo("csv", "CsvReader", "CSV files, as text", (".csv", "text/csv"), "text/csv"),
    ReaderInfo("url", "UrlReader", "Pages and files fetched from the knowledge base's allowed_hosts", ("url",), None),
)  # fmt: skip
READER_TYPES: dict[str, str | None] = {reader.id: reader.reads_as for reader in READERS}


def reader_content_type(reader_id: str | None) -> str | None:
    """The content type ``reader_id`` reads as; a 422 naming ``reader_id`` when it is unknown."""
    if not reader_id:
        return None
    if reader_id not in READER_TYPES:
        raise form_error(
            "reader_id", f"Unknown reader_id '{reader_id}': use one of {', '.join(READER_TYPES)}", reader_id
        )
    return READER_TYPES[reader_id]


# Agno's chunker keys (``/knowledge/config``), and the strategy of ours each one is.
CHUNKERS: dict[str, tuple[ChunkingStrategy, str]] = {
    "FixedSizeChunker": ("fixed", "Cuts text into pieces of chunk_size characters, repeating chunk_overlap"),
    "RecursiveChunker": ("recursive", "Cuts at paragraph, line, sentence, then word boundaries"),
    "MarkdownChunker": ("markdown", "Cuts Markdown at headings first, then as RecursiveChunker"),
}
STRATEGY_CHUNKERS = {strategy: key for key, (strategy, _) in CHUNKERS.items()}


def form_error(field: str, message: str, value: Any = None, kind: str = "value_error") -> RequestValidationError:
    """A 422 naming the form field ``field``."""
    return validation_error(Problem(kind, message), ("body", field), value)


def check_form_text(fields: Mapping[str, str | None]) -> None:
    """Text no backend can store (NUL, lone surrogates) in a form field is a 422 naming it."""
    for name, value in fields.items():
        check_text(("body", name), value, is_id=name.endswith("_id"))


def check_file_name(filename: str | None) -> None:
    """A file's name becomes the content's: a 422 naming ``file`` when no backend can store it."""
    if filename is None:
        return
    check_text(("body", "file"), filename)
    if len(filename) > MAX_NAME_LENGTH:
        raise form_error(
            "file", f"The file name may have at most {MAX_NAME_LENGTH} characters, got {len(filename)}", None
        )


def check_metadata_size(text: str | None) -> None:
    """The ``metadata`` form field over ``MAX_METADATA_BYTES`` (in UTF-8) is a 413 saying why."""
    problem = metadata_problem(len(text.encode("utf-8", "surrogatepass"))) if text is not None else None
    if problem is not None:
        raise ContentTooLarge(f"metadata: {problem}")


def parse_metadata(text: str | None) -> dict[str, Any]:
    """The ``metadata`` form field: a JSON object, or empty when absent."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise form_error("metadata", 'metadata must be a JSON object, e.g. {"team": "docs"}', text) from None
    except ValueError:  # an integer of more digits than Python reads: far outside 64 bits anyway
        problem = Problem("int_too_large", "Integers must fit in 64 bits (at most 9223372036854775807)")
        raise validation_error(problem, ("body", "metadata")) from None
    if not isinstance(value, dict):
        raise form_error("metadata", f"metadata must be a JSON object, not {type(value).__name__}", text)
    check_json(("body", "metadata"), value)
    check_integers(("body", "metadata"), value)
    return value


def check_integers(loc: tuple[str | int, ...], value: Any) -> None:
    """A 422 at the first integer in ``value`` (decoded JSON) outside 64 bits."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, loc)]
    while stack:
        current, path = stack.pop()
        if isinstance(current, int) and not isinstance(current, bool) and not INT64[0] <= current <= INT64[1]:
            problem = Problem("int_too_large", "Integers must fit in 64 bits (at most 9223372036854775807)")
            raise validation_error(problem, path)
        if isinstance(current, dict):
            stack.extend((item, (*path, key)) for key, item in current.items())
        elif isinstance(current, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(current))


def check_filter_terms(loc: tuple[str | int, ...], filters: Mapping[str, Any] | None) -> None:
    """A 422 at ``loc`` when ``filters`` (decoded JSON) hold more than ``MAX_FILTER_TERMS``
    keys and list items, counted at every depth (and no further than the limit)."""
    terms = 0
    stack: list[Any] = [filters]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            children = list(current.values())
        elif isinstance(current, list):
            children = current
        else:
            continue
        terms += len(children)
        if terms > MAX_FILTER_TERMS:
            problem = Problem(
                "too_many_filters",
                f"filters may hold at most {MAX_FILTER_TERMS} terms (keys and list items, nested ones included): "
                "search with fewer",
            )
            raise validation_error(problem, loc)
        stack.extend(children)


def parse_url(text: str | None) -> str | None:
    """The ``url`` form field: one URL, plain or JSON-encoded (Agno's client may send either)."""
    if text is None or not text.strip():
        return None
    try:
        value: Any = json.loads(text)
    except (ValueError, RecursionError):
        value = text
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("URL must be a single non-empty string; submit each URL separately.")
    if value is not text:  # JSON-encoded: its escapes may hold what the form's text could not
        check_text(("body", "url"), value)
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        # It would also become the content's name; HTTP servers refuse far shorter ones.
        problem = Problem("string_too_long", f"A URL may have at most {MAX_URL_LENGTH} characters, got {len(url)}")
        raise validation_error(problem, ("body", "url"))
    return url


def chunking_for(
    defaults: ChunkingSettings, chunker: str | None, chunk_size: int | None, chunk_overlap: int | None
) -> ChunkingSettings | None:
    """The chunking an upload asks for, over the base's ``defaults``; ``None`` when it asks nothing."""
    if not chunker and chunk_size is None and chunk_overlap is None:
        return None
    strategy = defaults.strategy
    if chunker:
        known = CHUNKERS.get(chunker)
        if known is not None:
            strategy = known[0]
        elif chunker in STRATEGY_CHUNKERS:
            strategy = chunker  # one of the strategies, checked above
        else:
            raise form_error("chunker", f"Unknown chunker '{chunker}': use one of {', '.join(CHUNKERS)}", chunker)
    try:
        return ChunkingSettings(
            strategy=strategy,
            size=defaults.size if chunk_size is None else chunk_size,
            overlap=defaults.overlap if chunk_overlap is None else chunk_overlap,
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = first["loc"][0] if first["loc"] else "overlap"
        field = {"size": "chunk_size", "overlap": "chunk_overlap"}.get(str(where), "chunk_overlap")
        raise form_error(field, f"{field}: {first['msg']}", None, "chunking") from None


# --- /knowledge/config ------------------------------------------------------------------------


def config_view(
    *,
    base_id: str,
    description: str | None,
    table: str,
    database_type: str,
    chunking: ChunkingSettings,
    url_allowed: bool,
    filters: Sequence[str],
) -> JSON:
    """``GET /knowledge/config`` for one base: what this runtime reads, how it chunks, where vectors live."""
    chunker_keys = list(CHUNKERS)
    reader_views: dict[str, JSON] = {}
    for_type: dict[str, list[str]] = {}
    for reader in READERS:
        if reader.id == "url" and not url_allowed:
            continue
        reader_views[reader.id] = {
            "id": reader.id,
            "name": reader.name,
            "description": reader.description,
            "chunkers": chunker_keys,
            "content_types": list(reader.content_types),
        }
        for content_type in reader.content_types:
            for_type.setdefault(content_type, []).append(reader.id)
    chunkers = {
        key: {
            "key": key,
            "name": key,
            "description": text,
            "metadata": {"chunk_size": chunking.size, "chunk_overlap": chunking.overlap},
        }
        for key, (_, text) in CHUNKERS.items()
    }
    store = "PgVector" if database_type == "postgres" else "SqliteVec"
    vector_db = {
        "id": table,
        "name": store,
        "description": description or f"Chunks of knowledge base '{base_id}' in table {table}",
        "search_types": [SEARCH_TYPE],
    }
    return {
        "readers": reader_views,
        "readersForType": for_type,
        "chunkers": chunkers,
        "filters": list(filters),
        "vector_dbs": [vector_db],
        "remote_content_sources": None,
    }


def metadata_keys(contents: Iterable[Content]) -> list[str]:
    """The metadata keys of ``contents``, each once, sorted: what a search may filter on."""
    return sorted({key for content in contents for key in content.metadata})
