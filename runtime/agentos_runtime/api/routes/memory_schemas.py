"""The bodies of the ``/memories`` routes: Agno's request models and ``UserMemorySchema`` views."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any

from pydantic import BaseModel, Field

from agentos_runtime.api.timestamps import iso_utc
from agentos_runtime.storable import MAX_IDS_PER_REQUEST
from agentos_runtime.storage.ports import MAX_TOPICS, MEMORY_MAX_LENGTH, TOPIC_MAX_LENGTH, MemoryRow, UserMemoryStats

JSON = dict[str, Any]


class MemoryWrite(BaseModel):
    """``POST /memories`` and ``PATCH /memories/{id}`` (Agno's ``UserMemoryCreateSchema``)."""

    memory: str = Field(min_length=1, max_length=MEMORY_MAX_LENGTH, description="The memory's text.")
    user_id: str | None = Field(default=None, description="The user the memory is about.")
    topics: list[Annotated[str, Field(max_length=TOPIC_MAX_LENGTH, pattern=r"\S")]] | None = Field(
        default=None,
        max_length=MAX_TOPICS,
        description=f"Topics to file it under (at most {MAX_TOPICS}, each of 1 to {TOPIC_MAX_LENGTH} characters).",
    )


class DeleteMemoriesRequest(BaseModel):
    memory_ids: list[str] = Field(
        min_length=1, max_length=MAX_IDS_PER_REQUEST, description="Ids of the memories to delete (at most 1000)."
    )
    user_id: str | None = Field(default=None, description="Delete only memories of this user.")


def patched_memory(memory_id: str, payload: MemoryWrite, stored: MemoryRow | None, *, user_id: str) -> MemoryRow:
    """The row ``PATCH /memories/{id}`` writes, as Agno 3.1.10 writes it.

    Agno upserts a new ``UserMemory(memory_id, memory, topics, user_id)``: an existing memory
    keeps its owner and ``created_at`` but loses its ``agent_id``, ``team_id``, ``input`` and
    ``feedback``; a memory that does not exist (``stored`` is ``None``) is created for ``user_id``.
    """
    topics = list(payload.topics or [])
    if stored is None:
        return MemoryRow(memory_id=memory_id, memory=payload.memory, user_id=user_id, topics=topics)
    return replace(
        stored,
        memory=payload.memory,
        topics=topics,
        agent_id=None,
        team_id=None,
        input=None,
        feedback=None,
        updated_at=None,
    )


def memory_view(row: MemoryRow) -> JSON:
    """One ``UserMemorySchema``."""
    return {
        "memory_id": row.memory_id,
        "memory": row.memory,
        "topics": list(row.topics),
        "agent_id": row.agent_id,
        "team_id": row.team_id,
        "user_id": row.user_id,
        "updated_at": iso_utc(row.updated_at if row.updated_at is not None else row.created_at),
    }


def memory_views(rows: Sequence[MemoryRow]) -> list[JSON]:
    """Views of listed memories; an empty memory is left out, as Agno does."""
    return [memory_view(row) for row in rows if row.memory != ""]


def stats_view(stats: UserMemoryStats) -> JSON:
    """One ``UserStatsSchema``."""
    return {
        "user_id": stats.user_id,
        "total_memories": stats.total_memories,
        "last_memory_updated_at": iso_utc(stats.last_memory_updated_at),
    }


def split_topics(topics: Sequence[str] | None) -> list[str] | None:
    """``?topics=a,b&topics=c`` as ``["a", "b", "c"]`` (Agno's client sends either form)."""
    if not topics:
        return None
    split = [topic.strip() for given in topics for topic in given.split(",") if topic.strip()]
    return split or None
