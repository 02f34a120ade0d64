"""The pure parts of user memories: which behaviour a config asks for, and the texts sent."""

from __future__ import annotations

from typing import Any

import pytest
from agentos_runtime.config.components import AgentConfig
from agentos_runtime.runs.memory import prompts
from agentos_runtime.runs.memory.hooks import PreparedMemory, user_memory_for
from agentos_runtime.runs.registry import RunRegistry
from agentos_runtime.runs.turns import Toolbox
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import MemoryRow
from agentos_runtime.tools.tool import Tool

from tests.runtime.engine.fakes import FakeChatModel


def memory_for(**config: Any) -> Any:
    database = InMemoryDatabase(id="db")
    return user_memory_for(
        AgentConfig(id="a", **config), model=FakeChatModel(), store=database.memories, registry=RunRegistry()
    )


def test_no_memory_setting_means_no_memory_behaviour() -> None:
    assert memory_for() is None
    assert memory_for(add_memories_to_context=False) is None


def test_user_memories_extract_and_add_to_context_by_default() -> None:
    memory = memory_for(enable_user_memories=True)
    assert (memory.extract, memory.add_to_context, memory.agentic) == (True, True, False)


def test_agentic_memory_replaces_extraction_with_a_tool() -> None:
    memory = memory_for(enable_user_memories=True, enable_agentic_memory=True)
    assert (memory.extract, memory.add_to_context, memory.agentic) == (False, True, True)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"enable_user_memories": True, "add_memories_to_context": False}, False),
        ({"add_memories_to_context": True}, True),
        ({"enable_user_memories": True, "system_message": "Fixed."}, False),
    ],
)
def test_adding_memories_to_context_follows_the_flag_and_a_fixed_system_message(
    config: dict[str, Any], expected: bool
) -> None:
    assert memory_for(**config).add_to_context is expected


def test_without_a_memory_store_memories_are_off() -> None:
    config = AgentConfig(id="a", enable_user_memories=True)
    assert user_memory_for(config, model=FakeChatModel(), store=None, registry=RunRegistry()) is None


def test_the_context_lists_each_memory_on_its_own_line_in_agnos_tags() -> None:
    rows = [MemoryRow(memory_id="1", memory="User is Ana"), MemoryRow(memory_id="2", memory="User likes tea")]

    text = prompts.memories_context(rows, agentic=False)

    assert (
        "<memories_from_previous_interactions>\n- User is Ana\n- User likes tea\n</memories_from_previous_interactions>"
        in text
    )
    assert "<updating_user_memories>" not in text
    assert "<updating_user_memories>" in prompts.memories_context(rows, agentic=True)
    assert "<memories_from_previous_interactions>" not in prompts.memories_context([], agentic=False)


def test_the_manager_instructions_name_only_the_allowed_tools_and_list_existing_memories() -> None:
    text = prompts.manager_instructions([MemoryRow(memory_id="m1", memory="User is Ana")], tools=[prompts.ADD])

    assert "`add_memory`" in text and "`update_memory`" not in text and "`delete_memory`" not in text
    assert text.endswith("<existing_memories>\nID: m1\nMemory: User is Ana\n\n</existing_memories>")
    assert "<existing_memories>" not in prompts.manager_instructions([], tools=[prompts.ADD])


def test_prepared_memory_appends_to_the_system_message_and_adds_its_tools() -> None:
    async def noop() -> str:
        return ""

    base = Toolbox(tools={}, schemas=None, limit=3)
    tool = Tool("update_user_memory", "d", {"type": "object", "properties": {}}, noop)
    prepared = PreparedMemory(context="MEMORIES", tools=[tool])

    assert prepared.system_message("Be brief.") == "Be brief.\n\nMEMORIES"
    assert prepared.system_message(None) == "MEMORIES"
    toolbox = prepared.toolbox(base)
    assert list(toolbox.tools) == ["update_user_memory"] and toolbox.limit == 3
    assert toolbox.schemas == [tool.schema()]
    assert PreparedMemory().toolbox(base) is base and PreparedMemory().system_message("x") == "x"


async def test_a_memory_deleted_while_the_manager_updates_it_stays_deleted() -> None:
    # The update read the memory, a DELETE landed, then the update wrote it back: the user's
    # "forget this" was undone, with the old owner and created_at.
    from agentos_runtime.runs.memory.tools import MemoryScope, memory_tools
    from agentos_runtime.storage.memory import InMemoryDatabase
    from agentos_runtime.storage.ports import MemoryRow

    database = InMemoryDatabase(id="db")
    store = database.memories
    await store.upsert_memory(MemoryRow(memory_id="m1", memory="likes tea", user_id="ana"))
    read = store.get_memory

    async def read_then_deleted(memory_id: str, *, user_id: str | None = None) -> MemoryRow | None:
        found = await read(memory_id, user_id=user_id)
        await store.delete_memories([memory_id], user_id="ana")  # the user's delete, in between
        return found

    store.get_memory = read_then_deleted  # type: ignore[method-assign]
    [update] = memory_tools(MemoryScope(store=store, user_id="ana"), allowed={"update_memory"})

    answer = await update.function(memory_id="m1", memory="likes coffee")

    assert answer == "There is no memory with ID m1."
    assert await read("m1") is None
