"""The system message of an agent, built as Agno builds it, as a pure function.

``system_message`` replaces everything. Otherwise the message is the description, the role,
the instructions (one instruction as is, several as ``- `` bullets, multi-line ones as blocks),
then an ``<additional_information>`` list (Markdown, the current time, the agent's name), then
the ``<expected_output>`` block and the ``additional_context``. Nothing at all gives no system
message. The clock is an argument, so the same inputs give the same text.

``{name}`` placeholders are resolved as Agno's ``resolve_in_context`` (on by default) resolves
them: in that system message (or ``system_message``) and in the user's message, each ``{name}``
whose name is a key of the run's session state, dependencies, metadata or ``user_id`` (first
found, in that order) becomes ``str()`` of its value; anything else is left as written. Nothing
is evaluated (``{0.__class__}`` stays text), the values put in are not resolved again, and ``$``
is left alone (Agno's ``string.Template`` also turns ``$name`` into the value and ``$$`` into
``$``, and writes a key that is not a Python identifier as ``${key}``).
"""

from __future__ import annotations

import json
import logging
import re
from collections import ChainMap
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agentos_runtime.config.components import AgentConfig, ComponentFields

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
# Most characters placeholders may add to one text: "{big}" a million times over a large state
# value would otherwise build a prompt of terabytes. Past it, placeholders are left as written.
MAX_RESOLVED_GROWTH = 8 * 1024 * 1024


def current_ids(*, user_id: str | None, session_id: str | None, run_id: str | None) -> dict[str, str]:
    """The ids Agno puts in a run's session state while it runs (never stored):
    ``current_user_id`` (with a user), ``current_session_id``, ``current_run_id``."""
    named = (("current_user_id", user_id or None), ("current_session_id", session_id), ("current_run_id", run_id))
    return {name: value for name, value in named if value is not None}


def placeholder_values(
    *,
    session_state: Mapping[str, Any] | None,
    dependencies: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    run_id: str | None = None,
) -> Mapping[str, Any]:
    """What ``{name}`` may name in a run, Agno's order: the session state (with Agno's
    ``current_ids``), the dependencies, the metadata, then ``user_id``."""
    return ChainMap(
        current_ids(user_id=user_id, session_id=session_id, run_id=run_id),
        dict(session_state or {}),
        dict(dependencies or {}),
        dict(metadata or {}),
        {"user_id": user_id} if user_id is not None else {},
    )


def with_session_state(system: str | None, state: Mapping[str, Any] | None, current: Mapping[str, str]) -> str:
    """The system message with Agno's ``<session_state>`` block: the run's session state with
    its ``current_ids``, as Python writes a dict."""
    block = f"<session_state>\n{ {**(state or {}), **current} }\n</session_state>"
    return block if not system else f"{system}\n\n{block}"


def with_dependencies(message: str, dependencies: Mapping[str, Any]) -> str:
    """The user's message with Agno's ``<additional context>`` block of the run's dependencies."""
    text = json.dumps(dict(dependencies), indent=2, default=str, ensure_ascii=False)
    return f"{message}\n\n<additional context>\n{text}\n</additional context>"


def resolve_placeholders(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with each ``{name}`` naming a key of ``values`` replaced by ``str()`` of its value."""
    if "{" not in text or not values:
        return text
    rendered: dict[str, str] = {}
    budget = MAX_RESOLVED_GROWTH
    skipped = False

    def replace(match: re.Match[str]) -> str:
        nonlocal budget, skipped
        name = match.group(1)
        if name not in values:
            return match.group(0)
        if name not in rendered:
            rendered[name] = str(values[name])
        value = rendered[name]
        if len(value) > budget:
            skipped = True
            return match.group(0)
        budget -= len(value)
        return value

    resolved = _PLACEHOLDER.sub(replace, text)
    if skipped:
        log.warning("placeholders past %d added characters were left unresolved in a prompt text", MAX_RESOLVED_GROWTH)
    return resolved


def render_instructions(instructions: Sequence[str]) -> str:
    """One instruction as is; several as bullets, with multi-line ones kept as blocks."""
    if len(instructions) == 1:
        return instructions[0]
    if not any("\n" in item.strip() for item in instructions):
        return "\n".join(f"- {item.strip()}" for item in instructions)
    return "\n\n".join(item if "\n" in item.strip() else f"- {item.strip()}" for item in instructions)


def current_time(now: datetime, timezone_identifier: str | None, datetime_format: str | None = None) -> str:
    """``now`` (aware) as Agno writes the current time: in the named zone, with its UTC offset, or
    without a zone the local time without offset (Agno's ``datetime.now()``); ``str()`` of it, or
    formatted by ``datetime_format``."""
    if timezone_identifier is not None:
        local = now.astimezone(ZoneInfo(timezone_identifier))
    else:
        local = now.astimezone().replace(tzinfo=None)
    return local.strftime(datetime_format) if datetime_format else str(local)


def additional_information(config: ComponentFields, *, now: datetime) -> list[str]:
    """The items of Agno's ``<additional_information>`` list, in its order."""
    items: list[str] = []
    if config.markdown:
        items.append("Use markdown to format your answers.")
    if config.add_datetime_to_context:
        items.append(f"The current time is {current_time(now, config.timezone_identifier, config.datetime_format)}.")
    if config.name is not None and config.add_name_to_context:
        items.append(f"Your name is: {config.name}.")
    return items


def build_system_message(config: AgentConfig, *, now: datetime, values: Mapping[str, Any] | None = None) -> str | None:
    """The system message text for ``config`` at time ``now``, its ``{name}`` placeholders
    resolved from ``values`` as Agno resolves them (``expected_output`` and
    ``additional_context`` are added after, as written); ``None`` when there is nothing to say."""
    if config.system_message is not None:
        return resolve_placeholders(config.system_message, values) if values else config.system_message
    additional = additional_information(config, now=now)
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
    if values:
        text = resolve_placeholders(text, values)
    if config.expected_output is not None:
        text += f"<expected_output>\n{config.expected_output.strip()}\n</expected_output>\n\n"
    if config.additional_context is not None:
        text += f"{config.additional_context}\n"
    text = text.strip()
    return text or None
