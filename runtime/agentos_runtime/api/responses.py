"""What the routes answer, as pydantic models for the OpenAPI document.

Most routes build their bodies as plain dicts (``*_schemas.py``) and declare these models
with ``responses={200: {"model": ...}}``: ``GET /openapi.json`` then says what each route
returns, while serialization stays as it is (no per-request validation on the run path or on
large session reads). The schemathesis run of the test suite checks every answer against
these schemas. Field names and types are Agno's; ``extra`` fields are allowed, as Agno's
clients ignore what they do not know.

``SessionRunPreview`` is the one model a route validates through (``/run-previews``, as in
Agno, drops ``None`` fields), and ``run_preview`` is the pure function that shapes it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

JSON = dict[str, Any]

RUN_PREVIEW_CHARS = 280


class SessionRunPreview(BaseModel):
    """One entry of ``GET /sessions/{id}/run-previews``: ids, status, time, truncated text."""

    run_id: str = Field(description="Unique identifier for the run")
    parent_run_id: str | None = Field(default=None, description="Parent run ID if this is a nested run")
    agent_id: str | None = Field(default=None, description="Agent ID, when this is an agent run")
    team_id: str | None = Field(default=None, description="Team ID, when this is a team run")
    workflow_id: str | None = Field(default=None, description="Workflow ID, when this is a workflow run")
    user_id: str | None = Field(default=None, description="User ID associated with the run")
    status: str | None = Field(default=None, description="Run status (PENDING, RUNNING, COMPLETED, ...)")
    run_input: str | None = Field(default=None, description="Input preview, at most 280 characters")
    content_preview: str | None = Field(default=None, description="Output preview, at most 280 characters")
    created_at: str | None = Field(default=None, description="Run creation time, ISO-8601 UTC")


def run_preview(view: JSON) -> JSON:
    """The preview of one run view (``run_schemas.run_view``), by Agno's rules.

    Input and content are cut to 280 characters; structured content is previewed as its JSON
    text. The ids are the view's own (an agent run has no ``team_id``, a workflow run no
    ``agent_id``).
    """
    return {
        "run_id": view.get("run_id", ""),
        "parent_run_id": view.get("parent_run_id"),
        "agent_id": view.get("agent_id"),
        "team_id": view.get("team_id"),
        "workflow_id": view.get("workflow_id"),
        "user_id": view.get("user_id"),
        "status": view.get("status"),
        "run_input": preview_text(view.get("run_input")),
        "content_preview": preview_text(view.get("content")),
        "created_at": view.get("created_at"),
    }


def preview_text(value: Any) -> str | None:
    """``value`` cut to 280 characters; anything but text as its JSON first."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:RUN_PREVIEW_CHARS]
