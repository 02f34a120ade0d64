"""Agent runs: start one (streamed or not), cancel one, and read the runs of a session.

``POST /agents/{id}/runs`` takes AgentOS's form (multipart or urlencoded): ``message`` is
required (422 otherwise), ``stream`` defaults to true. A streamed run answers 200
``text/event-stream`` and reports a model failure in-stream as ``RunError``; ``stream=false``
answers the ``RunOutput`` dict, ``status`` ``ERROR`` on a model failure, 503 when the session
could not be read or the run saved. A token's ``sub`` (and ``session_id`` claim) wins over the
form's; with user isolation, a run into another user's session is 404 and only the caller's own
sessions' runs can be read.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from agentos_runtime.api.authz import CallerDep, check_session_owner
from agentos_runtime.api.deps import AgentDep, ContextDep, get_agent
from agentos_runtime.api.responses import SSE_EVENT, Cancelled, ErrorDetail, RunOutput, RunView, answers
from agentos_runtime.api.routes.run_forms import (
    MAX_FIELD_BYTES,
    RunFormFields,
    decode_extras,
    read_fields,
    run_request,
)
from agentos_runtime.api.routes.run_schemas import agent_run_view
from agentos_runtime.api.run_ownership import guard_agent_cancel
from agentos_runtime.api.sse import event_stream
from agentos_runtime.errors import BadRequest, NotFound
from agentos_runtime.runs import Agent
from agentos_runtime.storage.ports import SessionRow

router = APIRouter(tags=["Agents"])

JSON = dict[str, Any]
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode

_FORM_SCHEMA = RunFormFields.model_json_schema()
RUN_FORM_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA},
            "multipart/form-data": {"schema": _FORM_SCHEMA},
        },
    }
}
RUN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": RunOutput,
        "description": "The run's events (stream=true) or its RunOutput (stream=false)",
        "content": {"text/event-stream": {"itemSchema": SSE_EVENT}},
    },
    400: {"model": ErrorDetail, "description": "A form field is not valid"},
    404: {"model": ErrorDetail, "description": "Agent not found"},
    503: {"model": ErrorDetail, "description": "The session could not be read or the run saved (stream=false)"},
}


@router.post("/agents/{agent_id}/runs", responses=RUN_RESPONSES, openapi_extra=RUN_FORM_OPENAPI)
async def create_agent_run(agent: AgentDep, request: Request, caller: CallerDep) -> Response:
    """Run the agent on a message."""
    async with request.form(max_part_size=MAX_FIELD_BYTES) as form:  # closes uploaded files' spools when done
        fields = read_fields(form)
        if form.getlist("files"):
            raise BadRequest("Unsupported file type: file uploads are not supported by this runtime yet")
        extras = decode_extras(form.multi_items())
    run = run_request(
        message=fields.message,
        session_id=caller.run_session_id(fields.session_id),
        user_id=caller.run_user_id(fields.user_id),
        extras=extras,
    )
    await check_session_owner(agent.sessions, run.session_id, caller)
    if fields.stream:
        return event_stream(agent.run(run))
    output = await agent.complete(run)
    return Response(_encode(output).encode(), media_type="application/json")


@router.post(
    "/agents/{agent_id}/runs/{run_id}/cancel",
    dependencies=[Depends(get_agent), Depends(guard_agent_cancel)],
    responses=answers(Cancelled, "The cancel is recorded", 404),
)
async def cancel_agent_run(run_id: str, context: ContextDep) -> JSON:
    """Cancel a run in flight; a run not running yet is cancelled when it starts."""
    context.runs.cancel(run_id)
    return {}


@router.get("/agents/{agent_id}/runs", responses=answers(list[RunView], "The agent's runs in the session", 404))
async def list_agent_runs(
    agent: AgentDep,
    caller: CallerDep,
    session_id: Annotated[str, Query(description="The session whose runs to list.")],
    status: str | None = None,
) -> list[JSON]:
    """The agent's runs in one session."""
    row = await _agent_session(agent, session_id, user_id=caller.scoped_user_id(None))
    if row is None:
        raise NotFound("Session not found")
    return [
        agent_run_view(run)
        for run in row.runs or []
        if run.get("agent_id") == agent.id and (status is None or run.get("status") == status)
    ]


@router.get("/agents/{agent_id}/runs/{run_id}", responses=answers(RunOutput, "The run as stored", 404))
async def get_agent_run(
    agent: AgentDep,
    caller: CallerDep,
    run_id: str,
    session_id: Annotated[str, Query(description="The run's session.")],
) -> JSON:
    """One run's ``RunOutput``."""
    row = await _agent_session(agent, session_id, user_id=caller.scoped_user_id(None))
    for run in (row.runs or []) if row is not None else []:
        if run.get("run_id") == run_id and run.get("agent_id") == agent.id:
            stored: JSON = run
            return stored
    raise NotFound("Run not found")


async def _agent_session(agent: Agent, session_id: str, *, user_id: str | None) -> SessionRow | None:
    """The session, when it exists, belongs to this agent (and to ``user_id``, when given)."""
    if agent.sessions is None:
        return None
    row = await agent.sessions.get_session(session_id, session_type="agent", user_id=user_id)
    return row if row is not None and row.agent_id == agent.id else None
