"""``/workflows``: the declared workflows, their runs (streamed or not), cancelling one, reading them back.

``POST /workflows/{id}/runs`` takes the run form (urlencoded, as AgentOS's client sends it, or
multipart) and answers Agno's workflow events (``WorkflowStarted``, ``StepStarted``, the steps'
agent and team events, ``StepCompleted`` ... ``WorkflowCompleted``) or, with ``stream=false``,
the ``WorkflowRunOutput`` dict. Runs are stored in sessions of type ``workflow``.
"""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Query, Request, Response

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.responses import (
    Cancelled,
    ErrorDetail,
    RunOutput,
    RunView,
    WorkflowDetail,
    WorkflowSummary,
    answers,
)
from agentos_runtime.api.routes.component_runs import (
    RESUME_RESPONSES,
    RUN_FORM_OPENAPI,
    LastEventIndex,
    answer_run,
    component_session,
    read_run,
    resume_run,
    run_responses,
)
from agentos_runtime.api.routes.component_schemas import workflow_detail, workflow_summary
from agentos_runtime.api.routes.continuing import NEVER_PAUSES
from agentos_runtime.api.routes.run_schemas import workflow_run_view
from agentos_runtime.api.run_ownership import ResumeSession, guard_workflow_cancel, guard_workflow_resume
from agentos_runtime.errors import NotFound
from agentos_runtime.runs.workflows import Workflow
from agentos_runtime.storable import printable

router = APIRouter(tags=["Workflows"])

JSON = dict[str, Any]
NOT_FOUND: dict[int | str, JSON] = {404: {"model": ErrorDetail, "description": "Workflow not found"}}


async def get_workflow(workflow_id: str, context: ContextDep) -> Workflow:
    workflow = context.workflows.get(workflow_id)
    if workflow is None:
        raise NotFound("Workflow not found")
    return workflow


WorkflowDep = Annotated[Workflow, Depends(get_workflow)]
SessionParam = Annotated[str, Query(description="The session of the runs.")]


@router.get("/workflows", responses=answers(list[WorkflowSummary], "Every workflow the caller may read"))
async def list_workflows(context: ContextDep, caller: CallerDep) -> list[JSON]:
    """Every workflow the caller may read."""
    visible = caller.listing("workflows", context.workflows.values(), lambda workflow: workflow.id)
    return [workflow_summary(workflow.config, context) for workflow in visible]


@router.get("/workflows/{workflow_id}", responses={**answers(WorkflowDetail, "The workflow"), **NOT_FOUND})
async def get_workflow_detail(workflow: WorkflowDep, context: ContextDep) -> JSON:
    """One workflow with its steps."""
    return workflow_detail(workflow.config, context)


@router.post("/workflows/{workflow_id}/runs", responses=run_responses("workflow"), openapi_extra=RUN_FORM_OPENAPI)
async def create_workflow_run(workflow: WorkflowDep, request: Request, caller: CallerDep) -> Response:
    """Run the workflow on a message."""
    run, fields = await read_run(request, caller)
    return await answer_run(run, fields, caller=caller, runner=workflow)


@router.post(
    "/workflows/{workflow_id}/runs/{run_id}/cancel",
    dependencies=[Depends(get_workflow), Depends(guard_workflow_cancel)],
    responses={**answers(Cancelled, "The cancel is recorded"), **NOT_FOUND},
)
async def cancel_workflow_run(run_id: str, context: ContextDep) -> JSON:
    """Cancel a run in flight (and its steps' runs); a run not running yet is cancelled when it starts."""
    context.runs.cancel(run_id)
    return {}


@router.post(
    "/workflows/{workflow_id}/runs/{run_id}/continue",
    dependencies=[Depends(get_workflow)],
    status_code=404,
    response_model=None,
    responses={
        404: {"model": ErrorDetail, "description": "Workflow runs never pause: there is no paused run to continue"}
    },
)
async def continue_workflow_run(run_id: str) -> NoReturn:
    """Refused: workflow runs never pause (only an agent's tool calls wait for a confirmation)."""
    raise NotFound(NEVER_PAUSES.format(kind="Workflow", run_id=printable(run_id)))


@router.post(
    "/workflows/{workflow_id}/runs/{run_id}/resume",
    dependencies=[Depends(guard_workflow_resume)],
    responses=RESUME_RESPONSES,
    response_class=Response,  # no media type of its own: the stream and the JSON errors say theirs
    status_code=200,
)
async def resume_workflow_run(
    workflow: WorkflowDep,
    run_id: str,
    caller: CallerDep,
    session_id: ResumeSession,
    last_event_index: LastEventIndex = None,
) -> Response:
    """Resume a streamed background run: the events after ``last_event_index``, then the live ones."""
    return resume_run(workflow, run_id, last_event_index, session_id=session_id, caller=caller)


@router.get(
    "/workflows/{workflow_id}/runs",
    responses={**answers(list[RunView], "The workflow's runs in the session"), **NOT_FOUND},
)
async def list_workflow_runs(
    workflow: WorkflowDep, caller: CallerDep, session_id: SessionParam, status: str | None = None
) -> list[JSON]:
    """The workflow's runs in one session, oldest first."""
    user_id = caller.scoped_user_id(None)
    row = await component_session(
        workflow.sessions, session_id, kind="workflow", component_id=workflow.id, user_id=user_id
    )
    if row is None:
        raise NotFound("Session not found")
    return [
        workflow_run_view(run)
        for run in row.runs or []
        if run.get("workflow_id") == workflow.id and (status is None or run.get("status") == status)
    ]


@router.get(
    "/workflows/{workflow_id}/runs/{run_id}", responses={**answers(RunOutput, "The run as stored"), **NOT_FOUND}
)
async def get_workflow_run(workflow: WorkflowDep, caller: CallerDep, run_id: str, session_id: SessionParam) -> JSON:
    """One run's ``WorkflowRunOutput``."""
    user_id = caller.scoped_user_id(None)
    row = await component_session(
        workflow.sessions, session_id, kind="workflow", component_id=workflow.id, user_id=user_id
    )
    for run in (row.runs or []) if row is not None else []:
        if run.get("run_id") == run_id and run.get("workflow_id") == workflow.id:
            stored: JSON = run
            return stored
    raise NotFound("Run not found")
