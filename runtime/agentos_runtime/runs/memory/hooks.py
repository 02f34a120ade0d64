"""What an agent's or a team's run does about user memories, before it starts and after it completes.

``UserMemory.prepare`` (before): the user's memories for the system message, and with agentic
memory the ``update_user_memory`` tool bound to that user. ``UserMemory.remember`` (after a
completed run): extract memories from what the user said in a background task tracked by the
run registry, so the answer never waits for it and shutdown does. Memories are keyed by the
run's ``user_id``, ``"default"`` without one, as in Agno; a team's run writes them with its
``team_id`` (and no ``agent_id``), as Agno's teams do.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from agentos_runtime.config.components import ComponentFields
from agentos_runtime.errors import AgentOSError
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.memory import managing, prompts
from agentos_runtime.runs.memory.tools import MemoryScope
from agentos_runtime.runs.record import RunRecord
from agentos_runtime.runs.registry import RunRegistry
from agentos_runtime.runs.turns import Toolbox
from agentos_runtime.storage.ports import MemoryStore
from agentos_runtime.tools.tool import Tool

log = logging.getLogger(__name__)

DEFAULT_USER_ID = "default"
MEMORY_TOOL = "update_user_memory"
_TASK_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task": {
            "type": "string",
            "description": "The change to make: a memory to add, update or remove, described precisely.",
        }
    },
    "required": ["task"],
}


@dataclass(frozen=True)
class PreparedMemory:
    """What one run adds for memories: text for its system message and tools for its model."""

    context: str | None = None
    tools: list[Tool] = field(default_factory=list)

    def system_message(self, system: str | None) -> str | None:
        return system if self.context is None else prompts.with_memories(system, self.context)

    def toolbox(self, base: Toolbox) -> Toolbox:
        if not self.tools:
            return base
        return Toolbox(
            tools={**base.tools, **{tool.name: tool for tool in self.tools}},
            schemas=[*(base.schemas or []), *(tool.schema() for tool in self.tools)],
            limit=base.limit,
        )


class UserMemory:
    """One agent's (or team's) memory settings, its memory store and the model that manages memories."""

    def __init__(
        self,
        *,
        store: MemoryStore,
        model: ChatModel,
        agent_id: str | None,
        registry: RunRegistry,
        add_to_context: bool,
        extract: bool,
        agentic: bool,
        team_id: str | None = None,
    ) -> None:
        self.store = store
        self.model = model
        self.agent_id = agent_id
        self.team_id = team_id
        self.registry = registry
        self.add_to_context = add_to_context
        self.extract = extract
        self.agentic = agentic

    async def prepare(self, user_id: str | None) -> PreparedMemory:
        """Read the user's memories for the run; raises ``StorageUnavailable`` like any read."""
        user = user_id or DEFAULT_USER_ID
        context = None
        if self.add_to_context:
            memories = await managing.recent_memories(self.store, user)
            context = prompts.memories_context(memories, agentic=self.agentic)
        return PreparedMemory(context=context, tools=[self._memory_tool(user)] if self.agentic else [])

    def remember(self, record: RunRecord) -> None:
        """Start extracting memories from a completed run's input, in the background."""
        if not self.extract or not record.input_content.strip():
            return
        scope = MemoryScope(
            store=self.store,
            user_id=record.user_id or DEFAULT_USER_ID,
            agent_id=self.agent_id,
            team_id=self.team_id,
            input_text=record.input_content,
        )
        task = asyncio.get_running_loop().create_task(self._extract(scope, record.run_id))
        self.registry.track(task)

    async def _extract(self, scope: MemoryScope, run_id: str) -> None:
        owner = self.agent_id or self.team_id
        try:
            await managing.extract_memories(self.model, scope, scope.input_text or "")
        except AgentOSError as error:  # foreseen (the model endpoint or the database failed): one line
            log.warning("extracting memories after run %s of %s failed: %s", run_id, owner, error.detail)
        except Exception:  # a background task's boundary: nobody awaits it, so it is logged here, once
            log.warning("extracting memories after run %s of %s failed", run_id, owner, exc_info=True)

    def _memory_tool(self, user_id: str) -> Tool:
        async def update_user_memory(task: str) -> str:
            scope = MemoryScope(
                store=self.store, user_id=user_id, agent_id=self.agent_id, team_id=self.team_id, input_text=task
            )
            return await managing.run_memory_task(self.model, scope, task)

        description = (
            "Change what you remember about the user: add a memory, update one or remove one. "
            "Describe the change in detail."
        )
        return Tool(MEMORY_TOOL, description, _TASK_PARAMETERS, update_user_memory)


def user_memory_for(
    config: ComponentFields,
    *,
    model: ChatModel,
    store: MemoryStore | None,
    registry: RunRegistry,
    team: bool = False,
) -> UserMemory | None:
    """The memory behaviour ``config`` (an agent's, or a team's with ``team=True``) asks for;
    ``None`` when it asks for none or there is no store.

    ``add_memories_to_context`` defaults to on when either kind of memory is on; a fixed
    ``system_message`` gets no memories, as in Agno. Extraction after runs is skipped when
    the agent manages its memories itself (agentic memory), as in Agno.
    """
    enabled = config.enable_user_memories or config.enable_agentic_memory
    add_to_context = config.add_memories_to_context if config.add_memories_to_context is not None else enabled
    if store is None or not (enabled or add_to_context):
        return None
    return UserMemory(
        store=store,
        model=model,
        agent_id=None if team else config.id,
        team_id=config.id if team else None,
        registry=registry,
        add_to_context=add_to_context and config.system_message is None,
        extract=config.enable_user_memories and not config.enable_agentic_memory,
        agentic=config.enable_agentic_memory,
    )
