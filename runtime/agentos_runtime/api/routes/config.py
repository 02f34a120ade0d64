"""``GET /config`` and ``GET /models``: what the control-plane UI needs to draw itself."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.forms import FormRoute
from agentos_runtime.api.responses import Config, ModelSummary, answers
from agentos_runtime.api.routes.config_schemas import config_view, used_models

router = APIRouter(route_class=FormRoute, tags=["Core"])


@router.get("/config", responses=answers(Config, "What this AgentOS serves and where it keeps its data"))
async def get_config(context: ContextDep, caller: CallerDep) -> dict[str, Any]:
    """The OS configuration: databases, UI settings, and the agents, teams and workflows the caller may read."""
    view = config_view(context)
    for kind in ("agents", "teams", "workflows"):
        view[kind] = caller.visible(kind, view[kind], lambda summary: str(summary["id"]))
    return view


@router.get("/models", responses=answers(list[ModelSummary], "The models the agents and teams use"))
async def list_models(context: ContextDep) -> list[dict[str, Any]]:
    """Unique models (id and provider) the agents and teams use."""
    return used_models(context)
