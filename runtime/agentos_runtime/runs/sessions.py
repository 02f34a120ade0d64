"""The session a run belongs to: its state, and the row written when it is new.

Session state precedence is Agno's: the request's values win over what the session stored,
which wins over the agent's default; nested dicts are merged key by key, not replaced.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from agentos_runtime.errors import Conflict
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.storage.ports import SessionRow, SessionType

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


def check_session_component(row: SessionRow | None, *, kind: SessionType, component_id: str) -> None:
    """``Conflict`` (409) when the stored session is another component's: the run would be
    written into it (its routes could never read the run back) and read its state.

    A session that names no owner (made empty through ``POST /sessions``, or a nested run's
    history) is open to any run, as is one that does not exist yet.
    """
    if row is None:
        return
    owners = (("agent", row.agent_id), ("team", row.team_id), ("workflow", row.workflow_id))
    named = [(owner_kind, owner_id) for owner_kind, owner_id in owners if owner_id is not None]
    if not named or (row.session_type == kind and (kind, component_id) in named):
        return
    owner_kind, owner_id = next(((k, i) for k, i in named if k == row.session_type), named[0])
    raise Conflict(
        f"session '{row.session_id}' belongs to {owner_kind} '{owner_id}': a run of {kind} '{component_id}' "
        "cannot continue it: send another session_id, or none for a new session"
    )


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
