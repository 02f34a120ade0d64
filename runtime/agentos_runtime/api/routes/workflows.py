"""``/workflows``: the workflows the config declares. Running them is not served yet (404)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.routes.component_schemas import workflow_detail, workflow_summary
from agentos_runtime.config import WorkflowConfig
from agentos_runtime.errors import NotFound

router = APIRouter(tags=["Workflows"])

RUNS_NOT_SERVED = "Workflow runs are not served by this runtime yet"


@router.get("/workflows")
async def list_workflows(context: ContextDep, caller: CallerDep) -> list[dict[str, Any]]:
    """Every declared workflow the caller may read."""
    workflows = caller.listing("workflows", context.config.workflows, lambda workflow: workflow.id)
    return [workflow_summary(workflow, context) for workflow in workflows]


@router.get("/workflows/{workflow_id}")
async def get_workflow(workflow_id: str, context: ContextDep) -> dict[str, Any]:
    """One workflow with its steps."""
    return workflow_detail(find_workflow(context.config.workflows, workflow_id), context)


@router.post("/workflows/{workflow_id}/runs", responses={404: {"description": "Workflow runs are not served yet"}})
async def create_workflow_run(workflow_id: str, context: ContextDep) -> None:
    """Not served yet: 404."""
    find_workflow(context.config.workflows, workflow_id)
    raise NotFound(RUNS_NOT_SERVED)


def find_workflow(workflows: list[WorkflowConfig], workflow_id: str) -> WorkflowConfig:
    for workflow in workflows:
        if workflow.id == workflow_id:
            return workflow
    raise NotFound("Workflow not found")
