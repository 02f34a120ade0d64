"""The session a run belongs to: its state, and the row written when it is new.

Session state precedence is Agno's: the request's values win over what the session stored,
which wins over the agent's default; nested dicts are merged key by key, not replaced.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.storage.ports import SessionRow

JSON = dict[str, Any]


def merge_dicts(base: JSON, override: Mapping[str, Any]) -> JSON:
    """``base`` updated in place with ``override``; nested dicts merged recursively."""
    for key, value in override.items():
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merge_dicts(current, value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def merge_session_state(
    default: Mapping[str, Any] | None, stored: Mapping[str, Any] | None, requested: Mapping[str, Any] | None
) -> JSON:
    """The run's session state: ``requested`` over ``stored`` over ``default`` (none are mutated)."""
    state: JSON = copy.deepcopy(dict(default or {}))
    merge_dicts(state, stored or {})
    merge_dicts(state, requested or {})
    return state


def stored_session_state(row: SessionRow | None) -> JSON | None:
    """The state a stored session holds, if any."""
    if row is None or not row.session_data:
        return None
    state = row.session_data.get("session_state")
    return state if isinstance(state, dict) else None


def new_session_row(
    *,
    session_id: str,
    agent_id: str,
    agent_name: str,
    user_id: str | None,
    model: ChatModel,
    session_state: JSON,
    metadata: JSON | None,
    created_at: int,
) -> SessionRow:
    """The ``agno_sessions`` row of a session the run creates (Agno's ``AgentSession``)."""
    return SessionRow(
        session_id=session_id,
        session_type="agent",
        created_at=created_at,
        agent_id=agent_id,
        user_id=user_id,
        session_data={"session_state": session_state},
        agent_data={
            "name": agent_name,
            "agent_id": agent_id,
            "model": {"name": model.name, "id": model.model, "provider": model.provider},
        },
        metadata=copy.deepcopy(metadata) if metadata else None,
        runs=[],
        updated_at=created_at,
    )
