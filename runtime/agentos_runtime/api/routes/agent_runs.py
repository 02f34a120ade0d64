"""Agent runs: start one (streamed or not), cancel, resume or continue one, and read the runs of a session.

``POST /agents/{id}/runs`` takes AgentOS's form (multipart or urlencoded): ``message`` is
required (422 otherwise), ``stream`` defaults to true. A streamed run answers 200
``text/event-stream`` and reports a model failure in-stream as ``RunError``; ``stream=false``
answers the ``RunOutput`` dict, ``status`` ``ERROR`` on a model failure, 503 when the session
could not be read or the run saved. A token's ``sub`` (and ``session_id`` claim) wins over the
form's; with user isolation, a run into another user's session is 404 and only the caller's own
sessions' runs can be read.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.deps import AgentDep, ContextDep, get_agent
from agentos_runtime.api.responses import Cancelled, RunOutput, RunView, answers
from agentos_runtime.api.routes.component_runs import (
    RESUME_RESPONSES,
    RUN_FORM_OPENAPI,
    LastEventIndex,
    answer_run,
    read_run,
    resume_run,
    run_responses,
)
from agentos_runtime.api.routes.continuing import (
    CONTINUE_RESPONSES,
    ContinueFrom,
    Input,
    Stream,
    Tools,
    Unsupported,
    check_options,
    output_body,
    paused_run,
)
from agentos_runtime.api.routes.run_schemas import agent_run_view
from agentos_runtime.api.run_ownership import (
    ResumeSession,
    guard_agent_cancel,
    guard_agent_continue,
    guard_agent_resume,
)
from agentos_runtime.api.sse import event_stream
from agentos_runtime.errors import NotFound
from agentos_runtime.runs import Agent
from agentos_runtime.storage.ports import SessionRow

router = APIRouter(tags=["Agents"])

JSON = dict[str, Any]


@router.post("/agents/{agent_id}/runs", responses=run_responses("agent"), openapi_extra=RUN_FORM_OPENAPI)
async def create_agent_run(agent: AgentDep, request: Request, caller: CallerDep) -> Response:
    """Run the agent on a message."""
    run, fields = await read_run(request, caller)
    return await answer_run(run, fields, caller=caller, runner=agent)


@router.post(
    "/agents/{agent_id}/runs/{run_id}/cancel",
    dependencies=[Depends(get_agent), Depends(guard_agent_cancel)],
    responses=answers(Cancelled, "The cancel is recorded", 404),
)
async def cancel_agent_run(run_id: str, context: ContextDep) -> JSON:
    """Cancel a run in flight; a run not running yet is cancelled when it starts."""
    context.runs.cancel(run_id)
    return {}


@router.post(
    "/agents/{agent_id}/runs/{run_id}/resume",
    dependencies=[Depends(guard_agent_resume)],
    responses=RESUME_RESPONSES,
    response_class=Response,  # no media type of its own: the stream and the JSON errors say theirs
    status_code=200,
)
async def resume_agent_run(
    agent: AgentDep,
    run_id: str,
    caller: CallerDep,
    session_id: ResumeSession,
    last_event_index: LastEventIndex = None,
) -> Response:
    """Resume a streamed background run: the events after ``last_event_index``, then the live ones."""
    return resume_run(agent, run_id, last_event_index, session_id=session_id, caller=caller)


@router.post(
    "/agents/{agent_id}/runs/{run_id}/continue",
    dependencies=[Depends(guard_agent_continue)],
    responses=CONTINUE_RESPONSES,
    response_class=Response,  # no media type of its own: the stream and the JSON answers say theirs
    status_code=200,
)
async def continue_agent_run(
    agent: AgentDep,
    run_id: str,
    caller: CallerDep,
    session_id: ResumeSession,
    tools: Tools = "",
    stream: Stream = True,
    input: Input = None,
    continue_from: ContinueFrom = "end",
    fork: Unsupported = False,
    regenerate: Unsupported = False,
    background: Unsupported = False,
) -> Response:
    """Go on with a paused run once its held tool calls are confirmed or rejected."""
    check_options(input=input, continue_from=continue_from, fork=fork, regenerate=regenerate, background=background)
    paused = await paused_run(agent, run_id, session_id=caller.run_session_id(session_id), tools=tools, caller=caller)
    if stream:
        return event_stream(agent.continue_run(paused))
    return Response(output_body(await agent.complete_continued(paused)), media_type="application/json")


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
