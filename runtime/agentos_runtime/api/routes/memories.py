"""The ``/memories`` family: user memories read, written and deleted, their topics and per-user stats.

Each route makes one call (two for a change) on the selected database's memory store and
shapes the answer with ``memory_schemas``. Status codes and texts are Agno's. With user
isolation a non-admin caller works on its own memories only: its token's ``sub`` replaces any
``user_id`` it sends (``Caller.scoped_user_id``). ``PATCH`` writes the memory as Agno 3.1.10
does (``memory_schemas.patched_memory``): an upsert that clears what the memory recorded about
its origin, and creates the memory when no such id exists (except for an isolated caller: 404).
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.deps import DatabaseDep
from agentos_runtime.api.forms import FormRoute
from agentos_runtime.api.responses import DATABASE_ERRORS, ErrorDetail, Memory, MemoryPage, UserMemoryStatsPage, answers
from agentos_runtime.api.routes.memory_schemas import (
    DeleteMemoriesRequest,
    MemoryWrite,
    memory_view,
    memory_views,
    patched_memory,
    split_topics,
    stats_view,
)
from agentos_runtime.api.routes.session_schemas import page_envelope
from agentos_runtime.errors import BadRequest, NotFound
from agentos_runtime.storage.ports import MemoryQuery, MemoryRow, SortOrder, UserMemoryStats

router = APIRouter(route_class=FormRoute, tags=["Memory"], responses=DATABASE_ERRORS)

JSON = dict[str, Any]
UserParam = Annotated[str | None, Query(description="Only memories of this user.")]
USER_REQUIRED = "User ID is required"


@router.post("/memories", responses=answers(Memory, "The stored memory", 400, 503))
async def create_memory(payload: MemoryWrite, database: DatabaseDep, caller: CallerDep) -> JSON:
    """Store a new memory about a user."""
    user_id = caller.scoped_user_id(payload.user_id)
    if user_id is None:
        raise BadRequest(USER_REQUIRED)
    row = MemoryRow(memory_id=str(uuid.uuid4()), memory=payload.memory, user_id=user_id, topics=payload.topics or [])
    return memory_view(await database.database.memories.upsert_memory(row))


@router.get("/memories", responses=answers(MemoryPage, "One page of memories", 400, 503))
async def list_memories(
    database: DatabaseDep,
    caller: CallerDep,
    user_id: UserParam = None,
    agent_id: str | None = None,
    team_id: str | None = None,
    topics: Annotated[list[str] | None, Query(description="Topics a memory must all have (comma-separated).")] = None,
    search_content: Annotated[str | None, Query(description="Text the memory contains.")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 20,
    page: Annotated[int, Query(ge=1)] = 1,
    sort_by: str = "updated_at",
    sort_order: SortOrder = "desc",
) -> JSON:
    """Memories matching the filters, one page at a time."""
    query = MemoryQuery(
        user_id=caller.scoped_user_id(user_id),
        agent_id=agent_id,
        team_id=team_id,
        search_content=search_content,
        topics=split_topics(topics),
        limit=limit,
        page=page,
        sort_by=sort_by,
        sort_order=sort_order,
    )
    started = time.perf_counter()
    found = await database.database.memories.list_memories(query)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return page_envelope(memory_views(found.items), page=page, limit=limit, total=found.total, elapsed_ms=elapsed_ms)


@router.get("/memories/{memory_id}", responses=answers(Memory, "The memory", 404, 503))
async def get_memory(memory_id: str, database: DatabaseDep, caller: CallerDep, user_id: UserParam = None) -> JSON:
    """One memory."""
    row = await database.database.memories.get_memory(memory_id, user_id=caller.scoped_user_id(user_id))
    if row is None:
        raise NotFound(f"Memory with ID {memory_id} not found")
    return memory_view(row)


@router.patch("/memories/{memory_id}", responses=answers(Memory, "The changed memory", 400, 404, 503))
async def update_memory(memory_id: str, payload: MemoryWrite, database: DatabaseDep, caller: CallerDep) -> JSON:
    """Replace a memory's text and topics; its agent, team, input and feedback are cleared."""
    user_id = caller.scoped_user_id(payload.user_id)
    if user_id is None:
        raise BadRequest(USER_REQUIRED)
    store = database.database.memories
    stored = await store.get_memory(memory_id, user_id=user_id if caller.isolated else None)
    if not caller.isolated:  # as Agno: a memory of that id is written whether or not one is stored
        return memory_view(await store.upsert_memory(patched_memory(memory_id, payload, stored, user_id=user_id)))
    # Isolated: the caller's own memory only, still stored as the write lands (not one deleted meanwhile).
    patched = patched_memory(memory_id, payload, stored, user_id=user_id) if stored is not None else None
    written = None if patched is None else await store.update_memory(patched, user_id=user_id)
    if written is None:
        raise NotFound("Memory not found")
    return memory_view(written)


@router.delete("/memories/{memory_id}", status_code=204, responses={503: {"model": ErrorDetail}})
async def delete_memory(
    memory_id: str, database: DatabaseDep, caller: CallerDep, user_id: UserParam = None
) -> Response:
    """Delete one memory; ``user_id`` deletes it only if it is that user's.

    204 whether or not a memory was deleted, as in Agno: deleting is idempotent, and a 404 for a
    memory of another user would tell the caller that the id exists.
    """
    await database.database.memories.delete_memories([memory_id], user_id=caller.scoped_user_id(user_id))
    return Response(status_code=204)


@router.delete("/memories", status_code=204, responses={503: {"model": ErrorDetail}})
async def delete_memories(request: DeleteMemoriesRequest, database: DatabaseDep, caller: CallerDep) -> Response:
    """Delete several memories at once."""
    await database.database.memories.delete_memories(request.memory_ids, user_id=caller.scoped_user_id(request.user_id))
    return Response(status_code=204)


@router.get("/memory_topics", responses=answers(list[str], "Every topic of the memories", 503))
async def list_memory_topics(database: DatabaseDep, caller: CallerDep, user_id: UserParam = None) -> list[str]:
    """Every topic memories are filed under, once each."""
    return await database.database.memories.list_topics(user_id=caller.scoped_user_id(user_id))


@router.get("/user_memory_stats", responses=answers(UserMemoryStatsPage, "Memory counts per user", 400, 503))
async def get_user_memory_stats(
    database: DatabaseDep,
    caller: CallerDep,
    user_id: UserParam = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 20,
    page: Annotated[int, Query(ge=1)] = 1,
) -> JSON:
    """Per user: how many memories, and when the latest changed; most recently changed first."""
    user_id = caller.scoped_user_id(user_id)
    store = database.database.memories
    if user_id is None:
        found = await store.user_memory_stats(limit=limit, page=page)
        return page_envelope(
            [stats_view(s) for s in found.items], page=page, limit=limit, total=found.total, elapsed_ms=0
        )
    latest = await store.list_memories(MemoryQuery(user_id=user_id, limit=1))
    stats = []
    if latest.total and page == 1:
        newest = latest.items[0]
        changed = newest.updated_at if newest.updated_at is not None else newest.created_at
        stats = [
            stats_view(UserMemoryStats(user_id=user_id, total_memories=latest.total, last_memory_updated_at=changed))
        ]
    return page_envelope(stats, page=page, limit=limit, total=1 if latest.total else 0, elapsed_ms=0)
