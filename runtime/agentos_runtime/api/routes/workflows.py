"""``/workflows``: the declared workflows, their runs (streamed or not), cancelling one, reading them back.

``POST /workflows/{id}/runs`` takes the run form (urlencoded, as AgentOS's client sends it, or
multipart) and answers Agno's workflow events (``WorkflowStarted``, ``StepStarted``, the steps'
agent and team events, ``StepCompleted`` ... ``WorkflowCompleted``) or, with ``stream=false``,
the ``WorkflowRunOutput`` dict. Runs are stored in sessions of type ``workflow``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.forms import FormRoute
from agentos_runtime.api.responses import (
    ErrorDetail,
    WorkflowDetail,
    WorkflowSummary,
    answers,
)
from agentos_runtime.api.routes.component_runs import (
    RUN_FORM_OPENAPI,
    answer_run,
    read_run,
    run_responses,
)
from agentos_runtime.api.routes.component_schemas import workflow_detail, workflow_summary
from agentos_runtime.api.routes.continuing import STEP_REQUIREMENTS_DESCRIPTION, paused_workflow_run
from agentos_runtime.api.routes.run_routes import RunRoutes, add_run_routes
from agentos_runtime.api.routes.run_schemas import workflow_run_view
from agentos_runtime.api.run_ownership import guard_workflow_cancel, guard_workflow_continue, guard_workflow_resume
from agentos_runtime.errors import NotFound
from agentos_runtime.runs.workflows import Workflow

router = APIRouter(route_class=FormRoute, tags=["Workflows"])

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


RUNS = RunRoutes(
    kind="workflow",
    component=get_workflow,
    run_view=workflow_run_view,
    cancel_guard=guard_workflow_cancel,
    resume_guard=guard_workflow_resume,
    output="WorkflowRunOutput",
    paused=paused_workflow_run,
    continue_guard=guard_workflow_continue,
    decisions_field="step_requirements",
    decisions_description=STEP_REQUIREMENTS_DESCRIPTION,
    continue_summary="Go on with a paused workflow run once its paused step's calls are confirmed or rejected.",
    nested="its steps' runs",
)
add_run_routes(router, RUNS)
