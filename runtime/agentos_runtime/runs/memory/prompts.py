"""The texts of user memories, as pure functions: the memory manager's instructions, and the
block of memories (and of agentic-memory guidance) added to an agent's system message.

The block keeps Agno's tags (``<memories_from_previous_interactions>``,
``<updating_user_memories>``) and one ``- `` line per memory, so runs stored by this runtime
read like Agno's in the UI.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from agentos_runtime.storage.ports import MemoryRow

ADD, UPDATE, DELETE, CLEAR = "add_memory", "update_memory", "delete_memory", "clear_memory"

_WHAT_TO_KEEP = """\
Keep facts about the user that will still matter in later conversations:
- who they are: name, age, job, where they live, what they are interested in;
- what they like, dislike or find frustrating;
- significant events and experiences they mention;
- their current situation, plans, challenges and goals;
- anything else that helps understand their needs and point of view."""

_HOW_TO_KEEP = """\
Decide first whether anything needs to change: when the user's message holds nothing worth
keeping, or the existing memories already hold it, change nothing.
Write each memory as one short statement about the user in the third person, for example
"User's name is Ana" or "User goes running every morning". Split unrelated facts into
separate memories, never repeat a fact across memories, and prefer updating an existing
memory (extending it with what is new) over adding a near-duplicate. When the user asks to
forget something, remove it entirely. When a preference changes, record the new one and
what it replaced."""

_TOOL_USES = {
    ADD: f"- `{ADD}` stores a new memory;",
    UPDATE: f"- `{UPDATE}` rewrites an existing memory, by its ID;",
    DELETE: f"- `{DELETE}` removes an existing memory, by its ID;",
    CLEAR: f"- `{CLEAR}` removes every memory of the user;",
}


def manager_instructions(existing: Sequence[MemoryRow], *, tools: Collection[str]) -> str:
    """The memory manager's system message: what to keep, how, with which tools, and what is kept."""
    lines = [
        "You maintain a set of memories about the user you are told about.",
        "",
        _WHAT_TO_KEEP,
        "",
        _HOW_TO_KEEP,
        "",
        "You may call several tools in one answer:",
        *(use for name, use in _TOOL_USES.items() if name in tools),
    ]
    if existing:
        lines += ["", "<existing_memories>"]
        for memory in existing:
            lines += [f"ID: {memory.memory_id}", f"Memory: {memory.memory}", ""]
        lines.append("</existing_memories>")
    return "\n".join(lines)


def memories_context(memories: Sequence[MemoryRow], *, agentic: bool) -> str:
    """The part of an agent's system message about the user's memories."""
    if memories:
        listed = "".join(f"\n- {memory.memory}" for memory in memories)
        text = (
            "You know the following about the user from earlier conversations; use it to personalise your answer:\n\n"
            f"<memories_from_previous_interactions>{listed}\n</memories_from_previous_interactions>\n\n"
            "What the user says in this conversation takes precedence over these memories, which may be out of date."
        )
    else:
        text = "You can remember things about the user across conversations, but you have not talked with them before."
    if agentic:
        text += (
            "\n\n<updating_user_memories>\n"
            "- The `update_user_memory` tool adds, changes or removes what you remember about the user.\n"
            "- Call it when the user tells you something worth remembering, or asks you to change or forget a memory.\n"
            "- Describe the change precisely in its `task` argument.\n"
            "- Tell the user what the tool answered.\n"
            "</updating_user_memories>"
        )
    return text


def with_memories(system: str | None, context: str) -> str:
    """The system message with the memories part appended (the whole message when there was none)."""
    return context if not system else f"{system}\n\n{context}"
