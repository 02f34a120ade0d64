"""What a listing query means: filters, sortable fields, order and page, decided once.

The in-memory and Redis backends evaluate queries here, in process; the SQL backend compiles
the same rules (same sortable fields, ``updated_at`` falling back to ``created_at``, missing
values last, ties broken by id) so every backend returns the same page for the same data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from agentos_runtime.errors import BadRequest
from agentos_runtime.storage.ports import (
    MemoryQuery,
    MemoryRow,
    Page,
    SessionQuery,
    SessionRow,
    SortOrder,
    UserMemoryStats,
)

T = TypeVar("T")

# Columns a listing may sort by; any other ``sort_by`` falls back to the default (Agno ignores
# unknown sort fields rather than failing the request, and so do we).
SESSION_SORT_FIELDS = frozenset(
    {"created_at", "updated_at", "session_id", "session_type", "agent_id", "team_id", "workflow_id", "user_id"}
)
MEMORY_SORT_FIELDS = frozenset({"created_at", "updated_at", "memory_id", "user_id", "agent_id", "team_id"})
DEFAULT_SESSION_SORT = "created_at"
DEFAULT_MEMORY_SORT = "updated_at"


def session_sort_field(sort_by: str) -> str:
    return sort_by if sort_by in SESSION_SORT_FIELDS else DEFAULT_SESSION_SORT


def memory_sort_field(sort_by: str) -> str:
    return sort_by if sort_by in MEMORY_SORT_FIELDS else DEFAULT_MEMORY_SORT


# The largest offset a query is sent with: SQLite and PostgreSQL take a signed 64-bit OFFSET,
# and no table has this many rows, so any page beyond it is as empty as the page at it.
MAX_OFFSET = 2**62


def page_offset(limit: int, page: int) -> int:
    """Rows to skip for 1-based ``page``, at most ``MAX_OFFSET``; ``BadRequest`` below 1."""
    if limit < 1:
        raise BadRequest(f"limit must be at least 1, got {limit}")
    if page < 1:
        raise BadRequest(f"page must be at least 1, got {page}")
    return min((page - 1) * limit, MAX_OFFSET)


def paginate(items: Sequence[T], *, limit: int, page: int) -> Page[T]:
    offset = page_offset(limit, page)
    return Page(items=list(items[offset : offset + limit]), total=len(items))


def sort_records(
    items: Iterable[T], *, value: Callable[[T], Any], ident: Callable[[T], str], order: SortOrder
) -> list[T]:
    """Order by ``value`` (missing values last), ties by ``ident``, both in ``order``."""
    descending = order == "desc"
    listed = list(items)
    present = [item for item in listed if value(item) is not None]
    missing = [item for item in listed if value(item) is None]
    present.sort(key=lambda item: (value(item), ident(item)), reverse=descending)
    missing.sort(key=ident, reverse=descending)
    return present + missing


def session_sort_value(row: SessionRow, field: str) -> Any:
    if field == "updated_at":
        return row.updated_at if row.updated_at is not None else row.created_at
    return getattr(row, field)


def session_name_of(row: SessionRow) -> str | None:
    name = (row.session_data or {}).get("session_name")
    return name if isinstance(name, str) else None


def fold(text: str) -> str:
    """``text`` in lower case as SQL's ``lower()`` gives it, each letter on its own: Python's
    ``lower()`` but for the two letters it maps otherwise, ``İ`` (to ``i``, not ``i̇``) and a
    word-final ``Σ`` (to ``σ``, not ``ς``). Searches that ignore case compare folded texts on
    every backend (SQLite runs this as its ``lower()``), so each finds what the others do."""
    return text.replace("\u0130", "i").replace("\u03a3", "\u03c3").lower()


def session_matches(row: SessionRow, query: SessionQuery) -> bool:
    """Whether ``row`` passes every filter of ``query`` (Agno's semantics for ``component_id``)."""
    if query.session_type is not None and row.session_type != query.session_type:
        return False
    if query.user_id is not None and row.user_id != query.user_id:
        return False
    if query.component_id is not None and query.component_id not in _component_ids(row, query):
        return False
    if query.session_name is not None:
        name = session_name_of(row) or ""
        if fold(query.session_name) not in fold(name):
            return False
    return True


def _component_ids(row: SessionRow, query: SessionQuery) -> tuple[str | None, ...]:
    by_type = {"agent": (row.agent_id,), "team": (row.team_id,), "workflow": (row.workflow_id,)}
    if query.session_type is None:
        return (row.agent_id, row.team_id, row.workflow_id)
    return by_type[query.session_type]


def list_sessions(rows: Iterable[SessionRow], query: SessionQuery) -> Page[SessionRow]:
    field = session_sort_field(query.sort_by)
    matching = sort_records(
        (row for row in rows if session_matches(row, query)),
        value=lambda row: session_sort_value(row, field),
        ident=lambda row: row.session_id,
        order=query.sort_order,
    )
    return paginate(matching, limit=query.limit, page=query.page)


def memory_sort_value(row: MemoryRow, field: str) -> Any:
    if field == "updated_at":
        return row.updated_at if row.updated_at is not None else row.created_at
    return getattr(row, field)


def memory_matches(row: MemoryRow, query: MemoryQuery) -> bool:
    """Whether ``row`` passes every filter of ``query``; every listed topic must be present."""
    if query.user_id is not None and row.user_id != query.user_id:
        return False
    if query.agent_id is not None and row.agent_id != query.agent_id:
        return False
    if query.team_id is not None and row.team_id != query.team_id:
        return False
    if query.topics is not None and not set(query.topics) <= set(row.topics):
        return False
    if query.search_content is not None and fold(query.search_content) not in fold(row.memory):
        return False
    return True


def list_memories(rows: Iterable[MemoryRow], query: MemoryQuery) -> Page[MemoryRow]:
    field = memory_sort_field(query.sort_by)
    matching = sort_records(
        (row for row in rows if memory_matches(row, query)),
        value=lambda row: memory_sort_value(row, field),
        ident=lambda row: row.memory_id,
        order=query.sort_order,
    )
    return paginate(matching, limit=query.limit, page=query.page)


def list_topics(rows: Iterable[MemoryRow], *, user_id: str | None) -> list[str]:
    """Distinct topics, sorted, of the memories of ``user_id`` (of everyone when ``None``)."""
    return sorted({topic for row in rows if user_id is None or row.user_id == user_id for topic in row.topics})


def user_memory_stats(rows: Iterable[MemoryRow], *, limit: int, page: int) -> Page[UserMemoryStats]:
    """Per user (memories without a user are left out): count and latest update, latest first."""
    totals: dict[str, int] = {}
    latest: dict[str, int | None] = {}
    for row in rows:
        if row.user_id is None:
            continue
        totals[row.user_id] = totals.get(row.user_id, 0) + 1
        updated = memory_sort_value(row, "updated_at")
        current = latest.get(row.user_id)
        latest[row.user_id] = updated if current is None or (updated is not None and updated > current) else current
    stats = [UserMemoryStats(user_id, totals[user_id], latest[user_id]) for user_id in totals]
    ordered = sort_records(
        stats, value=lambda item: item.last_memory_updated_at, ident=lambda item: item.user_id, order="desc"
    )
    return paginate(ordered, limit=limit, page=page)
