"""The bodies of the ``/sessions`` routes: Agno's request models and session views.

Views are pure functions of a ``SessionRow`` giving Agno's ``SessionSchema`` (list entries)
and ``Agent|Team|WorkflowSessionDetailSchema`` (one session) with the same names and
fallbacks: a session without a name is named after its first user message, timestamps are
ISO strings, metrics and total tokens come from ``session_data.session_metrics``, or, for a
session that holds none (the runtime's own), are summed from its runs (``metrics.session_tokens``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agentos_runtime.api.routes.run_schemas import input_text
from agentos_runtime.api.timestamps import iso_utc
from agentos_runtime.metrics.session_tokens import session_metrics
from agentos_runtime.storable import MAX_IDS_PER_REQUEST
from agentos_runtime.storage.ports import SessionRow, SessionType

JSON = dict[str, Any]


class CreateSessionRequest(BaseModel):
    session_id: str | None = Field(default=None, description="Session id; generated when absent.")
    session_name: str | None = None
    session_state: JSON | None = None
    metadata: JSON | None = None
    user_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None


class UpdateSessionRequest(BaseModel):
    session_name: str | None = None
    session_state: JSON | None = None
    metadata: JSON | None = None
    summary: JSON | None = None


class RenameSessionRequest(BaseModel):
    session_name: str = Field(min_length=1)


class DeleteSessionsRequest(BaseModel):
    session_ids: list[str] = Field(min_length=1, max_length=MAX_IDS_PER_REQUEST)
    session_types: list[SessionType] = Field(min_length=1, max_length=MAX_IDS_PER_REQUEST)


def session_summary_view(row: SessionRow) -> JSON:
    """One entry of ``GET /sessions`` (Agno's ``SessionSchema``)."""
    metrics = _metrics(row)
    created_at = iso_utc(row.created_at)
    return {
        "session_id": row.session_id,
        "session_name": session_name(row),
        "session_state": (row.session_data or {}).get("session_state"),
        "created_at": created_at,
        "updated_at": iso_utc(row.updated_at) if row.updated_at is not None else created_at,
        "session_type": row.session_type,
        "user_id": row.user_id,
        "agent_id": row.agent_id,
        "team_id": row.team_id,
        "workflow_id": row.workflow_id,
        "session_summary": row.summary,
        "metrics": metrics,
        "total_tokens": metrics.get("total_tokens") if metrics else None,
        "metadata": row.metadata,
    }


def session_detail_view(row: SessionRow) -> JSON:
    """``GET /sessions/{id}``: the agent, team or workflow detail schema, by session type."""
    created_at = iso_utc(row.created_at)
    updated_at = iso_utc(row.updated_at) if row.updated_at is not None else created_at
    session_data = row.session_data
    state = session_data.get("session_state") if session_data else None
    metrics = _metrics(row)
    total_tokens = metrics.get("total_tokens") if metrics else None
    common: JSON = {"session_id": row.session_id, "session_name": session_name(row), "user_id": row.user_id}
    if row.session_type == "workflow":
        return {
            **common,
            "workflow_id": row.workflow_id,
            "workflow_name": (row.workflow_data or {}).get("name"),
            "session_data": session_data,
            "session_state": state,
            "workflow_data": row.workflow_data,
            "metadata": row.metadata,
            "created_at": created_at,
            "updated_at": updated_at,
        }
    detail: JSON = {
        **common,
        "session_summary": row.summary,
        "session_state": state,
        "total_tokens": total_tokens,
        "metrics": metrics,
        "metadata": row.metadata,
        "chat_history": chat_history(row),
        "created_at": created_at,
        "updated_at": updated_at,
    }
    if row.session_type == "team":
        return {**detail, "team_id": row.team_id, "team_data": row.team_data}
    return {**detail, "agent_session_id": row.session_id, "agent_id": row.agent_id, "agent_data": row.agent_data}


def session_name(row: SessionRow) -> str:
    """The stored name, else the first thing the user said in the session."""
    data = row.session_data
    if data is not None and data.get("session_name") is not None:
        return str(data["session_name"])
    runs = row.runs or []
    if row.session_type == "workflow":
        if not runs:
            return ""
        first = runs[0].get("input")
        if first is not None:
            return input_text(first)
        name = (row.workflow_data or {}).get("name")
        return f"New {name} Session" if name else ""
    candidates = [r for r in runs if not r.get("agent_id")] if row.session_type == "team" else runs
    for run in candidates:
        for message in run.get("messages") or []:
            if message.get("role") == "user" and message.get("content") and not message.get("from_history"):
                return str(message["content"])
        if run.get("input") is not None:
            given = run["input"]
            return input_text(given.get("input_content") if isinstance(given, dict) else given)
    return ""


def chat_history(row: SessionRow) -> list[JSON]:
    """User and assistant messages of the session's top-level runs, without replayed history."""
    messages: list[JSON] = []
    for run in row.runs or []:
        if run.get("parent_run_id") is not None:
            continue
        for message in run.get("messages") or []:
            if message.get("from_history") or message.get("role") in ("system", "tool"):
                continue
            messages.append(message)
    return messages


def page_envelope(data: list[JSON], *, page: int, limit: int, total: int, elapsed_ms: float) -> JSON:
    """Agno's ``PaginatedResponse``: the items and a ``meta`` block."""
    return {
        "data": data,
        "meta": {
            "page": page,
            "limit": limit,
            "total_pages": (total + limit - 1) // limit if limit > 0 else 0,
            "total_count": total,
            "search_time_ms": round(elapsed_ms, 3),
        },
    }


def _metrics(row: SessionRow) -> JSON | None:
    """Agno's ``session_metrics``: as stored, else summed from the session's runs."""
    return session_metrics((row.session_data or {}).get("session_metrics"), row.runs)
