"""The run routes agents, teams and workflows serve alike, declared once for each kind.

Under ``/{kind}s/{kind_id}/runs``: cancel one (``/{run_id}/cancel``), resume a streamed
background run (``/{run_id}/resume``), go on with a paused one (``/{run_id}/continue``), list
the runs of a session and read one back. What differs between the kinds is a ``RunRoutes``:
the component's dependency, its run view, the form field its continue's decisions come in (and
how they are read) and the words its documentation uses.

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations, built
per kind in ``add_run_routes``, as objects.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Response

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.responses import Cancelled, ErrorDetail, Responses, RunOutput, RunView, answers
from agentos_runtime.api.routes.component_runs import RESUME_RESPONSES, LastEventIndex, component_session, resume_run
from agentos_runtime.api.routes.continuing import (
    CONTINUE_RESPONSES,
    ContextFlag,
    ContinueFrom,
    Dependencies,
    Input,
    KnowledgeFilters,
    Metadata,
    Stream,
    Unsupported,
    check_options,
    output_body,
)
from agentos_runtime.api.routes.run_forms import MAX_FIELD_BYTES, run_options
from agentos_runtime.api.run_ownership import ResumeSession, RunKind
from agentos_runtime.api.sse import event_stream
from agentos_runtime.errors import NotFound
from agentos_runtime.runs.pausing import PausedRun
from agentos_runtime.runs.registry import CANCEL_INTENT_SECONDS
from agentos_runtime.runs.runner import Runner
from agentos_runtime.storage.ports import SessionRow

JSON = dict[str, Any]
SessionParam = Annotated[str, Query(description="The session of the runs.")]


@dataclass(frozen=True)
class RunRoutes:
    """One kind's run routes: what they read and how their documentation words it."""

    kind: RunKind
    component: Callable[..., Awaitable[Runner[Any]]]
    """The dependency giving the component of the path's ``{kind}_id`` (404 when unknown)."""
    run_view: Callable[[JSON], JSON]
    """A stored run as ``GET .../runs`` lists it (Agno's ``RunSchema`` of the kind)."""
    cancel_guard: Callable[..., Awaitable[None]]
    resume_guard: Callable[..., Awaitable[None]]
    output: str
    """The name of the kind's stored output in Agno (``RunOutput``, ``TeamRunOutput`` ...)."""
    paused: Callable[..., Awaitable[PausedRun]]
    """Reads a paused run and the decisions sent to go on with it (``api.routes.continuing``)."""
    continue_guard: Callable[..., Awaitable[None]]
    decisions_field: str
    """The form field a continue's decisions come in (Agno's: ``tools``, ``requirements`` ...)."""
    decisions_description: str
    continue_summary: str
    nested: str | None = None
    """What a cancel also cancels (``its members' runs``), when the kind nests runs."""

    @property
    def title(self) -> str:
        return self.kind.capitalize()

    @property
    def prefix(self) -> str:
        return f"/{self.kind}s/{{{self.kind}_id}}/runs"

    @property
    def not_found(self) -> Responses:
        return {404: {"model": ErrorDetail, "description": f"The {self.kind}, the session or the run is not found"}}


def add_run_routes(router: APIRouter, routes: RunRoutes) -> None:
    """Declare ``routes``' cancel, resume, continue, list and read routes on ``router``, named as
    each kind's own functions were."""
    kind, prefix = routes.kind, routes.prefix
    component_of = routes.component
    Component = Annotated[Runner[Any], Depends(component_of)]  # noqa: N806 - a type, named as one
    cascade = f" (and {routes.nested})" if routes.nested else ""

    @router.post(
        f"{prefix}/{{run_id}}/cancel",
        name=f"cancel_{kind}_run",
        dependencies=[Depends(component_of), Depends(routes.cancel_guard)],
        responses={**answers(Cancelled, "The cancel is recorded"), **routes.not_found},
        description=f"Cancel a run in flight{cascade}; a run not running yet is cancelled when it starts. "
        "A run another replica drives is cancelled there within about a second: the cancel is recorded in "
        "the component's database, which that replica reads while the run goes on.\n\n"
        "Under user isolation only the caller's own run, named with its `session_id`.",
    )
    async def cancel(component: Component, run_id: str, context: ContextDep) -> JSON:
        if context.runs.cancel(run_id):
            return {}
        # Not running here: maybe on another replica, or about to start on one (the path's ids
        # are checked before: no NUL, no lone surrogate, not too long).
        if component.sessions is not None:
            await component.sessions.request_cancel(run_id, seconds=CANCEL_INTENT_SECONDS)
        return {}

    @router.post(
        f"{prefix}/{{run_id}}/resume",
        name=f"resume_{kind}_run",
        dependencies=[Depends(routes.resume_guard)],
        form_limits={"max_part_size": MAX_FIELD_BYTES},
        responses=RESUME_RESPONSES,
        response_class=Response,  # no media type of its own: the stream and the JSON errors say theirs
        status_code=200,
        description="Resume a streamed background run: the events after ``last_event_index``, then the live ones.",
    )
    async def resume(
        component: Component,
        run_id: str,
        caller: CallerDep,
        session_id: ResumeSession,
        last_event_index: LastEventIndex = None,
    ) -> Response:
        return resume_run(component, run_id, last_event_index, session_id=session_id, caller=caller)

    @router.get(
        prefix,
        name=f"list_{kind}_runs",
        responses={**answers(list[RunView], f"The {kind}'s runs in the session"), **routes.not_found},
        description=f"The {kind}'s runs in one session, oldest first.",
    )
    async def list_runs(
        component: Component, caller: CallerDep, session_id: SessionParam, status: str | None = None
    ) -> list[JSON]:
        row = await _session(component, kind, session_id, user_id=caller.scoped_user_id(None))
        if row is None:
            raise NotFound("Session not found")
        return [
            routes.run_view(run)
            for run in row.runs or []
            if run.get(f"{kind}_id") == component.id and (status is None or run.get("status") == status)
        ]

    @router.get(
        f"{prefix}/{{run_id}}",
        name=f"get_{kind}_run",
        responses={**answers(RunOutput, "The run as stored"), **routes.not_found},
        description=f"One run's ``{routes.output}``.",
    )
    async def get_run(component: Component, caller: CallerDep, run_id: str, session_id: SessionParam) -> JSON:
        row = await _session(component, kind, session_id, user_id=caller.scoped_user_id(None))
        for run in (row.runs or []) if row is not None else []:
            if run.get("run_id") == run_id and run.get(f"{kind}_id") == component.id:
                stored: JSON = run
                return stored
        raise NotFound("Run not found")

    Decisions = Annotated[str, Form(alias=routes.decisions_field, description=routes.decisions_description)]  # noqa: N806

    @router.post(
        f"{prefix}/{{run_id}}/continue",
        name=f"continue_{kind}_run",
        # Form fields as large as the body (``AGENTOS_MAX_BODY_BYTES``, 413 past it), as run forms
        # are, not the form parser's 1 MiB (400 not naming the field): a continue's decisions carry
        # Agno's whole requirement dicts, tool arguments included.
        dependencies=[Depends(routes.continue_guard)],
        form_limits={"max_part_size": MAX_FIELD_BYTES},
        responses=CONTINUE_RESPONSES,
        response_class=Response,  # no media type of its own: the stream and the JSON answers say theirs
        status_code=200,
        description=routes.continue_summary,
    )
    async def continue_run(
        component: Component,
        run_id: str,
        caller: CallerDep,
        session_id: ResumeSession,
        decisions: Decisions = "",
        stream: Stream = True,
        input: Input = None,
        continue_from: ContinueFrom = "end",
        fork: Unsupported = False,
        regenerate: Unsupported = False,
        background: Unsupported = False,
        dependencies: Dependencies = None,
        metadata: Metadata = None,
        knowledge_filters: KnowledgeFilters = None,
        add_dependencies_to_context: ContextFlag = None,
        add_session_state_to_context: ContextFlag = None,
    ) -> Response:
        check_options(input=input, continue_from=continue_from, fork=fork, regenerate=regenerate, background=background)
        options = run_options(
            dependencies=dependencies,
            metadata=metadata,
            knowledge_filters_text=knowledge_filters,
            add_dependencies_to_context=add_dependencies_to_context,
            add_session_state_to_context=add_session_state_to_context,
        )
        session = caller.run_session_id(session_id)
        paused = await routes.paused(
            component, run_id, session_id=session, decisions=decisions, caller=caller, options=options
        )
        if stream:
            return event_stream(component.continue_run(paused))
        return Response(output_body(await component.complete_continued(paused)), media_type="application/json")


async def _session(component: Runner[Any], kind: RunKind, session_id: str, *, user_id: str | None) -> SessionRow | None:
    return await component_session(
        component.sessions, session_id, kind=kind, component_id=component.id, user_id=user_id
    )
