"""The system message of an agent, built as Agno builds it, as a pure function.

``system_message`` replaces everything. Otherwise the message is the description, the role,
the instructions (one instruction as is, several as ``- `` bullets, multi-line ones as blocks),
then an ``<additional_information>`` list (Markdown, the current time). Nothing at all gives no
system message. The clock is an argument, so the same inputs give the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from agentos_runtime.config.components import AgentConfig


def render_instructions(instructions: Sequence[str]) -> str:
    """One instruction as is; several as bullets, with multi-line ones kept as blocks."""
    if len(instructions) == 1:
        return instructions[0]
    if not any("\n" in item.strip() for item in instructions):
        return "\n".join(f"- {item.strip()}" for item in instructions)
    return "\n\n".join(item if "\n" in item.strip() else f"- {item.strip()}" for item in instructions)


def build_system_message(config: AgentConfig, *, now: datetime) -> str | None:
    """The system message text for ``config`` at time ``now``; ``None`` when there is nothing to say."""
    if config.system_message is not None:
        return config.system_message
    additional: list[str] = []
    if config.markdown:
        additional.append("Use markdown to format your answers.")
    if config.add_datetime_to_context:
        additional.append(f"The current time is {now}.")
    text = ""
    if config.description is not None:
        text += f"{config.description}\n"
    if config.role is not None:
        text += f"\n<your_role>\n{config.role}\n</your_role>\n\n"
    if config.instructions:
        text += render_instructions(config.instructions) + "\n\n"
    if additional:
        text += "<additional_information>" + "".join(f"\n- {item}" for item in additional)
        text += "\n</additional_information>\n\n"
    text = text.strip()
    return text or None
