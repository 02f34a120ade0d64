"""Team and workflow views: Agno's ``TeamSummaryResponse`` and ``WorkflowSummaryResponse``.

Teams and workflows are listed as the config declares them; running them is not served
yet (their run routes answer 404), so these views are summaries only.
"""

from __future__ import annotations

from typing import Any

from agentos_runtime.api.context import RuntimeContext
from agentos_runtime.api.routes.agent_schemas import model_summary
from agentos_runtime.config import TeamConfig, WorkflowConfig

JSON = dict[str, Any]


def team_summary(team: TeamConfig, context: RuntimeContext) -> JSON:
    model = context.models.get(team.model or next(iter(context.models), ""))
    view: JSON = {
        "id": team.id,
        "name": team.name or team.id,
        "description": team.description,
        "db_id": team.db or context.default_db_id,
        "mode": team.mode,
        "model": model_summary(model) if model is not None else None,
        "metadata": team.metadata,
        "sandboxed": False,
    }
    return {k: v for k, v in view.items() if v is not None}


def workflow_summary(workflow: WorkflowConfig, context: RuntimeContext) -> JSON:
    view: JSON = {
        "id": workflow.id,
        "name": workflow.name or workflow.id,
        "description": workflow.description,
        "db_id": workflow.db or context.default_db_id,
        "is_factory": False,
        "is_component": False,
        "sandboxed": False,
    }
    return {k: v for k, v in view.items() if v is not None}
