"""What a knowledge base stores: contents (one per document) and their chunks.

``Content`` is a row of Agno's ``agno_knowledge`` table (same columns, ``linked_to`` = the
base's id, times in epoch seconds); ``Chunk`` a row of a base's vector table (the columns of
Agno's ``PgVector`` table). Plain data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ContentStatus = Literal["processing", "completed", "failed"]

# The longest name a content (and each of its chunks) is stored with: Agno's btree index on the
# chunks' name takes at most 2,704 bytes a row on PostgreSQL, and 512 characters are at most
# 2,048 bytes of UTF-8. As long as a name an upload may give.
MAX_NAME_CHARS = 512


def clipped_name(name: str) -> str:
    """``name``, or its first ``MAX_NAME_CHARS`` characters ending in ``...`` when longer (a name
    made of a URL or a file's path, which may be far longer)."""
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 3] + "..."


@dataclass
class Content:
    """A document of a knowledge base and where its processing stands."""

    id: str
    name: str
    linked_to: str
    """Id of the knowledge base the content belongs to."""
    description: str | None = None
    type: str | None = None
    """What it was read as: a file extension (``pdf``, ``md``, ``txt``, ``html``), ``url`` or ``text``."""
    size: int | None = None
    """Bytes read."""
    metadata: dict[str, Any] = field(default_factory=dict)
    access_count: int = 0
    status: ContentStatus = "processing"
    status_message: str | None = None
    created_at: int = 0
    updated_at: int = 0
    external_id: str | None = None
    user_id: str | None = None
    """The user it belongs to (uploaded under user isolation), or ``None``: shared with every user."""


CHUNK_OWN_KEYS = frozenset({"chunk", "chunk_size", "linked_to"})
"""The keys of a chunk's ``meta_data`` that are its own (Agno's), laid over its content's metadata."""


@dataclass(frozen=True)
class Chunk:
    """A piece of a content, with its embedding."""

    id: str
    content_id: str
    name: str
    content: str
    embedding: list[float]
    meta_data: dict[str, Any] = field(default_factory=dict)
    content_hash: str | None = None
    usage: dict[str, Any] | None = None


@dataclass(frozen=True)
class SearchHit:
    """A chunk found by a search; ``distance`` is the cosine distance to the query (0 = same direction)."""

    id: str
    content_id: str | None
    name: str | None
    content: str
    meta_data: dict[str, Any]
    distance: float
    usage: dict[str, Any] | None = None
