"""Contents and chunks to and from table rows, the same on both databases: pure, no I/O.

The contents table has the columns of Agno's ``agno_knowledge``: ``user_id`` is the user a
content was uploaded by under user isolation, NULL for shared content (which Agno shows every
user); a chunk table those of Agno's ``PgVector`` table (``user_id`` its content's, ``filters``
the content's metadata as Agno writes it). ``owned_or_shared`` is how a user's reads are scoped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from agentos_runtime.errors import BadRequest
from agentos_runtime.knowledge.ports import SortField
from agentos_runtime.knowledge.records import CHUNK_OWN_KEYS, Chunk, Content, ContentStatus, SearchHit
from agentos_runtime.knowledge.stores.checking import clean_optional, decode_json, encode_json
from agentos_runtime.storable import clean_text

CONTENT_COLUMNS = (
    "id",
    "name",
    "description",
    "metadata",
    "type",
    "size",
    "linked_to",
    "access_count",
    "status",
    "status_message",
    "created_at",
    "updated_at",
    "external_id",
    "user_id",
)
# Chunk columns a search reads, in ``hit_from_row``'s order (the distance comes last).
HIT_COLUMNS = ("id", "content_id", "name", "content", "meta_data", "usage")
SORT_COLUMNS: frozenset[str] = frozenset({"created_at", "updated_at", "name", "status", "size"})


def content_params(content: Content) -> dict[str, Any]:
    """A content as the values of ``CONTENT_COLUMNS`` (text cleaned, metadata as JSON text)."""
    return {
        "id": clean_text(content.id),
        "name": clean_text(content.name),
        # Agno declares ``description`` NOT NULL: an absent one is stored as "".
        "description": clean_text(content.description or ""),
        "metadata": encode_json(content.metadata or {}, field="metadata"),
        "type": clean_optional(content.type),
        "size": content.size,
        "linked_to": content.linked_to,
        "access_count": content.access_count,
        "status": content.status,
        "status_message": clean_optional(content.status_message),
        "created_at": content.created_at,
        "updated_at": content.updated_at,
        "external_id": clean_optional(content.external_id),
        "user_id": content.user_id,
    }


def content_from_row(row: Sequence[Any]) -> Content:
    """A row of ``CONTENT_COLUMNS`` as a ``Content``."""
    values = dict(zip(CONTENT_COLUMNS, row, strict=True))
    metadata = decode_json(values["metadata"])
    status: ContentStatus = "failed"
    if values["status"] in ("processing", "completed"):
        status = values["status"]
    return Content(
        id=str(values["id"]),
        name=str(values["name"] or ""),
        linked_to=str(values["linked_to"] or ""),
        description=values["description"] or None,
        type=values["type"],
        size=None if values["size"] is None else int(values["size"]),
        metadata=metadata if isinstance(metadata, dict) else {},
        access_count=int(values["access_count"] or 0),
        status=status,
        status_message=values["status_message"],
        created_at=int(values["created_at"] or 0),
        updated_at=int(values["updated_at"] or 0),
        external_id=values["external_id"],
        user_id=values["user_id"],
    )


def owned_or_shared(column: str, param: str) -> str:
    """The condition keeping the rows of the user ``param`` names and the shared ones (no user)."""
    return f"({column} = {param} OR {column} IS NULL)"


def chunk_params(
    chunk: Chunk, *, content_metadata: Mapping[str, Any] | None = None, stored_metadata: object = None
) -> dict[str, Any]:
    """A chunk as the values of its table's columns (the embedding apart). ``stored_metadata``:
    its content's metadata as stored when the chunk is written, laid over the ``meta_data`` the
    chunk was built with (but its own keys, ``CHUNK_OWN_KEYS``), so an edit made while the
    content was processed reaches its chunks too."""
    meta_data = chunk.meta_data or {}
    if isinstance(stored_metadata, dict) and stored_metadata:
        edited = {key: value for key, value in stored_metadata.items() if key not in CHUNK_OWN_KEYS}
        meta_data = {**meta_data, **edited}
    return {
        "id": clean_text(chunk.id),
        "name": clean_text(chunk.name),
        "meta_data": encode_json(meta_data, field=f"chunk '{chunk.id}' meta_data"),
        "filters": encode_json(content_metadata or None, field="metadata"),
        "content": clean_text(chunk.content),
        "usage": encode_json(chunk.usage, field=f"chunk '{chunk.id}' usage"),
        "content_hash": clean_optional(chunk.content_hash),
        "content_id": clean_optional(chunk.content_id),
    }


def hit_from_row(row: Sequence[Any]) -> SearchHit:
    """A row of ``HIT_COLUMNS`` plus the distance as a ``SearchHit``."""
    chunk_id, content_id, name, content, meta_data, usage, distance = row
    decoded_meta = decode_json(meta_data)
    decoded_usage = decode_json(usage)
    return SearchHit(
        id=str(chunk_id),
        content_id=content_id,
        name=name,
        content=content or "",
        meta_data=decoded_meta if isinstance(decoded_meta, dict) else {},
        distance=float(distance),
        usage=decoded_usage if isinstance(decoded_usage, dict) else None,
    )


def order_by(sort_by: SortField, sort_order: Literal["asc", "desc"]) -> str:
    """The ``ORDER BY`` of a contents page: a known column, NULLs last, ties by id."""
    if sort_by not in SORT_COLUMNS:
        raise BadRequest(f"cannot sort contents by {sort_by!r}: use one of {', '.join(sorted(SORT_COLUMNS))}")
    direction = "DESC" if sort_order == "desc" else "ASC"
    return f'"{sort_by}" {direction} NULLS LAST, "id" {direction}'


def page_bounds(page: int, limit: int) -> tuple[int, int]:
    """``LIMIT`` and ``OFFSET`` of a 1-based page."""
    if page < 1 or limit < 1:
        raise BadRequest(f"page ({page}) and limit ({limit}) must be at least 1")
    return limit, (page - 1) * limit
