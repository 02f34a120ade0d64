"""Public identity routes: ``GET /`` and ``GET /info``, open even with a security key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from agentos_runtime import __version__
from agentos_runtime.api.authz import AccessPolicy
from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.forms import FormRoute
from agentos_runtime.api.responses import Home, Info, answers

router = APIRouter(route_class=FormRoute, tags=["Core"])

# The Agno release whose AgentOS API this runtime speaks; Agno's clients read it from /info.
AGNO_API_VERSION = "2.9.0"


@router.get("/", responses=answers(Home, "Name, id and version of this AgentOS"))
async def home(context: ContextDep) -> dict[str, Any]:
    """Name, id and version of this AgentOS."""
    return {"name": "AgentOS API", "id": context.os_id, "version": __version__}


@router.get("/info", responses=answers(Info, "Component counts and the authentication mode"))
async def info(context: ContextDep, request: Request) -> dict[str, Any]:
    """Lightweight metadata: component counts and the authentication mode."""
    config = context.config
    policy: AccessPolicy = request.app.state.access_policy
    return {
        "os_id": context.os_id,
        "name": config.name,
        "os_version": __version__,
        "agno_version": AGNO_API_VERSION,
        "agent_count": len(config.agents),
        "team_count": len(config.teams),
        "workflow_count": len(config.workflows),
        "mcp": {
            "enabled": config.mcp_server,
            "path": "/mcp" if config.mcp_server else None,
            "oauth": None,
            "tool_run_endpoint": False,
        },
        "auth_mode": policy.mode,
        "user_isolation": policy.user_isolation,
    }
