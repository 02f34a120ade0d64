"""Who may cancel or resume a run: under user isolation only the user it runs for, as in AgentOS.

``POST /{agents|teams|workflows}/{id}/runs/{run_id}/cancel`` runs a guard (``guard_agent_cancel``,
``guard_team_cancel``, ``guard_workflow_cancel``) after the route's own 404 for an unknown
component. With JWT access control and user isolation, a non-admin caller must name the run's
``session_id`` (400 ``session_id is required for this action``) and the run must be its own, in
that session, of the path's component, else 404 ``Run not found`` (its existence is not
revealed). A run in flight is judged by the ``RunOwner`` it registered with the run registry
(a run is stored only when it ends), a finished one by the caller's stored session; a run that
is neither (cancel-before-start) is refused to such a caller, as Agno refuses it. Any JWT caller
is also held to the path's component: another component's run cannot be cancelled through this
one's route (404). Without JWT nothing is checked, as in Agno.

``POST .../runs/{run_id}/resume`` and ``POST .../runs/{run_id}/continue`` are guarded the same
way (``guard_agent_resume``, ..., ``guard_workflow_continue``), their ``session_id`` read
from their form (``ResumeSession``: once for the guard and the route, 422 when no backend could
look it up).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, Form, Query, Request

from agentos_runtime.api.authz import AccessPolicy, Caller, CallerDep
from agentos_runtime.api.context import RuntimeContext
from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.text_checks import check_text
from agentos_runtime.errors import BadRequest, NotFound
from agentos_runtime.runs import Agent
from agentos_runtime.runs.registry import RunOwner, RunRegistry
from agentos_runtime.runs.teams import Team
from agentos_runtime.runs.workflows import Workflow
from agentos_runtime.storage.ports import SessionRow, SessionStore

JSON = dict[str, Any]
RunKind = Literal["agent", "team", "workflow"]
SESSION_ID_REQUIRED = "session_id is required for this action"
RUN_NOT_FOUND = "Run not found"

SessionQuery = Annotated[
    str | None, Query(description="Session ID the run belongs to. Required for non-admin JWT users.")
]
SessionForm = Annotated[
    str | None,
    Form(description="The run's session: required for non-admin JWT users, and where a run not held here is read."),
]


async def form_session_id(session_id: SessionForm = None) -> str | None:
    """The form's ``session_id``, read once for the guard and the route: 422 when no backend could
    look it up (a NUL failed the session's read on PostgreSQL after the stream had begun)."""
    check_text(("body", "session_id"), session_id, is_id=True)
    return session_id


ResumeSession = Annotated[str | None, Depends(form_session_id)]


def owner_permits(
    owner: RunOwner | None, *, kind: RunKind, component_id: str, caller: Caller, session_id: str | None
) -> bool:
    """Whether ``caller`` may cancel a run in flight that registered ``owner``.

    A run registered without an owner is refused to an isolated caller (nothing proves it is theirs).
    """
    if owner is None:
        return not caller.isolated
    if (owner.kind, owner.component_id) != (kind, component_id):
        return False
    return not caller.isolated or (owner.user_id == caller.user_id and owner.session_id == session_id)


def _session_component(row: SessionRow, kind: RunKind) -> str | None:
    return {"agent": row.agent_id, "team": row.team_id, "workflow": row.workflow_id}[kind]


def _stored_run(row: SessionRow, run_id: str) -> JSON | None:
    return next((run for run in row.runs or [] if run.get("run_id") == run_id), None)


def stored_run_permits(row: SessionRow | None, run_id: str, *, kind: RunKind, component_id: str) -> bool:
    """Whether ``run_id`` is a run of the component in the (caller's own) session ``row``."""
    if row is None or _session_component(row, kind) != component_id:
        return False
    run = _stored_run(row, run_id)
    return run is not None and run.get(f"{kind}_id") == component_id


def stored_run_contradicts(row: SessionRow | None, run_id: str, *, kind: RunKind, component_id: str) -> bool:
    """Whether the named session, or the run in it, is another component's; an absent one is not."""
    if row is None:
        return False
    if _session_component(row, kind) != component_id:
        return True
    run = _stored_run(row, run_id)
    return run is not None and run.get(f"{kind}_id") != component_id


async def check_cancel(
    caller: Caller,
    *,
    runs: RunRegistry,
    sessions: SessionStore | None,
    kind: RunKind,
    component_id: str,
    run_id: str,
    session_id: str | None,
) -> None:
    """Raise ``BadRequest`` or ``NotFound`` unless a JWT ``caller`` may cancel ``run_id``.

    Raises ``StorageUnavailable`` when the session cannot be read.
    """
    user_id = caller.scoped_user_id(None)
    if caller.isolated and not session_id:
        raise BadRequest(SESSION_ID_REQUIRED)
    handle = runs.running(run_id)
    if handle is not None:
        allowed = owner_permits(
            handle.owner, kind=kind, component_id=component_id, caller=caller, session_id=session_id
        )
        if not allowed:
            raise NotFound(RUN_NOT_FOUND)
        return
    if sessions is None or not session_id:
        if caller.isolated:
            raise NotFound(RUN_NOT_FOUND)
        return
    row = await sessions.get_session(session_id, user_id=user_id)
    if caller.isolated:
        if not stored_run_permits(row, run_id, kind=kind, component_id=component_id):
            raise NotFound(RUN_NOT_FOUND)
    elif stored_run_contradicts(row, run_id, kind=kind, component_id=component_id):
        raise NotFound(RUN_NOT_FOUND)


def _sessions_of(context: RuntimeContext, kind: RunKind, component_id: str) -> tuple[bool, SessionStore | None]:
    """Whether the component exists, and its session store."""
    component: Agent | Team | Workflow | None
    if kind == "agent":
        component = context.agents.get(component_id)
    elif kind == "team":
        component = context.teams.get(component_id)
    else:
        component = context.workflows.get(component_id)
    return (False, None) if component is None else (True, component.sessions)


async def _guard(
    kind: RunKind, request: Request, run_id: str, caller: Caller, context: RuntimeContext, session_id: str | None
) -> None:
    policy: AccessPolicy = request.app.state.access_policy
    if policy.mode != "jwt":
        return
    component_id: str = request.path_params[f"{kind}_id"]
    found, sessions = _sessions_of(context, kind, component_id)
    if not found:  # the route's own lookup answers 404 first
        return
    await check_cancel(
        caller,
        runs=context.runs,
        sessions=sessions,
        kind=kind,
        component_id=component_id,
        run_id=run_id,
        session_id=session_id,
    )


def _cancel_guard(kind: RunKind) -> Callable[..., Awaitable[None]]:
    async def guard(
        request: Request, run_id: str, caller: CallerDep, context: ContextDep, session_id: SessionQuery = None
    ) -> None:
        await _guard(kind, request, run_id, caller, context, session_id)

    return guard


def _resume_guard(kind: RunKind) -> Callable[..., Awaitable[None]]:
    async def guard(
        request: Request, run_id: str, caller: CallerDep, context: ContextDep, session_id: ResumeSession
    ) -> None:
        await _guard(kind, request, run_id, caller, context, session_id)

    return guard


guard_agent_cancel = _cancel_guard("agent")
guard_team_cancel = _cancel_guard("team")
guard_workflow_cancel = _cancel_guard("workflow")
guard_agent_resume = _resume_guard("agent")
guard_agent_continue = _resume_guard("agent")
guard_team_resume = _resume_guard("team")
guard_team_continue = _resume_guard("team")
guard_workflow_continue = _resume_guard("workflow")
guard_workflow_resume = _resume_guard("workflow")
