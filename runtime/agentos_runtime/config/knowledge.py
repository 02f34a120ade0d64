"""Knowledge bases: documents chunked, embedded and searched by agents (retrieval-augmented generation).

A knowledge base keeps its contents (one row per document, Agno's ``agno_knowledge`` layout,
``linked_to`` the base's id) and its chunks with their embeddings (one table per base, the layout
of Agno's ``PgVector``) in one declared database: PostgreSQL with the pgvector extension, or the
embedded SQLite file with sqlite-vec. Embeddings come from any OpenAI-compatible
``/v1/embeddings`` endpoint. An agent or a team names the base it may search in ``knowledge``:
the model gets Agno's ``search_knowledge_base`` tool, or the best chunks go into its context
(``add_knowledge_to_context``), or both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from agentos_runtime.config.base import ID_MAX_LENGTH, ID_PATTERN, TABLE_NAME_PATTERN, Schema
from agentos_runtime.config.hosts import EndpointURL, RefusedURL, control_problem, host_allowed, split_host
from agentos_runtime.config.llm import ENV_NAME_PATTERN

# SQL identifiers the runtime creates: lower case, a letter or underscore first (63 = PostgreSQL's limit).
TABLE_NAME_MAX_LENGTH = 63
# pgvector's ``vector`` type holds at most 16,000 dimensions (its HNSW index at most 2,000).
MAX_DIMENSIONS = 16_000
# sqlite-vec's ``vec0`` tables hold vectors of at most 8,192 dimensions.
SQLITE_MAX_DIMENSIONS = 8192

DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
DEFAULT_DIMENSIONS = 1536
DEFAULT_CHUNK_SIZE = 5000
DEFAULT_MAX_RESULTS = 10
DEFAULT_MAX_CONTENT_BYTES = 20 * 1024 * 1024
# A content's metadata is copied into each of its chunks (as Agno does, so searches filter on
# it): it is for a few filter keys, not for documents, and its copies are bounded in all.
MAX_METADATA_BYTES = 64 * 1024
MAX_COPIED_METADATA_BYTES = 64 * 1024 * 1024


def metadata_size(metadata: Mapping[str, Any]) -> int:
    """The bytes of ``metadata`` as stored (compact JSON, UTF-8)."""
    return len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass"))


def metadata_problem(size: int) -> str | None:
    """Why metadata of ``size`` bytes is refused; ``None`` when it is not."""
    if size <= MAX_METADATA_BYTES:
        return None
    return (
        f"{size:,} bytes of metadata, over the {MAX_METADATA_BYTES // 1024} KiB allowed: metadata is copied into "
        "every chunk of the content for search filters; keep it to a few keys and put text in the content"
    )


ChunkingStrategy = Literal["fixed", "recursive", "markdown"]
VectorIndex = Literal["none", "hnsw"]


class EmbedderFields(Schema):
    """Fields of an embedder that the runtime file and the custom resource share."""

    model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL, min_length=1, description="Embedding model name sent to the endpoint."
    )
    base_url: EndpointURL | None = Field(
        default=None,
        description="Endpoint base URL (OpenAI-compatible `/embeddings`), e.g. `http://tei:8080/v1`; defaults to OpenAI's.",
    )
    dimensions: int = Field(
        default=DEFAULT_DIMENSIONS,
        ge=1,
        le=MAX_DIMENSIONS,
        description="Length of the vectors the model returns; fixed once the base holds chunks.",
    )
    batch_size: int = Field(default=100, ge=1, le=2048, description="Texts sent per embeddings request.")
    timeout: float = Field(default=60.0, gt=0, le=3600, description="Seconds to wait for one embeddings request.")
    max_retries: int = Field(
        default=2, ge=0, le=10, description="Retries of a failed request (rate limits, connection errors, 5xx)."
    )


class EmbedderConfig(EmbedderFields):
    """An embedder in the runtime file; its API key comes from an environment variable."""

    api_key_env: str | None = Field(
        default="OPENAI_API_KEY",
        pattern=ENV_NAME_PATTERN,
        description="Environment variable holding the API key; null for endpoints that need none.",
    )


class ChunkingSettings(Schema):
    """How documents are cut into the chunks that are embedded and searched."""

    strategy: ChunkingStrategy = Field(
        default="recursive",
        description="`fixed`: pieces of `size` characters; `recursive`: cut at paragraph, line, sentence, then word boundaries; `markdown`: cut at headings first.",
    )
    size: int = Field(default=DEFAULT_CHUNK_SIZE, ge=50, le=100_000, description="Most characters per chunk.")
    overlap: int = Field(default=0, ge=0, description="Characters each chunk repeats from the one before.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingSettings:
        if self.overlap >= self.size:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than size ({self.size})")
        return self


class KnowledgeSourceFields(Schema):
    """Fields of a source loaded at start that the runtime file and the custom resource share."""

    name: str | None = Field(
        default=None, max_length=512, description="Content name; defaults to the file name or URL."
    )
    description: str | None = Field(default=None, max_length=4096, description="What the content is.")
    metadata: dict[str, Any] | None = Field(
        default=None,
        description="Metadata stored with the content and each of its chunks (search filters match it); at most 64 KiB as JSON.",
    )

    @field_validator("metadata")
    @classmethod
    def _metadata_fits(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        problem = metadata_problem(metadata_size(metadata)) if metadata else None
        if problem is not None:
            raise ValueError(problem)
        return metadata


def source_url_field(*, hosts_field: str) -> Any:
    """A source's ``url`` field: the one rule for the runtime file and the resource, whose
    descriptions name the allowed-hosts field as each spells it."""
    return Field(
        default=None,
        pattern=r"^https?://",
        max_length=2048,
        description=f"URL to fetch; its host must be in the base's `{hosts_field}`.",
    )


class KnowledgeSource(KnowledgeSourceFields):
    """Content loaded at start (again when it changed): a file or directory, or a URL."""

    path: str | None = Field(
        default=None,
        min_length=1,
        description="File, or directory read recursively, inside the runtime's file system (a mounted ConfigMap or volume).",
    )
    url: str | None = source_url_field(hosts_field="allowed_hosts")

    @model_validator(mode="after")
    def _one_location(self) -> KnowledgeSource:
        if (self.path is None) == (self.url is None):
            raise ValueError("set exactly one of path, url")
        return self


class KnowledgeBaseFields(Schema):
    """Fields of a knowledge base that the runtime file and the custom resource share."""

    id: str = Field(
        pattern=ID_PATTERN,
        max_length=ID_MAX_LENGTH,
        description="Unique id; agents and teams name it in `knowledge`, the API in `knowledge_id`.",
    )
    name: str | None = Field(default=None, description="Display name; defaults to `id`.")
    description: str | None = Field(default=None, description="What the knowledge base holds; shown in the UI.")
    db: str | None = Field(
        default=None,
        description="Id of the database holding contents and vectors (`postgres` with pgvector, or `sqlite`); defaults to the runtime's default database.",
    )
    table: str | None = Field(
        default=None,
        pattern=TABLE_NAME_PATTERN,
        max_length=TABLE_NAME_MAX_LENGTH,
        description="Table of chunks and embeddings (Agno's `PgVector` `table_name`); defaults to `knowledge_<id>` with `-` as `_`.",
    )
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings, description="How documents are chunked.")
    max_results: int = Field(
        default=DEFAULT_MAX_RESULTS, ge=1, le=100, description="Chunks a search returns unless it asks for fewer."
    )
    vector_index: VectorIndex = Field(
        default="none",
        description="`none` (Agno's default): a search compares the query with every chunk, exact, and adding chunks costs no index upkeep; `hnsw`: on PostgreSQL (up to 2000 dimensions), an HNSW cosine index (Agno's `optimize` one) that searches are made to use: approximate, much faster on large bases, each added chunk costs the database index work. SQLite always compares with every chunk.",
    )
    max_content_bytes: int = Field(
        default=DEFAULT_MAX_CONTENT_BYTES,
        ge=1,
        le=1024 * 1024 * 1024,
        description="Largest file, text or fetched page accepted; larger ones are refused with 413.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        max_length=256,
        description="Hosts URL content may be fetched from (exact names, `*.example.com`, IP addresses, any of these as `host:port`); empty refuses URL content. A host that is or resolves to a link-local or cloud metadata address (169.254.0.0/16, fe80::/10, fd00:ec2::254) is refused when connecting, unless the URL is that address and it is listed here literally (`169.254.10.5`, `[fe80::5]:8080`).",
    )

    @property
    def table_name(self) -> str:
        return self.table or "knowledge_" + self.id.replace("-", "_")

    @property
    def display_name(self) -> str:
        return self.name or self.id


class KnowledgeBaseConfig(KnowledgeBaseFields):
    """A knowledge base in the runtime file."""

    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig, description="Embedding model endpoint.")
    sources: list[KnowledgeSource] = Field(
        default_factory=list, max_length=256, description="Contents loaded at start."
    )

    @model_validator(mode="after")
    def _source_hosts_allowed(self) -> KnowledgeBaseConfig:
        """A source URL is fetched as URL content is: only from a host in ``allowed_hosts``."""
        refused = find_refused_source(
            [source.url for source in self.sources], self.allowed_hosts, hosts_field="allowed_hosts"
        )
        if refused is not None:
            raise ValueError(f"sources[{refused.index}].url refused: {refused.problem}")
        return self


@dataclass(frozen=True)
class RefusedSource:
    """A source URL its base may not fetch: its place in ``sources`` and why."""

    index: int
    problem: str


def find_refused_source(
    urls: Sequence[str | None], allowed_hosts: Sequence[str], *, hosts_field: str
) -> RefusedSource | None:
    """The first of a base's source ``urls`` (``None`` for a source that is no URL) that is not
    on one of its ``allowed_hosts``, with the fix, naming the list ``hosts_field`` (its name
    where the base is written); ``None`` when every URL may be fetched. The runtime file and
    the custom resource both check their sources with it."""
    for index, url in enumerate(urls):
        if url is None:
            continue
        try:
            host, port = split_host(url)
        except RefusedURL:
            # Never the URL itself: it may hold credentials.
            return RefusedSource(index, control_problem(url) or "not a valid URL: check its host and port")
        if not host_allowed(host, port, allowed_hosts):
            listed = ", ".join(allowed_hosts) or "none"
            return RefusedSource(
                index,
                f"host '{host}' is not in {hosts_field} ({listed}): add it (or a '*.' pattern covering it),"
                " or remove the source",
            )
    return None
