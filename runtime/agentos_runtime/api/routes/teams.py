"""``/teams``: the teams the config declares. Running them is not served yet (404)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.routes.component_schemas import team_detail
from agentos_runtime.config import TeamConfig
from agentos_runtime.errors import NotFound

router = APIRouter(tags=["Teams"])

RUNS_NOT_SERVED = "Team runs are not served by this runtime yet"


@router.get("/teams")
async def list_teams(context: ContextDep, caller: CallerDep) -> list[dict[str, Any]]:
    """Every declared team the caller may read, with its members."""
    return [team_detail(team, context) for team in caller.listing("teams", context.config.teams, lambda team: team.id)]


@router.get("/teams/{team_id}")
async def get_team(team_id: str, context: ContextDep) -> dict[str, Any]:
    """One team with its members."""
    return team_detail(find_team(context.config.teams, team_id), context)


@router.post("/teams/{team_id}/runs", responses={404: {"description": "Team runs are not served yet"}})
async def create_team_run(team_id: str, context: ContextDep) -> None:
    """Not served yet: 404."""
    find_team(context.config.teams, team_id)
    raise NotFound(RUNS_NOT_SERVED)


def find_team(teams: list[TeamConfig], team_id: str) -> TeamConfig:
    for team in teams:
        if team.id == team_id:
            return team
    raise NotFound("Team not found")
