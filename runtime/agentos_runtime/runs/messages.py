"""Run messages: Agno's stored message dicts, their chat-completions form, and history.

A run keeps its messages as Agno stores them (``Message.to_dict()``: ``id, content,
from_history, stop_after_tool_call, role, ..., created_at``), so runs written by Agno and by
this runtime read the same. ``to_chat`` turns one into what the model endpoint takes.
``history_messages`` picks earlier turns of a session the way Agno's ``get_messages`` does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

JSON = dict[str, Any]

# Runs whose messages are never replayed as history: Agno's ``HISTORY_SKIP_STATUSES``, and runs
# still going (a background run is stored RUNNING as it starts: its question has no answer yet).
HISTORY_SKIP_STATUSES = frozenset({"PAUSED", "CANCELLED", "ERROR", "REGENERATED", "PENDING", "RUNNING"})


def new_message(role: str, content: str | None, *, created_at: int, **fields: Any) -> JSON:
    """A message in Agno's stored shape; ``None`` and empty fields are left out, as Agno does."""
    message: JSON = {
        "id": str(uuid.uuid4()),
        "content": content,
        "from_history": False,
        "stop_after_tool_call": False,
        "role": role,
    }
    message.update(fields)
    message = {k: v for k, v in message.items() if v is not None and not (isinstance(v, list | dict) and not v)}
    message["created_at"] = created_at
    return message


def to_chat(message: JSON) -> JSON:
    """The chat-completions form of a stored message.

    A message stored without content (``null``, as Agno stores an assistant turn that only
    calls tools) is sent with ``""``, as Agno's OpenAI model sends every such message: some
    OpenAI-compatible request validators refuse ``null`` there (mistral-common's, until its #324)."""
    role = message.get("role", "user")
    content = message.get("content")
    chat: JSON = {"role": role, "content": "" if content is None else content}
    if role == "tool":
        chat["tool_call_id"] = message.get("tool_call_id")
    elif role == "assistant" and message.get("tool_calls"):
        chat["tool_calls"] = message["tool_calls"]
    return chat


def history_messages(runs: Iterable[JSON], *, num_runs: int) -> list[JSON]:
    """Copies of the messages of the last ``num_runs`` replayable runs, marked ``from_history``.

    Skipped: runs that errored, were cancelled, paused or regenerated; child runs (with a
    ``parent_run_id``, e.g. team members); system messages; and messages that were themselves
    history in their run.
    """
    if num_runs <= 0:
        return []
    replayable = [
        run for run in runs if run.get("parent_run_id") is None and run.get("status") not in HISTORY_SKIP_STATUSES
    ]
    history: list[JSON] = []
    for run in replayable[-num_runs:]:
        for message in run.get("messages") or []:
            if message.get("from_history") or message.get("role") == "system":
                continue
            history.append({**message, "from_history": True})
    return history


def chat_messages(messages: Sequence[JSON]) -> list[JSON]:
    return [to_chat(message) for message in messages]
