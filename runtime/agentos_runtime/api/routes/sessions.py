"""The ``/sessions`` family: list, read, create, change and delete sessions and read their runs.

Each route parses its parameters, makes one call on the selected database's session store
and shapes the answer with ``session_schemas``/``run_schemas``. Status codes and 404 texts
are Agno's. A database that cannot be reached raises ``StorageUnavailable`` (503). With user
isolation, a caller without the admin scope works on its own sessions only: every ``user_id``
it sends is replaced by its token's ``sub`` (``Caller.scoped_user_id``).
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.deps import DatabaseDep
from agentos_runtime.api.forms import FormRoute
from agentos_runtime.api.responses import (
    DATABASE_ERRORS,
    ErrorDetail,
    RunView,
    SessionDetail,
    SessionPage,
    SessionRunPreview,
    answers,
    run_preview,
)
from agentos_runtime.api.routes.run_schemas import run_view
from agentos_runtime.api.routes.session_schemas import (
    CreateSessionRequest,
    DeleteSessionsRequest,
    RenameSessionRequest,
    UpdateSessionRequest,
    page_envelope,
    session_detail_view,
    session_summary_view,
)
from agentos_runtime.errors import BadRequest, Conflict, NotFound
from agentos_runtime.runs.leases import settled_runs
from agentos_runtime.storage.ports import SessionChanges, SessionQuery, SessionRow, SessionType, SortOrder

router = APIRouter(route_class=FormRoute, tags=["Sessions"], responses=DATABASE_ERRORS)

JSON = dict[str, Any]
TypeParam = Annotated[SessionType | None, Query(alias="type", description="agent, team or workflow")]
UserParam = Annotated[str | None, Query(description="Only sessions of this user.")]
RUN_STATUSES = frozenset({"PENDING", "RUNNING", "COMPLETED", "PAUSED", "CANCELLED", "ERROR", "REGENERATED"})


@router.get("/sessions", responses=answers(SessionPage, "One page of sessions", 400, 503))
async def list_sessions(
    database: DatabaseDep,
    caller: CallerDep,
    session_type: TypeParam = None,
    component_id: str | None = None,
    user_id: UserParam = None,
    session_name: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 20,
    page: Annotated[int, Query(ge=1)] = 1,
    sort_by: str = "created_at",
    sort_order: SortOrder = "desc",
) -> JSON:
    """Sessions matching the filters, one page at a time."""
    query = SessionQuery(
        session_type=session_type,
        component_id=component_id,
        user_id=caller.scoped_user_id(user_id),
        session_name=session_name,
        limit=limit,
        page=page,
        sort_by=sort_by,
        sort_order=sort_order,
    )
    started = time.perf_counter()
    found = await database.database.sessions.list_sessions(query)
    elapsed_ms = (time.perf_counter() - started) * 1000
    views = [session_summary_view(row) for row in found.items]
    return page_envelope(views, page=page, limit=limit, total=found.total, elapsed_ms=elapsed_ms)


@router.post(
    "/sessions", status_code=201, responses=answers(SessionDetail, "The new session", 400, 409, 503, status=201)
)
async def create_session(
    database: DatabaseDep,
    caller: CallerDep,
    session_type: Annotated[SessionType, Query(alias="type")] = "agent",
    request: Annotated[CreateSessionRequest | None, Body()] = None,
) -> JSON:
    """Create an empty session; 409 when the given id is taken."""
    request = request or CreateSessionRequest()
    if caller.isolated:
        request = request.model_copy(update={"user_id": caller.scoped_user_id(request.user_id)})
    row = new_session_row(request, session_type, now=int(time.time()))
    created = await database.database.sessions.create_session(row)
    if created is None:
        raise Conflict(
            f"Session with id '{row.session_id}' already exists. Use PATCH /sessions/{row.session_id} to update it."
        )
    return session_detail_view(created)


@router.get("/sessions/{session_id}", responses=answers(SessionDetail, "The session with its chat history", 404, 503))
async def get_session(
    session_id: str,
    database: DatabaseDep,
    caller: CallerDep,
    session_type: TypeParam = None,
    user_id: UserParam = None,
) -> JSON:
    """One session with its chat history."""
    user_id = caller.scoped_user_id(user_id)
    row = await database.database.sessions.get_session(session_id, session_type=session_type, user_id=user_id)
    if row is None:
        raise NotFound(_not_found(session_id, session_type))
    return session_detail_view(row)


@router.patch("/sessions/{session_id}", responses=answers(SessionDetail, "The changed session", 400, 404, 503))
async def update_session(
    session_id: str,
    changes: UpdateSessionRequest,
    database: DatabaseDep,
    caller: CallerDep,
    session_type: TypeParam = None,
    user_id: UserParam = None,
) -> JSON:
    """Change a session's name, state, metadata or summary."""
    requested = SessionChanges(
        session_name=changes.session_name,
        session_state=changes.session_state,
        metadata=changes.metadata,
        summary=changes.summary,
    )
    return await _change(
        database, session_id, requested, session_type=session_type, user_id=caller.scoped_user_id(user_id)
    )


@router.post("/sessions/{session_id}/rename", responses=answers(SessionDetail, "The renamed session", 404, 503))
async def rename_session(
    session_id: str,
    rename: RenameSessionRequest,
    database: DatabaseDep,
    caller: CallerDep,
    session_type: TypeParam = None,
    user_id: UserParam = None,
) -> JSON:
    """Rename a session."""
    changes = SessionChanges(session_name=rename.session_name)
    return await _change(
        database, session_id, changes, session_type=session_type, user_id=caller.scoped_user_id(user_id)
    )


@router.delete("/sessions/{session_id}", status_code=204, responses={503: {"model": ErrorDetail}})
async def delete_session(
    session_id: str, database: DatabaseDep, caller: CallerDep, user_id: UserParam = None
) -> Response:
    """Delete a session and its runs."""
    await database.database.sessions.delete_sessions([session_id], user_id=caller.scoped_user_id(user_id))
    return Response(status_code=204)


@router.delete("/sessions", status_code=204, responses={400: {"model": ErrorDetail}, 503: {"model": ErrorDetail}})
async def delete_sessions(
    request: DeleteSessionsRequest, database: DatabaseDep, caller: CallerDep, user_id: UserParam = None
) -> Response:
    """Delete several sessions at once."""
    if len(request.session_ids) != len(request.session_types):
        raise BadRequest("Session IDs and session types must have the same length")
    await database.database.sessions.delete_sessions(request.session_ids, user_id=caller.scoped_user_id(user_id))
    return Response(status_code=204)


@router.get(
    "/sessions/{session_id}/runs", responses=answers(list[RunView], "The session's runs, oldest first", 400, 404, 503)
)
async def list_session_runs(
    session_id: str,
    database: DatabaseDep,
    caller: CallerDep,
    session_type: TypeParam = None,
    user_id: UserParam = None,
    created_after: int | None = None,
    created_before: int | None = None,
    status: Annotated[list[str] | None, Query()] = None,
) -> list[JSON]:
    """The runs of a session, oldest first."""
    wanted = _statuses(status)
    user_id = caller.scoped_user_id(user_id)
    row = await database.database.sessions.get_session(session_id, session_type=session_type, user_id=user_id)
    if row is None:
        raise NotFound(f"Session with ID {session_id} not found")
    runs = []
    for run in settled_runs(row.runs, now=time.time()):
        # A run without a creation time passes the time filters, as in Agno.
        created = run.get("created_at")
        if created_after is not None and created is not None and created < created_after:
            continue
        if created_before is not None and created is not None and created > created_before:
            continue
        if wanted is not None and str(run.get("status") or "").upper() not in wanted:
            continue
        runs.append(run_view(run))
    return runs


@router.get(
    "/sessions/{session_id}/run-previews",
    response_model=list[SessionRunPreview],
    response_model_exclude_none=True,
    responses=answers(list[SessionRunPreview], "The session's runs in brief, oldest first", 400, 404, 503),
)
async def list_session_run_previews(
    session_id: str,
    database: DatabaseDep,
    caller: CallerDep,
    session_type: TypeParam = None,
    user_id: UserParam = None,
    created_after: int | None = None,
    created_before: int | None = None,
    status: Annotated[list[str] | None, Query()] = None,
) -> list[JSON]:
    """The runs of a session in brief, for polling clients: ids, status, time and the first
    280 characters of input and answer, without messages, events, media or metrics. Same
    filters and errors as ``GET /sessions/{session_id}/runs``."""
    runs = await list_session_runs(
        session_id,
        database,
        caller,
        session_type=session_type,
        user_id=user_id,
        created_after=created_after,
        created_before=created_before,
        status=status,
    )
    return [run_preview(run) for run in runs]


@router.get("/sessions/{session_id}/runs/{run_id}", responses=answers(RunView, "The run", 404, 503))
async def get_session_run(
    session_id: str,
    run_id: str,
    database: DatabaseDep,
    caller: CallerDep,
    session_type: TypeParam = None,
    user_id: UserParam = None,
) -> JSON:
    """One run of a session."""
    user_id = caller.scoped_user_id(user_id)
    row = await database.database.sessions.get_session(session_id, session_type=session_type, user_id=user_id)
    if row is None:
        raise NotFound(f"Session with ID {session_id} not found")
    if not row.runs:
        raise NotFound(f"Session with ID {session_id} has no runs")
    for run in settled_runs(row.runs, now=time.time()):
        if run.get("run_id") == run_id:
            return run_view(run)
    raise NotFound(f"Run with ID {run_id} not found in session {session_id}")


def new_session_row(request: CreateSessionRequest, session_type: SessionType, *, now: int) -> SessionRow:
    """The row ``POST /sessions`` writes: ids, state and name, no runs yet."""
    session_data: JSON = {}
    if request.session_state is not None:
        session_data["session_state"] = request.session_state
    if request.session_name is not None:
        session_data["session_name"] = request.session_name
    return SessionRow(
        session_id=request.session_id or str(uuid.uuid4()),
        session_type=session_type,
        created_at=now,
        updated_at=now,
        agent_id=request.agent_id if session_type == "agent" else None,
        team_id=request.team_id if session_type == "team" else None,
        workflow_id=request.workflow_id if session_type == "workflow" else None,
        user_id=request.user_id,
        session_data=session_data or None,
        metadata=request.metadata,
    )


async def _change(
    database: DatabaseDep,
    session_id: str,
    changes: SessionChanges,
    *,
    session_type: SessionType | None,
    user_id: str | None,
) -> JSON:
    store = database.database.sessions
    if session_type is not None and await store.get_session(session_id, session_type=session_type) is None:
        raise NotFound(f"Session with id '{session_id}' not found")
    row = await store.update_session(session_id, changes, user_id=user_id)
    if row is None:
        raise NotFound(f"Session with id '{session_id}' not found")
    return session_detail_view(row)


def _not_found(session_id: str, session_type: SessionType | None) -> str:
    if session_type is None:
        return f"Session with id '{session_id}' not found"
    return f"{session_type.title()} Session with id '{session_id}' not found"


def _statuses(status: list[str] | None) -> frozenset[str] | None:
    if not status:
        return None
    wanted = frozenset(value.upper() for value in status)
    unknown = sorted(wanted - RUN_STATUSES)
    if unknown:
        raise BadRequest(f"Invalid status value(s) {unknown}; expected one of {sorted(RUN_STATUSES)}")
    return wanted
