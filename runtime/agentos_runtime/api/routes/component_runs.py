"""What the agent, team and workflow run routes share: reading the run form, answering, reading stored runs.

Every run takes the same form (``run_forms``): ``message`` required (422), ``stream`` default
true, ``session_id``, ``user_id`` and Agno's extra keywords; a token's ``sub``/``session_id``
win over the form's, and under user isolation a run into another user's session is 404; a
run into another agent's, team's or workflow's session is 409 (``runs.sessions``). A
streamed run answers ``text/event-stream``; ``stream=false`` answers the run's output dict.

With ``background=true`` (a component with a database only: 400 otherwise) the run goes on in a
task of its own (``runs.background``): ``stream=false`` answers 202 ``{"run_id", "session_id",
"status": "PENDING"}`` once the run is stored, to be polled at ``GET .../runs/{run_id}``;
``stream=true`` answers the run's stream, each event with its ``event_index``, which the client
may leave and take up again with ``POST .../runs/{run_id}/resume`` (``api.resuming``). Beyond
the replica's ``max_background_runs`` such a run is refused with 503 and ``Retry-After``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Annotated, Any

from fastapi import Form, Request, Response
from fastapi.responses import JSONResponse

from agentos_runtime import jsontext
from agentos_runtime.api import resuming
from agentos_runtime.api.authz import Caller, check_session_owner
from agentos_runtime.api.responses import SSE_EVENT, BackgroundRun, ErrorDetail, RunOutput
from agentos_runtime.api.routes.run_forms import (
    MAX_FIELD_BYTES,
    RunFormFields,
    decode_extras,
    read_fields,
    run_request,
)
from agentos_runtime.api.sse import event_stream, follow_stream
from agentos_runtime.errors import BadRequest
from agentos_runtime.runs import RunRequest
from agentos_runtime.runs.leases import settled_runs
from agentos_runtime.runs.runner import Runner
from agentos_runtime.storage.ports import SessionRow, SessionStore, SessionType

JSON = dict[str, Any]

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
        202: {"model": BackgroundRun, "description": "background=true, stream=false: the run started; poll it"},
        400: {"model": ErrorDetail, "description": "A form field is not valid"},
        404: {"model": ErrorDetail, "description": f"{component.title()} not found"},
        409: {
            "model": ErrorDetail,
            "description": "The session belongs to another agent, team or workflow (stream=false)",
        },
        503: {
            "model": ErrorDetail,
            "description": "The session could not be read or the run saved (stream=false), "
            "or too many runs go on in the background (background=true)",
        },
    }


# The comment a background run's first stream sends when it has had nothing to send for a while.
KEEPALIVE_SECONDS = 15.0
KEEPALIVE = b": keepalive\n\n"

RESUME_RESPONSES: dict[int | str, JSON] = {
    200: {
        "description": "replay, catch_up or subscribed, then the run's events; an error event when the run "
        "is neither held here nor stored",
        "content": {"text/event-stream": {"itemSchema": SSE_EVENT}},
    },
    400: {"model": ErrorDetail, "description": "session_id is required (a JWT user under user isolation)"},
    404: {"model": ErrorDetail, "description": "The component is not found, or the run is not the caller's"},
}

# Resuming accepts any index a stream can have given (-1: none yet, as AgentOS reports it),
# up to the largest integer every JSON client reads exactly.
MAX_EVENT_INDEX = 2**53 - 1

LastEventIndex = Annotated[
    int | None,
    Form(ge=-1, le=MAX_EVENT_INDEX, description="The event_index of the last event received; none: from the start."),
]


async def read_run(request: Request, caller: Caller) -> tuple[RunRequest, RunFormFields]:
    """The run a form asks for, and its declared fields (``stream``, ``background``); raises 422/400 for a bad form."""
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
    return run, fields


async def answer_run(run: RunRequest, fields: RunFormFields, *, caller: Caller, runner: Runner[Any]) -> Response:
    """Start ``run``: its event stream, or (``stream=false``) its output as JSON; in the background when asked."""
    await check_session_owner(runner.sessions, run.session_id, caller)
    if fields.background:
        return await _answer_background(run, stream=fields.stream, runner=runner)
    if fields.stream:
        return event_stream(runner.run(run))
    return Response(jsontext.dumps_bytes(await runner.complete(run), default=str), media_type="application/json")


async def _answer_background(run: RunRequest, *, stream: bool, runner: Runner[Any]) -> Response:
    if runner.sessions is None:
        raise BadRequest(f"Background execution requires a database to be configured on the {runner.kind}")
    started = await runner.start_background(run, stream=stream)
    if started.log is None:
        body = {"run_id": started.run_id, "session_id": started.session_id, "status": "PENDING"}
        return JSONResponse(body, status_code=202)
    return follow_stream(started.log.follow(None, idle_seconds=KEEPALIVE_SECONDS, idle_frame=KEEPALIVE))


def resume_run(
    runner: Runner[Any], run_id: str, last_event_index: int | None, *, session_id: str | None, caller: Caller
) -> Response:
    """The events of ``run_id`` after ``last_event_index``: from this replica's log, else the stored run."""
    log = runner.registry.event_logs.get(run_id)
    if log is not None and (log.owner.kind, log.owner.component_id) != (runner.kind, runner.id):
        log = None  # another component's run is not resumed through this one's route
    user_id = caller.scoped_user_id(None)

    async def stored() -> JSON | None:
        row = await component_session(
            runner.sessions, session_id or "", kind=runner.kind, component_id=runner.id, user_id=user_id
        )
        runs = (row.runs or []) if row is not None else []
        return next((r for r in runs if r.get("run_id") == run_id and r.get(f"{runner.kind}_id") == runner.id), None)

    frames = resuming.resume_frames(
        run_id, last_event_index, kind=runner.kind, log=log, stored=stored if session_id else None
    )
    return follow_stream(frames)


async def component_session(
    sessions: SessionStore | None, session_id: str, *, kind: SessionType, component_id: str, user_id: str | None
) -> SessionRow | None:
    """The session, when it exists, is of ``kind``, belongs to ``component_id`` (and ``user_id``);
    its runs as readers see them (``runs.leases.settled``)."""
    if sessions is None:
        return None
    row = await sessions.get_session(session_id, session_type=kind, user_id=user_id)
    if row is None:
        return None
    owner = {"agent": row.agent_id, "team": row.team_id, "workflow": row.workflow_id}[kind]
    return replace(row, runs=settled_runs(row.runs, now=time.time())) if owner == component_id else None
