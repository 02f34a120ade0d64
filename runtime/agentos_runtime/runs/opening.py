"""What an agent's run and a team leader's run do alike as they open.

Both replay the same number of earlier runs (the request's ``add_history_to_context`` and
``num_history_runs`` over the config's), keep the same metadata (the request's over the
config's) and start their messages the same way: the system message, the history replayed,
the user's message. What differs between the two kinds (the session row, the leader's member
cards and the members' histories, an agent's toolbox against a leader's tools by name) stays
with each kind.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentos_runtime.config.components import ComponentFields
from agentos_runtime.runs.messages import chat_messages, new_message
from agentos_runtime.runs.prompt import current_ids, placeholder_values, with_dependencies, with_session_state
from agentos_runtime.runs.record import RunRecord
from agentos_runtime.runs.sessions import merge_dicts

if TYPE_CHECKING:
    from agentos_runtime.runs.requests import RunRequest

JSON = dict[str, Any]


def history_runs(request: RunRequest, config: ComponentFields) -> int:
    """How many earlier runs of the session the run replays; 0 when it replays none."""
    with_history = request.add_history_to_context
    if with_history is None:
        with_history = config.add_history_to_context
    return (request.num_history_runs or config.num_history_runs) if with_history else 0


def run_metadata(defaults: Mapping[str, Any] | None, requested: Mapping[str, Any] | None) -> JSON | None:
    """The run's metadata: the request's over the config's, nested dicts merged; ``None`` when empty.

    The config's metadata is copied deeply only when the request merges into it (a merge
    writes into nested dicts, which would change the config for every later run).
    """
    if not requested:
        return dict(defaults) if defaults else None
    return merge_dicts(copy.deepcopy(dict(defaults)) if defaults else {}, requested) or None


def run_placeholders(
    request: RunRequest, *, session_state: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """What ``{name}`` may name in the run's prompt: its (merged) session state, the request's
    dependencies, the run's metadata and ids (``runs.prompt``)."""
    return placeholder_values(
        session_state=session_state,
        dependencies=request.dependencies,
        metadata=metadata,
        user_id=request.user_id,
        session_id=request.session_id,
        run_id=request.run_id,
    )


def with_context_blocks(
    system: str | None,
    message: str,
    request: RunRequest,
    config: ComponentFields,
    *,
    session_state: Mapping[str, Any] | None,
) -> tuple[str | None, str]:
    """The system message and the user's message with Agno's context blocks: the session state
    (``add_session_state_to_context``, the request's over the config's; not with a complete
    ``system_message``) and the request's dependencies (``add_dependencies_to_context``)."""
    add_state = request.add_session_state_to_context
    if add_state is None:
        add_state = config.add_session_state_to_context
    if add_state and config.system_message is None:
        ids = current_ids(user_id=request.user_id, session_id=request.session_id, run_id=request.run_id)
        system = with_session_state(system, session_state, ids)
    if request.add_dependencies_to_context and request.dependencies is not None:
        message = with_dependencies(message, request.dependencies)
    return system, message


def first_messages(record: RunRecord, system: str | None, history: Sequence[JSON], message: str) -> list[JSON]:
    """Put the system message (when there is one), the history replayed and the user's message
    on ``record``; the chat the first model request sends."""
    if system is not None:
        record.messages.append(new_message("system", system, created_at=record.created_at))
    record.messages.extend(history)
    record.messages.append(new_message("user", message, created_at=record.created_at))
    return chat_messages(record.messages)
