"""``/agents``: the declared agents as Agno's ``AgentResponse``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.deps import AgentDep, ContextDep
from agentos_runtime.api.forms import FormRoute
from agentos_runtime.api.responses import AgentDetail, answers
from agentos_runtime.api.routes.agent_schemas import agent_detail

router = APIRouter(route_class=FormRoute, tags=["Agents"])


@router.get("/agents", responses=answers(list[AgentDetail], "Every agent the caller may read, in full"))
async def list_agents(context: ContextDep, caller: CallerDep) -> list[dict[str, Any]]:
    """Every agent the caller may read, with its model, tools and settings."""
    return [
        agent_detail(agent, context.databases[agent.db_id or context.default_db_id], context.knowledge)
        for agent in caller.listing("agents", context.agents.values(), lambda agent: agent.id)
    ]


@router.get("/agents/{agent_id}", responses=answers(AgentDetail, "The agent", 404))
async def get_agent(agent: AgentDep, context: ContextDep) -> dict[str, Any]:
    """One agent with its model, tools and settings."""
    return agent_detail(agent, context.databases[agent.db_id or context.default_db_id], context.knowledge)
