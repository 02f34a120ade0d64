"""``/teams``: the declared teams, their runs (streamed or not), cancelling one, and reading them back.

``POST /teams/{id}/runs`` takes the agent run form and answers Agno's team events
(``TeamRunStarted`` ... ``TeamRunCompleted``, members' own events in between when the team
streams them) or, with ``stream=false``, the ``TeamRunOutput`` dict. Runs are stored in sessions
of type ``team``; ``GET /teams/{id}/runs?session_id=`` lists them as Agno's ``TeamRunSchema``.
"""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Query, Request, Response

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.responses import Cancelled, ErrorDetail, RunOutput, RunView, TeamDetail, answers
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
from agentos_runtime.api.routes.component_schemas import team_detail
from agentos_runtime.api.routes.continuing import NEVER_PAUSES
from agentos_runtime.api.routes.run_schemas import team_run_view
from agentos_runtime.api.run_ownership import ResumeSession, guard_team_cancel, guard_team_resume
from agentos_runtime.errors import NotFound
from agentos_runtime.runs.teams import Team
from agentos_runtime.storable import printable

router = APIRouter(tags=["Teams"])

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


@router.post(
    "/teams/{team_id}/runs/{run_id}/cancel",
    dependencies=[Depends(get_team), Depends(guard_team_cancel)],
    responses={**answers(Cancelled, "The cancel is recorded"), **NOT_FOUND},
)
async def cancel_team_run(run_id: str, context: ContextDep) -> JSON:
    """Cancel a run in flight (and its members' runs); a run not running yet is cancelled when it starts.

    Under user isolation only the caller's own run, named with its ``session_id`` (``run_ownership``).
    """
    context.runs.cancel(run_id)
    return {}


@router.post(
    "/teams/{team_id}/runs/{run_id}/continue",
    dependencies=[Depends(get_team)],
    status_code=404,
    response_model=None,
    responses={404: {"model": ErrorDetail, "description": "Team runs never pause: there is no paused run to continue"}},
)
async def continue_team_run(run_id: str) -> NoReturn:
    """Refused: team runs never pause (only an agent's tool calls wait for a confirmation)."""
    raise NotFound(NEVER_PAUSES.format(kind="Team", run_id=printable(run_id)))


@router.post(
    "/teams/{team_id}/runs/{run_id}/resume",
    dependencies=[Depends(guard_team_resume)],
    responses=RESUME_RESPONSES,
    response_class=Response,  # no media type of its own: the stream and the JSON errors say theirs
    status_code=200,
)
async def resume_team_run(
    team: TeamDep,
    run_id: str,
    caller: CallerDep,
    session_id: ResumeSession,
    last_event_index: LastEventIndex = None,
) -> Response:
    """Resume a streamed background run: the events after ``last_event_index``, then the live ones."""
    return resume_run(team, run_id, last_event_index, session_id=session_id, caller=caller)


@router.get(
    "/teams/{team_id}/runs", responses={**answers(list[RunView], "The team's runs in the session"), **NOT_FOUND}
)
async def list_team_runs(
    team: TeamDep, caller: CallerDep, session_id: SessionParam, status: str | None = None
) -> list[JSON]:
    """The team's runs in one session, oldest first."""
    user_id = caller.scoped_user_id(None)
    row = await component_session(team.sessions, session_id, kind="team", component_id=team.id, user_id=user_id)
    if row is None:
        raise NotFound("Session not found")
    return [
        team_run_view(run)
        for run in row.runs or []
        if run.get("team_id") == team.id and (status is None or run.get("status") == status)
    ]


@router.get("/teams/{team_id}/runs/{run_id}", responses={**answers(RunOutput, "The run as stored"), **NOT_FOUND})
async def get_team_run(team: TeamDep, caller: CallerDep, run_id: str, session_id: SessionParam) -> JSON:
    """One run's ``TeamRunOutput``."""
    user_id = caller.scoped_user_id(None)
    row = await component_session(team.sessions, session_id, kind="team", component_id=team.id, user_id=user_id)
    for run in (row.runs or []) if row is not None else []:
        if run.get("run_id") == run_id and run.get("team_id") == team.id:
            stored: JSON = run
            return stored
    raise NotFound("Run not found")
