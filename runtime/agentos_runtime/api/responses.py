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

from pydantic import BaseModel, ConfigDict, Field

JSON = dict[str, Any]

RUN_PREVIEW_CHARS = 280

Responses = dict[int | str, dict[str, Any]]


class Described(BaseModel):
    """Agno's schemas name the fields a client reads; anything else a body carries is allowed."""

    model_config = ConfigDict(extra="allow")


class ErrorDetail(BaseModel):
    """Every error but FastAPI's 422: ``{"detail": "..."}`` saying what is wrong."""

    detail: str


class Home(Described):
    name: str
    id: str
    version: str


class Info(Described):
    os_id: str
    name: str | None = None
    os_version: str
    agno_version: str
    agent_count: int
    team_count: int
    workflow_count: int
    mcp: dict[str, Any]
    auth_mode: str
    user_isolation: bool


class Health(Described):
    status: str
    instantiated_at: str


class Readiness(Described):
    status: str = Field(
        description="ok, or unavailable when a database does not answer or the model clients are still starting"
    )
    databases: dict[str, str] = Field(description="Each database id: ok or unavailable")
    reasons: dict[str, str] | None = Field(
        default=None, description="Why, for each unavailable database id (never a host, port, user or URL)"
    )
    models: str | None = Field(default=None, description="starting while the model clients are being built")
    knowledge: dict[str, str] | None = Field(
        default=None,
        description=(
            "Each knowledge base id, when any is declared: ok or unavailable (its database down, unable to hold "
            "it as configured, or its setup not ended yet; retried by the runtime). It leaves status as it is: "
            "the agents still answer, their searches of that base get a tool error"
        ),
    )
    knowledge_reasons: dict[str, str] | None = Field(
        default=None, description="Why, for each unavailable knowledge base id (never a host, port, user or URL)"
    )


class ModelSummary(Described):
    id: str
    provider: str


class ModelDetail(Described):
    name: str
    model: str
    provider: str


class AgentSummary(Described):
    id: str
    name: str | None = None
    description: str | None = None
    db_id: str | None = None
    model: ModelSummary | None = None
    metadata: dict[str, Any] | None = None


class AgentDetail(Described):
    id: str
    name: str | None = None
    db_id: str | None = None
    description: str | None = None
    role: str | None = None
    model: ModelDetail | None = None
    tools: dict[str, Any] | None = None
    sessions: dict[str, Any] | None = None
    memory: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    system_message: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class TeamSummary(Described):
    id: str
    name: str | None = None
    description: str | None = None
    db_id: str | None = None
    mode: str | None = None
    model: ModelSummary | None = None
    metadata: dict[str, Any] | None = None


class TeamDetail(Described):
    id: str
    name: str | None = None
    description: str | None = None
    db_id: str | None = None
    mode: str | None = None
    model: ModelDetail | None = None
    tools: dict[str, Any] | None = None
    sessions: dict[str, Any] | None = None
    members: list[dict[str, Any]] = Field(description="Each member agent or team, in full")
    streaming: dict[str, Any] | None = None


class WorkflowSummary(Described):
    id: str
    name: str | None = None
    description: str | None = None
    db_id: str | None = None


class WorkflowDetail(WorkflowSummary):
    steps: list[dict[str, Any]] = Field(description="Steps in order: Step, Parallel or Condition")


class DatabaseUse(Described):
    dbs: list[dict[str, Any]] = Field(description="The databases of this domain, with their tables")


class Config(Described):
    os_id: str
    name: str | None = None
    description: str | None = None
    available_models: list[ModelSummary]
    os_database: str | None = None
    databases: list[str]
    chat: dict[str, Any] | None = None
    session: DatabaseUse | None = None
    metrics: DatabaseUse | None = None
    memory: DatabaseUse | None = None
    evals: DatabaseUse | None = None
    knowledge: DatabaseUse | None = None
    agents: list[AgentSummary]
    teams: list[TeamSummary]
    workflows: list[WorkflowSummary]


class RunOutput(Described):
    """A run as stored and as ``stream=false`` answers it: Agno's ``RunOutput``,
    ``TeamRunOutput`` or ``WorkflowRunOutput``."""

    run_id: str
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    content: Any = None
    status: str | None = None
    created_at: int | None = Field(default=None, description="Epoch seconds")


class BackgroundRun(Described):
    """A run started in the background (``background=true``, ``stream=false``): poll it by its ids."""

    run_id: str
    session_id: str
    status: str = Field(description="PENDING: the run started; GET .../runs/{run_id} tells how it goes")


class RunView(Described):
    """One run of ``/sessions/{id}/runs`` and the component run listings: Agno's
    ``RunSchema``, ``TeamRunSchema`` or ``WorkflowRunSchema``."""

    run_id: str
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    parent_run_id: str | None = None
    user_id: str | None = None
    status: str | None = None
    run_input: str | None = None
    content: Any = None
    metrics: dict[str, Any] | None = None
    messages: list[dict[str, Any]] | None = None
    events: list[dict[str, Any]] | None = None
    created_at: str | None = Field(default=None, description="ISO-8601 UTC")


class PageMeta(Described):
    page: int
    limit: int
    total_pages: int
    total_count: int
    search_time_ms: float


class SessionSummary(Described):
    session_id: str
    session_name: str
    session_type: str
    session_state: dict[str, Any] | None = None
    user_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    total_tokens: int | None = None


class SessionPage(Described):
    data: list[SessionSummary]
    meta: PageMeta


class SessionDetail(Described):
    """Agno's ``AgentSessionDetailSchema``, ``TeamSessionDetailSchema`` or
    ``WorkflowSessionDetailSchema``, by the session's type."""

    session_id: str
    session_name: str
    user_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    session_state: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    chat_history: list[dict[str, Any]] | None = None
    created_at: str | None = None
    updated_at: str | None = None


class Memory(Described):
    memory_id: str
    memory: str
    topics: list[str]
    agent_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    updated_at: str | None = None


class MemoryPage(Described):
    data: list[Memory]
    meta: PageMeta


class UserMemoryStats(Described):
    user_id: str | None = None
    total_memories: int
    last_memory_updated_at: str | None = None


class UserMemoryStatsPage(Described):
    data: list[UserMemoryStats]
    meta: PageMeta


class DayMetrics(Described):
    id: str
    agent_runs_count: int
    agent_sessions_count: int
    team_runs_count: int
    team_sessions_count: int
    workflow_runs_count: int
    workflow_sessions_count: int
    users_count: int
    token_metrics: dict[str, Any]
    model_metrics: list[dict[str, Any]]
    date: str
    created_at: str | None = None
    updated_at: str | None = None


class Metrics(Described):
    metrics: list[DayMetrics]
    updated_at: str | None = None


class RefreshStarted(Described):
    status: str = Field(description="started, or already_running")
    message: str


class RefreshStatus(Described):
    status: str
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None


class EvalRun(Described):
    id: str
    agent_id: str | None = None
    model_id: str | None = None
    model_provider: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    name: str | None = None
    evaluated_component_name: str | None = None
    user_id: str | None = None
    eval_type: str
    eval_data: dict[str, Any]
    eval_input: dict[str, Any] | None = None
    created_at: str | None = None
    updated_at: str | None = None


class EvalRunPage(Described):
    data: list[EvalRun]
    meta: PageMeta


class Cancelled(Described):
    """An empty object: the cancel is recorded (a run not started yet is cancelled when it starts)."""


# One server-sent event of a streamed run: its name (``RunStarted``, ``RunContent``, ...) and
# the event as JSON text. Declared as ``itemSchema``, as FastAPI declares its own event streams.
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "description": "The event's name, e.g. RunStarted"},
        "data": {"type": "string", "contentMediaType": "application/json", "description": "The event as JSON"},
    },
}


def answers(model: Any, description: str, *errors: int, status: int = 200) -> Responses:
    """``responses=`` for a route: its success body and the errors it documents."""
    documented: Responses = {status: {"model": model, "description": description}}
    for code in errors:
        documented[code] = {"model": ErrorDetail, "description": ERROR_TEXTS[code]}
    return documented


# Every route that reads or writes a database picks it by ``db_id``/``table`` (``deps.py``).
DATABASE_ERRORS: Responses = {
    400: {"model": ErrorDetail, "description": "db_id is needed (several databases, or a table given)"},
    404: {"model": ErrorDetail, "description": "No database with this db_id or table, or the item is not found"},
    503: {"model": ErrorDetail, "description": "The database is unavailable; nothing was written"},
}

ERROR_TEXTS = {
    400: "The request cannot be acted on: the detail names the field and the fix",
    404: "Not found: the detail names what",
    409: "Already exists",
    503: "A database is unavailable; nothing was written",
}


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
