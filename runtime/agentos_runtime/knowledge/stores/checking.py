"""What both stores do to values before writing them, and the errors they raise: pure, no I/O.

Text: PostgreSQL's ``text`` and ``jsonb`` cannot hold NUL, and no UTF-8 database can hold a
lone surrogate (Python strings can: a file decoded with ``surrogateescape``, a JSON ``\\ud800``).
The stores replace both with U+FFFD (as Agno's ``PgVector`` does for NUL) in every text they
write, contents and chunks, names, metadata keys and values, on SQLite as on PostgreSQL, so a
document is stored the same everywhere and never refused for a stray byte; the readers strip
NUL from documents before that. Embeddings are checked before any write: each must have the
base's ``dimensions`` finite floats.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from agentos_runtime.errors import BadRequest, StorageUnavailable
from agentos_runtime.knowledge.records import Chunk
from agentos_runtime.storable import clean_json, clean_text


class UnstorableData(BadRequest):
    """A value the database cannot hold (an embedding of the wrong length, a duplicate chunk
    id, metadata that is not JSON); nothing of the write was applied."""


class IncompatibleStore(StorageUnavailable):
    """The database is reachable but cannot hold this knowledge base as configured (an existing
    table with other dimensions, no pgvector); the message says what to change."""

    transient = False  # it needs a change, not patience


def clean_optional(text: str | None) -> str | None:
    return None if text is None else clean_text(text)


def encode_json(value: Any, *, field: str) -> str | None:
    """``value`` as JSON text (``None`` stays SQL NULL); ``UnstorableData`` naming ``field`` when
    it is not JSON (a date, an object, NaN)."""
    if value is None:
        return None
    try:
        return json.dumps(clean_json(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise UnstorableData(
            f"{field} is not JSON: {error}; send strings, numbers, booleans, lists and objects"
        ) from error


def decode_json(text: Any) -> Any:
    """A JSON column's value as read: drivers give text (SQLite) or the decoded value (psycopg)."""
    if text is None or not isinstance(text, str | bytes):
        return text
    return json.loads(text)


def check_chunks(chunks: Sequence[Chunk], *, dimensions: int, table: str) -> None:
    """``UnstorableData`` for the first chunk whose embedding is not ``dimensions`` finite floats,
    or when two chunks share an id."""
    seen: set[str] = set()
    for position, chunk in enumerate(chunks):
        if len(chunk.embedding) != dimensions:
            raise UnstorableData(
                f"chunk {position} ('{clean_text(chunk.id)}') has an embedding of {len(chunk.embedding)} dimensions; "
                f"table '{table}' holds {dimensions}: the embedder must return vectors of the configured dimensions"
            )
        if not all(math.isfinite(value) for value in chunk.embedding):
            raise UnstorableData(
                f"chunk {position} ('{clean_text(chunk.id)}') has an embedding that is not finite (NaN or inf)"
            )
        if chunk.id in seen:
            raise UnstorableData(
                f"chunk {position}: id '{clean_text(chunk.id)}' appears twice; chunk ids must be unique"
            )
        seen.add(chunk.id)


def json_contains(document: Any, pattern: Any) -> bool:
    """PostgreSQL's ``jsonb @>`` on decoded JSON: objects contain the pattern's keys with
    contained values, arrays contain each of the pattern's items, scalars are equal (``1``
    equals ``1.0``, ``true`` never equals ``1``)."""
    if isinstance(pattern, Mapping):
        return isinstance(document, Mapping) and all(
            key in document and json_contains(document[key], value) for key, value in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(document, list) and all(
            any(json_contains(item, wanted) for item in document) for wanted in pattern
        )
    if isinstance(pattern, bool) or isinstance(document, bool):
        return isinstance(pattern, bool) and isinstance(document, bool) and pattern == document
    if isinstance(pattern, int | float) and isinstance(document, int | float):
        return pattern == document
    return type(document) is type(pattern) and bool(document == pattern)
