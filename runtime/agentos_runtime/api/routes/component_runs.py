"""What the agent, team and workflow run routes share: reading the run form, answering, reading stored runs.

Every run takes the same form (``run_forms``): ``message`` required (422), ``stream`` default
true, ``session_id``, ``user_id`` and Agno's extra keywords; a token's ``sub``/``session_id``
win over the form's, and under user isolation a run into another user's session is 404; a
run into another agent's, team's or workflow's session is 409 (``runs.sessions``). A
streamed run answers ``text/event-stream``; ``stream=false`` answers the run's output dict.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Request, Response

from agentos_runtime.api.authz import Caller, check_session_owner
from agentos_runtime.api.responses import SSE_EVENT, ErrorDetail, RunOutput
from agentos_runtime.api.routes.run_forms import (
    MAX_FIELD_BYTES,
    RunFormFields,
    decode_extras,
    read_fields,
    run_request,
)
from agentos_runtime.api.sse import event_stream
from agentos_runtime.errors import BadRequest
from agentos_runtime.runs import RunEvent, RunRequest
from agentos_runtime.storage.ports import SessionRow, SessionStore, SessionType

JSON = dict[str, Any]
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode

_FORM_SCHEMA = RunFormFields.model_json_schema()
RUN_FORM_OPENAPI: JSON = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA},
            "multipart/form-data": {"schema": _FORM_SCHEMA},
        },
    }
}


def run_responses(component: str) -> dict[int | str, JSON]:
    """The documented answers of ``POST /{component}s/{id}/runs``."""
    return {
        200: {
            "model": RunOutput,
            "description": "The run's events (stream=true) or its output (stream=false)",
            "content": {"text/event-stream": {"itemSchema": SSE_EVENT}},
        },
        400: {"model": ErrorDetail, "description": "A form field is not valid"},
        404: {"model": ErrorDetail, "description": f"{component.title()} not found"},
        409: {
            "model": ErrorDetail,
            "description": "The session belongs to another agent, team or workflow (stream=false)",
        },
        503: {"model": ErrorDetail, "description": "The session could not be read or the run saved (stream=false)"},
    }


async def read_run(request: Request, caller: Caller) -> tuple[RunRequest, bool]:
    """The run a form asks for, and whether to stream it; raises 422/400 for a bad form."""
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
    return run, fields.stream


async def answer_run(
    run: RunRequest,
    *,
    stream: bool,
    caller: Caller,
    sessions: SessionStore | None,
    events: Callable[[RunRequest], AsyncIterator[RunEvent]],
    output: Callable[[RunRequest], Awaitable[JSON]],
) -> Response:
    """Start ``run``: its event stream, or (``stream=false``) its output as JSON."""
    await check_session_owner(sessions, run.session_id, caller)
    if stream:
        return event_stream(events(run))
    return Response(_encode(await output(run)).encode(), media_type="application/json")


async def component_session(
    sessions: SessionStore | None, session_id: str, *, kind: SessionType, component_id: str, user_id: str | None
) -> SessionRow | None:
    """The session, when it exists, is of ``kind``, belongs to ``component_id`` (and ``user_id``)."""
    if sessions is None:
        return None
    row = await sessions.get_session(session_id, session_type=kind, user_id=user_id)
    if row is None:
        return None
    owner = row.team_id if kind == "team" else row.workflow_id
    return row if owner == component_id else None
