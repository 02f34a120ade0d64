"""Going on with a paused run: ``POST /agents|teams/{id}/runs/{run_id}/continue``.

The run is read from the database (any replica may have paused it), by its ``session_id``
(required: 400), as the caller may read it (under user isolation, its own: 404 otherwise).
404 ``Run not found`` when it is not a run of this agent there; 409 when it is not ``PAUSED``
(or is going on here already, or another request, on any replica, took it up first: the run is
stored ``RUNNING`` only while it is still stored ``PAUSED``, ``Lifecycle.takes_up``), when
the stored run holds nothing left to decide (``runs.pausing.check_waiting``), and when it waits
in a member that left its team (at any depth) or a step the workflow no longer has since it
paused (``member_gone`` names the member, the team and what lets it go on); 400 when
the decisions are not JSON or do not decide every held call: an agent's come in ``tools``
(``runs.pausing.read_decisions``), a team's in ``requirements``, Agno's ``RunRequirement``
dicts (``runs.pausing.read_requirements``). Then it goes on as the user it ran for (a
``user_id`` in the form changes nothing): streamed (``RunContinued`` / ``TeamRunContinued``,
the decided calls, the loop's events, the last event) or, with ``stream=false``, answered with
its run output; stored again under its ``run_id``.

A workflow's come in ``step_requirements`` (Agno's ``StepRequirement`` dicts, the paused step's
``executor_requirements`` decided: ``runs.pausing.read_step_requirements``).

Agno's other uses of the route (``input``, ``continue_from``, ``fork``, ``regenerate``,
``background``: following up or regenerating a finished run, continuing in the background)
are refused with 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Form

from agentos_runtime import jsontext
from agentos_runtime.api.authz import Caller
from agentos_runtime.api.responses import SSE_EVENT, ErrorDetail, RunOutput
from agentos_runtime.api.routes.component_runs import component_session
from agentos_runtime.api.routes.run_forms import decode_json_field
from agentos_runtime.api.text_checks import check_form_json
from agentos_runtime.errors import BadRequest, Conflict, NotFound
from agentos_runtime.runs import Agent
from agentos_runtime.runs.pausing import (
    Decision,
    PausedRun,
    check_waiting,
    read_decisions,
    read_requirements,
    read_step_requirements,
)
from agentos_runtime.runs.requests import RunOptions
from agentos_runtime.runs.sessions import stored_session_state
from agentos_runtime.runs.teams import MemberGone, Team, waiting_member_runs
from agentos_runtime.runs.workflows import Workflow
from agentos_runtime.storage.ports import SessionRow

JSON = dict[str, Any]

RUN_NOT_FOUND = "Run not found"
SESSION_ID_REQUIRED = "session_id is required to continue a run: send the session_id the run belongs to"

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
    409: {
        "model": ErrorDetail,
        "description": "The run is not PAUSED (or is going on already), or it waits in a member or a step its team "
        "or workflow no longer has",
    },
    503: {"model": ErrorDetail, "description": "The session could not be read or the run saved (stream=false)"},
}

REQUIREMENTS_DESCRIPTION = (
    "JSON list of the paused team run's requirements (its TeamRunPaused requirements), each "
    "tool_execution it waits on with confirmed true or false (or the requirement's confirmation), and an "
    "optional confirmation_note; a member's requirement keeps its member_run_id."
)
STEP_REQUIREMENTS_DESCRIPTION = (
    "JSON list of the paused workflow run's step requirements (its WorkflowPaused step_requirements), "
    "the paused step's executor_requirements each confirmed or rejected as a team's requirements are."
)
TOOLS_DESCRIPTION = (
    "JSON list of the paused run's tool executions (its RunPaused tools), each call it waits on "
    "with confirmed true or false (and an optional confirmation_note)."
)
Stream = Annotated[bool, Form(description="Stream the events (true) or answer the run's output (false).")]
Input = Annotated[str | None, Form(description="Not supported: a paused run goes on from where it stopped.")]
ContinueFrom = Annotated[str, Form(description="Only `end` is supported.")]
Unsupported = Annotated[bool, Form(description="Not supported (false only).")]
Dependencies = Annotated[
    str | None,
    Form(description="JSON object: the run's dependencies again, for the steps and members that run after the pause."),
]
Metadata = Annotated[
    str | None, Form(description="JSON object: the run's metadata for the rest of the run (default: as stored).")
]
KnowledgeFilters = Annotated[
    str | None,
    Form(description="JSON object: the run's knowledge filters again, for the searches after the pause."),
]
ContextFlag = Annotated[str | None, Form(description="true or false, as in the run form, for the rest of the run.")]


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


async def paused_run(
    agent: Agent, run_id: str, *, session_id: str | None, decisions: str, caller: Caller, options: RunOptions
) -> PausedRun:
    """The stored agent run to go on with and the decisions its ``tools`` field makes; raises 400, 404 or 409."""
    decoded = _decisions_field("tools", decisions, session_id)
    stored, row = await _stored_paused(agent, run_id, session_id=session_id, caller=caller)
    check_waiting(run_id, {None: stored.get("tools") or []})
    decided = read_decisions(decoded if decoded is not None else [], stored.get("tools") or [])
    return _going_on(stored, row, str(session_id), {None: decided}, options)


async def paused_team_run(
    team: Team, run_id: str, *, session_id: str | None, decisions: str, caller: Caller, options: RunOptions
) -> PausedRun:
    """The stored team run to go on with and the decisions its ``requirements`` field makes on the
    leader's held calls and its paused members'; raises 400, 404 or 409."""
    decoded = _decisions_field("requirements", decisions, session_id)
    stored, row = await _stored_paused(team, run_id, session_id=session_id, caller=caller)
    waiting: dict[str | None, list[JSON]] = {None: stored.get("tools") or []}
    try:
        waiting.update(waiting_member_runs(team, stored))
    except MemberGone as gone:
        raise member_gone(run_id, gone) from None
    check_waiting(run_id, waiting)
    decided = read_requirements(decoded if decoded is not None else [], waiting, issued=stored.get("requirements"))
    return _going_on(stored, row, str(session_id), decided, options)


async def paused_workflow_run(
    workflow: Workflow, run_id: str, *, session_id: str | None, decisions: str, caller: Caller, options: RunOptions
) -> PausedRun:
    """The stored workflow run to go on with and the decisions its ``step_requirements`` field
    makes on its paused step's agent; raises 400, 404 or 409 (409 too when the step is no longer
    the workflow's)."""
    decoded = _decisions_field("step_requirements", decisions, session_id)
    stored, row = await _stored_paused(workflow, run_id, session_id=session_id, caller=caller)
    waiting = next((r for r in stored.get("step_requirements") or () if isinstance(r, dict)), None)
    executed = next(
        (
            r
            for r in stored.get("step_executor_runs") or ()
            if isinstance(r, dict) and waiting is not None and r.get("run_id") == waiting.get("executor_run_id")
        ),
        None,
    )
    if waiting is None or executed is None:
        raise Conflict(
            f"run '{run_id}' is stored PAUSED without the step requirement it waits on or its executor's run: "
            "it cannot go on"
        )
    if not workflow.still_has(waiting):
        raise Conflict(
            f"run '{run_id}' waits on step {waiting.get('step_name')!r}, which is no longer a step of "
            f"workflow '{workflow.id}' run by the same agent or team: it cannot go on"
        )
    runs: dict[str | None, list[JSON]] = {None: executed.get("tools") or []}
    team = workflow.paused_team(waiting)
    try:
        runs.update(waiting_member_runs(team, executed) if team is not None else {})
    except MemberGone as gone:
        raise member_gone(run_id, gone, step=waiting.get("step_name")) from None
    check_waiting(run_id, runs)
    decided = read_step_requirements(decoded if decoded is not None else [], waiting, runs)
    return _going_on(stored, row, str(session_id), decided, options)


def member_gone(run_id: str, gone: MemberGone, *, step: Any = None) -> Conflict:
    """The 409 for a paused run waiting in a member that left its team (of a workflow's ``step``)
    since it paused, or became one of another kind (an agent's id now a team's): whose run, which
    team, and what lets it go on."""
    team = f"team '{gone.team_id}'" + (f" of step {step!r}" if step is not None else "")
    if gone.ran_as is not None and gone.now is not None:  # still a member, of another kind
        was, now = _with_article(gone.ran_as), _with_article(gone.now)
        return Conflict(
            f"run '{run_id}' waits on a run of member '{gone.member_id}' of {team}, which ran as {was} and is "
            f"{now} now: it cannot go on; make '{gone.member_id}' {was} again to continue it, or start a new run"
        )
    return Conflict(
        f"run '{run_id}' waits on a run of member '{gone.member_id}', which is no longer a member of {team}: "
        f"it cannot go on; put '{gone.member_id}' back among the members of team '{gone.team_id}' to continue it, "
        "or start a new run"
    )


def _with_article(kind: str) -> str:
    return f"an {kind}" if kind == "agent" else f"a {kind}"


def _going_on(
    stored: JSON,
    row: SessionRow | None,
    session_id: str,
    decided: Mapping[str | None, Mapping[str, Decision]],
    options: RunOptions,
) -> PausedRun:
    """The paused run going on as the user it ran for, with the decisions on its own held calls
    (under ``None``) and on its paused members' (by member run id), and what the continue sends
    again for the rest of the run."""
    return PausedRun(
        run=stored,
        decisions=decided.get(None, {}),
        session_id=session_id,
        user_id=stored.get("user_id"),
        session_state=stored_session_state(row),
        member_decisions={str(key): value for key, value in decided.items() if key is not None},
        options=options,
    )


def _decisions_field(name: str, value: str, session_id: str | None) -> Any:
    if not session_id:
        raise BadRequest(SESSION_ID_REQUIRED)
    decoded = decode_json_field(name, value)
    check_form_json(name, decoded)
    return decoded


async def _stored_paused(
    runner: Agent | Team | Workflow, run_id: str, *, session_id: str | None, caller: Caller
) -> tuple[JSON, SessionRow | None]:
    kind = runner.kind
    row = await component_session(
        runner.sessions, str(session_id), kind=kind, component_id=runner.id, user_id=caller.scoped_user_id(None)
    )
    runs = (row.runs or []) if row is not None else []
    stored = next((r for r in runs if r.get("run_id") == run_id and r.get(f"{kind}_id") == runner.id), None)
    if stored is None:
        raise NotFound(RUN_NOT_FOUND)
    status = stored.get("status")
    if status != "PAUSED":
        raise Conflict(f"run '{run_id}' is {status}: only a PAUSED run can be continued")
    if runner.registry.is_running(run_id):
        raise Conflict(f"run '{run_id}' is going on already")
    return stored, row


def output_body(output: JSON) -> bytes:
    return jsontext.dumps_bytes(output, default=str)
