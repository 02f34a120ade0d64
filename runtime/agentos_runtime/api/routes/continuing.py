"""Going on with a paused agent run: ``POST /agents/{agent_id}/runs/{run_id}/continue``.

The run is read from the database (any replica may have paused it), by its ``session_id``
(required: 400), as the caller may read it (under user isolation, its own: 404 otherwise).
404 ``Run not found`` when it is not a run of this agent there; 409 when it is not ``PAUSED``
(or is going on here already, or another request, on any replica, took it up first: the run is
stored ``RUNNING`` only while it is still stored ``PAUSED``, ``Lifecycle.takes_up``); 400 when ``tools`` is not JSON or does not decide every held
call (``runs.pausing.read_decisions``). Then it goes on as the user it ran for (a ``user_id``
in the form changes nothing): streamed
(``RunContinued``, the decided calls, the loop's events, the last event) or, with
``stream=false``, answered with its ``RunOutput``; stored again under its ``run_id``.

Agno's other uses of the route (``input``, ``continue_from``, ``fork``, ``regenerate``,
``background``: following up or regenerating a finished run, continuing in the background)
are refused with 400, as are team and workflow runs, which never pause (404: no paused run).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Form

from agentos_runtime.api.authz import Caller
from agentos_runtime.api.responses import SSE_EVENT, ErrorDetail, RunOutput
from agentos_runtime.api.routes.component_runs import component_session
from agentos_runtime.api.routes.run_forms import decode_json_field
from agentos_runtime.api.text_checks import check_form_json
from agentos_runtime.errors import BadRequest, Conflict, NotFound
from agentos_runtime.runs import Agent
from agentos_runtime.runs.pausing import PausedRun, read_decisions
from agentos_runtime.runs.sessions import stored_session_state

JSON = dict[str, Any]
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode

RUN_NOT_FOUND = "Run not found"
SESSION_ID_REQUIRED = "session_id is required to continue a run: send the session_id the run belongs to"
NEVER_PAUSES = (
    "{kind} runs never pause in this runtime (only an agent's tools may wait for a confirmation): "
    "run '{run_id}' is no paused run to continue"
)

CONTINUE_RESPONSES: dict[int | str, JSON] = {
    200: {
        "model": RunOutput,
        "description": "The run's events from RunContinued on (stream=true) or its output (stream=false)",
        "content": {"text/event-stream": {"itemSchema": SSE_EVENT}},
    },
    400: {
        "model": ErrorDetail,
        "description": "tools is not valid JSON or does not decide every call the run waits on, session_id is "
        "missing, or an option this runtime does not support was sent",
    },
    404: {"model": ErrorDetail, "description": "The agent, or the run in that session, is not found"},
    409: {"model": ErrorDetail, "description": "The run is not PAUSED (or is going on already)"},
    503: {"model": ErrorDetail, "description": "The session could not be read or the run saved (stream=false)"},
}

Tools = Annotated[
    str,
    Form(
        description="JSON list of the paused run's tool executions (its RunPaused tools), each call it waits on "
        "with confirmed true or false (and an optional confirmation_note)."
    ),
]
Stream = Annotated[bool, Form(description="Stream the events (true) or answer the run's output (false).")]
Input = Annotated[str | None, Form(description="Not supported: a paused run goes on from where it stopped.")]
ContinueFrom = Annotated[str, Form(description="Only `end` is supported.")]
Unsupported = Annotated[bool, Form(description="Not supported (false only).")]


def check_options(*, input: str | None, continue_from: str, fork: bool, regenerate: bool, background: bool) -> None:
    """Refuse, naming it, an option of Agno's route this runtime does not act on."""
    given = [
        name
        for name, value in (
            ("input", bool(input)),
            ("continue_from", continue_from.strip() not in ("", "end")),
            ("fork", fork),
            ("regenerate", regenerate),
            ("background", background),
        )
        if value
    ]
    if given:
        raise BadRequest(
            f"Unsupported {', '.join(given)} parameter: this runtime continues a PAUSED run from where it "
            "stopped, in the request; following up, regenerating, forking or continuing in the background "
            "is not supported"
        )


async def paused_run(agent: Agent, run_id: str, *, session_id: str | None, tools: str, caller: Caller) -> PausedRun:
    """The stored run to go on with and the decisions ``tools`` makes; raises 400, 404 or 409."""
    if not session_id:
        raise BadRequest(SESSION_ID_REQUIRED)
    decoded = decode_json_field("tools", tools)
    check_form_json("tools", decoded)
    row = await component_session(
        agent.sessions, session_id, kind="agent", component_id=agent.id, user_id=caller.scoped_user_id(None)
    )
    runs = (row.runs or []) if row is not None else []
    stored = next((r for r in runs if r.get("run_id") == run_id and r.get("agent_id") == agent.id), None)
    if stored is None:
        raise NotFound(RUN_NOT_FOUND)
    status = stored.get("status")
    if status != "PAUSED":
        raise Conflict(f"run '{run_id}' is {status}: only a PAUSED run can be continued")
    if agent.registry.is_running(run_id):
        raise Conflict(f"run '{run_id}' is going on already")
    decisions = read_decisions(decoded if decoded is not None else [], stored.get("tools") or [])
    return PausedRun(
        run=stored,
        decisions=decisions,
        session_id=session_id,
        user_id=stored.get("user_id"),
        session_state=stored_session_state(row),
    )


def output_body(output: JSON) -> bytes:
    return _encode(output).encode()
