"""The memory manager: one model conversation that updates a user's memories with its tools.

``extract_memories`` runs after a run, on what the user said (it may add, update or delete
memories); ``run_memory_task`` runs when an agent calls ``update_user_memory`` with a task
(add or update, the defaults of Agno's memory manager). Both see the user's current memories
in their instructions and return what the model answered.
"""

from __future__ import annotations

from collections.abc import Collection

from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.memory import prompts
from agentos_runtime.runs.memory.conversing import converse
from agentos_runtime.runs.memory.tools import MemoryScope, memory_tools
from agentos_runtime.storage.ports import MemoryQuery, MemoryRow, MemoryStore

# Memories shown to a model (the manager, or an agent in its context): the most recently
# changed ones, so a prompt stays bounded however many a user accumulates.
MAX_MEMORIES_SHOWN = 100

# Characters of the memory manager's answer an agent reads back from ``update_user_memory``: a
# confirmation, not a document.
MAX_TASK_ANSWER = 2000

EXTRACTION_TOOLS = (prompts.ADD, prompts.UPDATE, prompts.DELETE)
TASK_TOOLS = (prompts.ADD, prompts.UPDATE)


async def recent_memories(store: MemoryStore, user_id: str) -> list[MemoryRow]:
    """The user's most recently changed memories, oldest first."""
    found = await store.list_memories(MemoryQuery(user_id=user_id, limit=MAX_MEMORIES_SHOWN))
    return list(reversed(found.items))


async def update_memories(model: ChatModel, scope: MemoryScope, message: str, *, tools: Collection[str]) -> str:
    """Let the model change the memories of ``scope.user_id`` in answer to ``message``."""
    existing = await recent_memories(scope.store, scope.user_id)
    messages = [
        {"role": "system", "content": prompts.manager_instructions(existing, tools=tools)},
        {"role": "user", "content": message},
    ]
    return await converse(model, messages, memory_tools(scope, allowed=tools))


async def extract_memories(model: ChatModel, scope: MemoryScope, user_message: str) -> str:
    """Keep what is worth remembering from ``user_message``."""
    return await update_memories(model, scope, user_message, tools=EXTRACTION_TOOLS)


async def run_memory_task(model: ChatModel, scope: MemoryScope, task: str) -> str:
    """Carry out an agent's ``update_user_memory`` task; the manager's answer (the tool's result
    the agent reads) is cut at ``MAX_TASK_ANSWER`` characters."""
    answer = await update_memories(model, scope, task, tools=TASK_TOOLS)
    return answer[:MAX_TASK_ANSWER] or "The memories were updated."
