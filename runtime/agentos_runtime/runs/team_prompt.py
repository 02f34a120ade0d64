"""What a team's leader is told and given, as pure functions: its system message and tools.

The leader learns who its members are (a ``<team_members>`` roster: id, name, role,
description) and how its mode works. It delegates with Agno's tools: in ``coordinate`` and
``route`` mode ``delegate_task_to_member(member_id, task)``; in ``broadcast`` mode the runtime
itself puts the user's message to every member through ``delegate_task_to_members(task)`` and
the leader only writes the answer from their replies. After the ``<additional_information>``
list (Markdown, the current time, the team's name, as an agent's) come Agno's team blocks
``<expected_output>`` and ``<additional_context>``. ``system_message`` replaces everything,
as it does for an agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentos_runtime.config.components import TeamConfig
from agentos_runtime.runs.prompt import additional_information, render_instructions

DELEGATE_TO_MEMBER = "delegate_task_to_member"
DELEGATE_TO_MEMBERS = "delegate_task_to_members"


@dataclass(frozen=True)
class MemberCard:
    """What the leader is shown of one member."""

    id: str
    name: str
    kind: str
    """``agent`` or ``team``."""
    role: str | None = None
    description: str | None = None


def delegate_to_member_schema() -> dict[str, Any]:
    """The chat-completions ``tools`` entry of ``delegate_task_to_member``."""
    return {
        "type": "function",
        "function": {
            "name": DELEGATE_TO_MEMBER,
            "description": "Hand a task to one member of the team and get its answer back.",
            "parameters": {
                "type": "object",
                "properties": {
                    "member_id": {
                        "type": "string",
                        "description": "The member's id, exactly as shown in <team_members>.",
                    },
                    "task": {
                        "type": "string",
                        "description": "What the member should do, with everything it needs: it does not see this conversation.",
                    },
                },
                "required": ["member_id", "task"],
            },
        },
    }


def delegate_to_members_schema() -> dict[str, Any]:
    """The ``tools`` entry of ``delegate_task_to_members`` (shown on a broadcast team's runs)."""
    return {
        "type": "function",
        "function": {
            "name": DELEGATE_TO_MEMBERS,
            "description": "Put one task to every member of the team and get all their answers back.",
            "parameters": {
                "type": "object",
                "properties": {"task": {"type": "string", "description": "The task every member answers."}},
                "required": ["task"],
            },
        },
    }


_MODE_GUIDANCE = {
    "coordinate": (
        f"Split the request into tasks and hand each to the member best suited for it with `{DELEGATE_TO_MEMBER}`; "
        "independent tasks can be handed out in the same turn. Members only see the task you write, so include "
        "every name, number and earlier answer they need. Their replies are material for your answer, not the "
        "answer: write one reply yourself, and say so plainly when a member failed or found nothing."
    ),
    "route": (
        f"Pick the one member best suited for the request and hand it the whole request with `{DELEGATE_TO_MEMBER}`. "
        "Its reply goes to the user as it is and ends the run, so write nothing yourself in that turn and put any "
        "requirement on the reply (format, length) into the task."
    ),
    "broadcast": (
        "Every member has already been given the user's request; their replies follow as the result of "
        f"`{DELEGATE_TO_MEMBERS}`. Write one answer from them: merge what they agree on, resolve where they "
        "differ, and say so plainly when a member failed or found nothing."
    ),
}


def roster(members: Sequence[MemberCard]) -> str:
    """The ``<team_members>`` block."""
    lines = ["<team_members>"]
    for member in members:
        kind = ' type="team"' if member.kind == "team" else ""
        lines.append(f'<member id="{member.id}" name="{member.name}"{kind}>')
        if member.role:
            lines.append(f"  Role: {member.role}")
        if member.description:
            lines.append(f"  Description: {member.description}")
        lines.append("</member>")
    lines.append("</team_members>")
    return "\n".join(lines)


def build_leader_message(config: TeamConfig, members: Sequence[MemberCard], *, now: datetime) -> str:
    """The leader's system message for ``config`` at time ``now``."""
    if config.system_message is not None:
        return config.system_message
    parts: list[str] = []
    if config.description:
        parts.append(config.description)
    if config.instructions:
        parts.append(render_instructions(config.instructions))
    parts.append(
        "<team>\nYou lead a team of members to fulfil the user's request.\n"
        + roster(members)
        + f"\n<how_to_work>\n{_MODE_GUIDANCE[config.mode]}\n</how_to_work>\n</team>"
    )
    additional = additional_information(config, now=now)
    if additional:
        parts.append("<additional_information>" + "".join(f"\n- {item}" for item in additional))
        parts[-1] += "\n</additional_information>"
    if config.expected_output is not None:
        parts.append(f"<expected_output>\n{config.expected_output.strip()}\n</expected_output>")
    if config.additional_context is not None:
        parts.append(f"<additional_context>\n{config.additional_context.strip()}\n</additional_context>")
    return "\n\n".join(parts)
