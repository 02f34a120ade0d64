"""The ``/eval-runs`` family: run an evaluation of an agent or team, list, read, rename, delete.

``POST /eval-runs`` runs the evaluation while the request waits (as Agno does) and answers
the stored eval run. The selected database stores it; the target's own database stores the
runs it makes. A replica runs at most ``AGENTOS_MAX_EVAL_RUNS`` evals at once (503 beyond), and
an eval whose client goes away is stopped and stores no eval run. With user isolation a
non-admin caller sees and changes its own eval runs only.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.requests import ClientDisconnect

from agentos_runtime.api.authz import Caller, CallerDep
from agentos_runtime.api.context import RuntimeContext
from agentos_runtime.api.deps import ContextDep, DatabaseDep
from agentos_runtime.api.disconnects import unless_disconnected
from agentos_runtime.api.forms import FormRoute
from agentos_runtime.api.responses import DATABASE_ERRORS, ErrorDetail, EvalRun, EvalRunPage, Responses, answers
from agentos_runtime.api.routes.eval_schemas import (
    DeleteEvalRunsRequest,
    EvalRunInput,
    UpdateEvalRunRequest,
    eval_view,
    parse_eval_types,
)
from agentos_runtime.api.routes.session_schemas import page_envelope
from agentos_runtime.errors import BadRequest, NotFound
from agentos_runtime.evals.running import TargetKind, agent_with_model, check_spec, eval_model, evaluate
from agentos_runtime.evals.specs import Evaluated
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.storage.ports import EvalComponent, EvalQuery, EvalRow, EvalStore, SortOrder

router = APIRouter(route_class=FormRoute, tags=["Evals"], responses=DATABASE_ERRORS)
log = logging.getLogger(__name__)

JSON = dict[str, Any]


@router.get("/eval-runs", responses=answers(EvalRunPage, "One page of eval runs", 400, 503))
async def list_eval_runs(
    database: DatabaseDep,
    caller: CallerDep,
    agent_id: str | None = None,
    team_id: str | None = None,
    workflow_id: str | None = None,
    model_id: str | None = None,
    component: Annotated[EvalComponent | None, Query(alias="type", description="agent, team or workflow")] = None,
    eval_types: Annotated[str | None, Query(description="Comma-separated eval types.")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 20,
    page: Annotated[int, Query(ge=1)] = 1,
    sort_by: str = "created_at",
    sort_order: SortOrder = "desc",
) -> JSON:
    """Eval runs matching the filters, one page at a time."""
    try:
        types = parse_eval_types(eval_types)
    except ValueError as problem:
        # A 422 is always pydantic's list, so a client reads every validation error one way.
        entry = {"type": "enum", "loc": ("query", "eval_types"), "msg": str(problem), "input": eval_types}
        raise RequestValidationError([entry]) from None
    query = EvalQuery(
        agent_id=agent_id,
        team_id=team_id,
        workflow_id=workflow_id,
        model_id=model_id,
        component=component,
        eval_types=types,
        user_id=_owner(caller),
        limit=limit,
        page=page,
        sort_by=sort_by,
        sort_order=sort_order,
    )
    started = time.perf_counter()
    found = await database.database.evals.list_evals(query)
    elapsed_ms = (time.perf_counter() - started) * 1000
    views = [eval_view(row) for row in found.items]
    return page_envelope(views, page=page, limit=limit, total=found.total, elapsed_ms=elapsed_ms)


@router.get("/eval-runs/{eval_run_id}", responses=answers(EvalRun, "The eval run", 404, 503))
async def get_eval_run(eval_run_id: str, database: DatabaseDep, caller: CallerDep) -> JSON:
    """One eval run."""
    return eval_view(await _owned(database.database.evals, eval_run_id, caller))


@router.patch("/eval-runs/{eval_run_id}", responses=answers(EvalRun, "The renamed eval run", 404, 503))
async def rename_eval_run(
    eval_run_id: str, request: UpdateEvalRunRequest, database: DatabaseDep, caller: CallerDep
) -> JSON:
    """Rename an eval run."""
    store = database.database.evals
    await _owned(store, eval_run_id, caller)
    renamed = await store.rename_eval(eval_run_id, request.name)
    if renamed is None:
        raise NotFound(_not_found(eval_run_id))
    return eval_view(renamed)


@router.delete("/eval-runs", status_code=204, responses={503: {"model": ErrorDetail}})
async def delete_eval_runs(request: DeleteEvalRunsRequest, database: DatabaseDep, caller: CallerDep) -> Response:
    """Delete eval runs."""
    owner = _owner(caller) if caller.isolated else None
    await database.database.evals.delete_evals(request.eval_run_ids, user_id=owner)
    return Response(status_code=204)


_RUN_ERRORS: Responses = {
    409: {"model": ErrorDetail, "description": "A performance eval already runs in this process"},
    502: {"model": ErrorDetail, "description": "A run of the target or the judge failed; nothing was stored"},
    503: {
        "model": ErrorDetail,
        "description": (
            "The database is unavailable, or AGENTOS_MAX_EVAL_RUNS evals already run on this replica "
            "(with Retry-After; no model was called, nothing was stored)"
        ),
        "headers": {
            "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
        },
    },
}


@router.post("/eval-runs", responses={**answers(EvalRun, "The finished eval run", 400, 404), **_RUN_ERRORS})
async def create_eval_run(
    request: EvalRunInput, database: DatabaseDep, context: ContextDep, caller: CallerDep, connection: Request
) -> JSON:
    """Run an evaluation of an agent or team and store its result."""
    spec = request.spec()
    check_spec(spec)
    _check_may_run(caller, request)
    target, kind, judge = _target(context, request)
    # The target runs as the caller, as a run it asked for would: under user isolation its
    # memories and sessions are the caller's own, never the shared "default" user's.
    user_id = caller.run_user_id(None)
    with context.eval_slots.holding():
        evaluation = evaluate(spec, target=target, kind=kind, judge=judge, user_id=user_id)
        try:
            row = await unless_disconnected(evaluation, connection.receive)
        except ClientDisconnect:
            log.info(
                "%s eval of %s '%s' stopped: the client went away; no eval run stored", spec.eval_type, kind, target.id
            )
            raise
        return eval_view(await database.database.evals.create_eval(row))


def _check_may_run(caller: Caller, request: EvalRunInput) -> None:
    """An eval runs its target with real model calls: 403 unless the caller may run that agent or
    team (``evals:write`` alone names no target), as Agno checks it, before the target is looked up."""
    if request.agent_id and request.team_id:
        raise BadRequest("Only one of agent_id or team_id must be provided")
    if request.agent_id and not caller.may_run("agents", request.agent_id):
        raise HTTPException(status_code=403, detail="Access denied to run this agent")
    if request.team_id and not caller.may_run("teams", request.team_id):
        raise HTTPException(status_code=403, detail="Access denied to run this team")


def _target(context: RuntimeContext, request: EvalRunInput) -> tuple[Evaluated, TargetKind, ChatModel]:
    """The agent or team to evaluate, its kind, and the judge (the target's own model)."""
    if request.agent_id and request.team_id:
        raise BadRequest("Only one of agent_id or team_id must be provided")
    if request.agent_id:
        agent = context.agents.get(request.agent_id)
        if agent is None:
            raise NotFound(f"Agent with id '{request.agent_id}' not found")
        model = agent.model
        if request.model_id:
            model = eval_model(agent.model, context.models, request.model_id, request.model_provider)
        return agent_with_model(agent, model), "agent", agent.model
    if request.team_id:
        team = context.teams.get(request.team_id)
        if team is None:
            raise NotFound(f"Team with id '{request.team_id}' not found")
        own = team.model
        if request.model_id and eval_model(own, context.models, request.model_id, request.model_provider) is not own:
            raise BadRequest("model_id can only replace an agent's model, not a team's")
        return team, "team", team.model
    raise BadRequest("One of agent_id or team_id must be provided")


def _owner(caller: Caller) -> str | None:
    """Whose eval runs the caller works on: its own under user isolation, else anyone's."""
    return caller.scoped_user_id(None) if caller.isolated else None


async def _owned(store: EvalStore, eval_run_id: str, caller: Caller) -> EvalRow:
    row = await store.get_eval(eval_run_id)
    if row is None or (caller.isolated and row.user_id != _owner(caller)):
        raise NotFound(_not_found(eval_run_id))
    return row


def _not_found(eval_run_id: str) -> str:
    return f"Eval run with id '{eval_run_id}' not found"
