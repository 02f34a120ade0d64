"""``GET /config`` and ``GET /models``: what the control-plane UI needs to draw itself."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.routes.config_schemas import config_view, used_models

router = APIRouter(tags=["Core"])


@router.get("/config")
async def get_config(context: ContextDep) -> dict[str, Any]:
    """The OS configuration: databases, UI settings, agents, teams and workflows."""
    return config_view(context)


@router.get("/models")
async def list_models(context: ContextDep) -> list[dict[str, Any]]:
    """Unique models (id and provider) the agents and teams use."""
    return used_models(context)
