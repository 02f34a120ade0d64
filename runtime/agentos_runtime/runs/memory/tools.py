"""The memory manager's tools: add, update, delete or clear one user's memories.

Each tool writes through the ``MemoryStore`` and answers the model in words. Tools only ever
touch the memories of the user they were made for: an ID of another user's memory, or one no
memory can have (``storable.id_problem``: too long, or a name the Redis layout keeps for its
indexes), is answered as unknown. A memory's text is bounded as over HTTP
(``MEMORY_MAX_LENGTH``): the model is asked for a shorter one. Storage errors are not
answers: they propagate (see ``conversing``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from agentos_runtime.runs.memory.prompts import ADD, CLEAR, DELETE, UPDATE
from agentos_runtime.storable import id_problem
from agentos_runtime.storage.ports import (
    MAX_TOPICS,
    MEMORY_MAX_LENGTH,
    TOPIC_MAX_LENGTH,
    MemoryQuery,
    MemoryRow,
    MemoryStore,
    topics_problem,
)
from agentos_runtime.tools.tool import Tool

# Memories one ``clear_memory`` call removes at most (a user never has nearly this many).
_CLEAR_LIMIT = 10_000

_TOPICS: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "maxLength": TOPIC_MAX_LENGTH},
    "maxItems": MAX_TOPICS,
    "description": "Topics of the memory, e.g. ['name', 'hobbies', 'location'].",
}
_MEMORY: dict[str, Any] = {"type": "string", "description": "The memory, one short statement about the user."}
_MEMORY_ID: dict[str, Any] = {"type": "string", "description": "ID of an existing memory."}


@dataclass(frozen=True)
class MemoryScope:
    """Whose memories the tools work on, and what a memory they write records about its origin."""

    store: MemoryStore
    user_id: str
    agent_id: str | None = None
    team_id: str | None = None
    input_text: str | None = None
    """What the user said that led to the change (Agno's ``input`` column)."""


def memory_tools(scope: MemoryScope, *, allowed: Collection[str]) -> list[Tool]:
    """The tools named in ``allowed`` (``prompts.ADD``, ``UPDATE``, ``DELETE``, ``CLEAR``)."""
    store, user_id = scope.store, scope.user_id

    async def add_memory(memory: str, topics: list[str] | None = None) -> str:
        if not memory.strip():
            return "A memory cannot be empty."
        if len(memory) > MEMORY_MAX_LENGTH:
            return _too_long(memory)
        problem = topics_problem(topics or [])
        if problem is not None:
            return f"The memory was not added: {problem}."
        row = MemoryRow(
            memory_id=str(uuid.uuid4()),
            memory=memory,
            user_id=user_id,
            agent_id=scope.agent_id,
            team_id=scope.team_id,
            topics=list(topics or []),
            input=scope.input_text,
        )
        await store.upsert_memory(row)
        return "Memory added successfully"

    async def update_memory(memory_id: str, memory: str, topics: list[str] | None = None) -> str:
        if not memory.strip():
            return "A memory cannot be empty: delete it instead."
        if len(memory) > MEMORY_MAX_LENGTH:
            return _too_long(memory)
        problem = topics_problem(topics or [])
        if problem is not None:
            return f"The memory was not updated: {problem}."
        stored = None if id_problem(memory_id) else await store.get_memory(memory_id, user_id=user_id)
        if stored is None:
            return f"There is no memory with ID {memory_id}."
        new_topics = list(topics) if topics is not None else stored.topics
        changed = replace(stored, memory=memory, topics=new_topics, input=scope.input_text, updated_at=None)
        # Only over the memory still stored: one deleted meanwhile (the user's "forget it") stays deleted.
        if await store.update_memory(changed, user_id=user_id) is None:
            return f"There is no memory with ID {memory_id}."
        return "Memory updated successfully"

    async def delete_memory(memory_id: str) -> str:
        deleted = 0 if id_problem(memory_id) else await store.delete_memories([memory_id], user_id=user_id)
        return "Memory deleted successfully" if deleted else f"There is no memory with ID {memory_id}."

    async def clear_memory() -> str:
        found = await store.list_memories(MemoryQuery(user_id=user_id, limit=_CLEAR_LIMIT))
        await store.delete_memories([row.memory_id for row in found.items], user_id=user_id)
        return "Memory cleared successfully"

    tools = {
        ADD: Tool(
            ADD,
            "Store a new memory about the user.",
            _object({"memory": _MEMORY, "topics": _TOPICS}, ["memory"]),
            add_memory,
        ),
        UPDATE: Tool(
            UPDATE,
            "Rewrite an existing memory about the user.",
            _object({"memory_id": _MEMORY_ID, "memory": _MEMORY, "topics": _TOPICS}, ["memory_id", "memory"]),
            update_memory,
        ),
        DELETE: Tool(
            DELETE,
            "Remove an existing memory about the user.",
            _object({"memory_id": _MEMORY_ID}, ["memory_id"]),
            delete_memory,
        ),
        CLEAR: Tool(CLEAR, "Remove every memory about the user.", _object({}, []), clear_memory),
    }
    return [tool for name, tool in tools.items() if name in allowed]


def _too_long(memory: str) -> str:
    return (
        f"A memory may have at most {MEMORY_MAX_LENGTH} characters, this one has {len(memory)}: "
        "keep one short statement about the user."
    )


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}
