"""``/teams``: the declared teams, their runs (streamed or not), cancelling one, and reading them back.

``POST /teams/{id}/runs`` takes the agent run form and answers Agno's team events
(``TeamRunStarted`` ... ``TeamRunCompleted``, members' own events in between when the team
streams them) or, with ``stream=false``, the ``TeamRunOutput`` dict. Runs are stored in sessions
of type ``team``; ``GET /teams/{id}/runs?session_id=`` lists them as Agno's ``TeamRunSchema``.
A team run paused on calls waiting for a confirmation goes on with
``POST /teams/{id}/runs/{run_id}/continue`` (``requirements``: ``api.routes.continuing``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.forms import FormRoute
from agentos_runtime.api.responses import ErrorDetail, TeamDetail, answers
from agentos_runtime.api.routes.component_runs import (
    RUN_FORM_OPENAPI,
    answer_run,
    read_run,
    run_responses,
)
from agentos_runtime.api.routes.component_schemas import team_detail
from agentos_runtime.api.routes.continuing import REQUIREMENTS_DESCRIPTION, paused_team_run
from agentos_runtime.api.routes.run_routes import RunRoutes, add_run_routes
from agentos_runtime.api.routes.run_schemas import team_run_view
from agentos_runtime.api.run_ownership import guard_team_cancel, guard_team_continue, guard_team_resume
from agentos_runtime.errors import NotFound
from agentos_runtime.runs.teams import Team

router = APIRouter(route_class=FormRoute, tags=["Teams"])

JSON = dict[str, Any]
NOT_FOUND: dict[int | str, JSON] = {404: {"model": ErrorDetail, "description": "Team not found"}}


async def get_team(team_id: str, context: ContextDep) -> Team:
    team = context.teams.get(team_id)
    if team is None:
        raise NotFound("Team not found")
    return team


TeamDep = Annotated[Team, Depends(get_team)]
SessionParam = Annotated[str, Query(description="The session of the runs.")]


@router.get("/teams", responses=answers(list[TeamDetail], "Every team the caller may read, with its members"))
async def list_teams(context: ContextDep, caller: CallerDep) -> list[JSON]:
    """Every team the caller may read, with its members."""
    return [
        team_detail(team.config, context)
        for team in caller.listing("teams", context.teams.values(), lambda team: team.id)
    ]


@router.get("/teams/{team_id}", responses={**answers(TeamDetail, "The team"), **NOT_FOUND})
async def get_team_detail(team: TeamDep, context: ContextDep) -> JSON:
    """One team with its members."""
    return team_detail(team.config, context)


@router.post("/teams/{team_id}/runs", responses=run_responses("team"), openapi_extra=RUN_FORM_OPENAPI)
async def create_team_run(team: TeamDep, request: Request, caller: CallerDep) -> Response:
    """Run the team on a message."""
    run, fields = await read_run(request, caller)
    return await answer_run(run, fields, caller=caller, runner=team)


RUNS = RunRoutes(
    kind="team",
    component=get_team,
    run_view=team_run_view,
    cancel_guard=guard_team_cancel,
    resume_guard=guard_team_resume,
    output="TeamRunOutput",
    paused=paused_team_run,
    continue_guard=guard_team_continue,
    decisions_field="requirements",
    decisions_description=REQUIREMENTS_DESCRIPTION,
    continue_summary="Go on with a paused team run once the calls it waits on are confirmed or rejected.",
    nested="its members' runs",
)
add_run_routes(router, RUNS)
