"""A workflow and its run: read the session, run the steps in order, persist once at the end.

``Workflow.run(request)`` yields Agno's workflow events (``WorkflowStarted``, ``StepStarted``,
the step's agent or team events, ``StepCompleted`` ... ``WorkflowCompleted``), the body of a
streamed ``POST /workflows/{id}/runs``; ``Workflow.complete(request)`` runs the same steps
without streaming and returns the ``WorkflowRunOutput`` dict. How steps run is
``runs.workflow_steps``.

A workflow run goes through the lifecycle every run shares (``runs.lifecycle``): stored once,
at its end, in a session of type ``workflow`` (``workflow_id``, ``workflow_data``), with
``save_run``; the runs of the agents and teams that ran its steps are inside it
(``step_executor_runs``). A step that fails ends the run with ``StepError`` and
``WorkflowError`` (status ERROR), as does any other exception; a cancel ends it with
``WorkflowCancelled``; a save that fails ends the stream with ``WorkflowError``, and
``complete`` raises ``StorageUnavailable``. Opening a run reads the session's state, none of
its runs.

A top-level step's agent or team that waits for a person's confirmation pauses the workflow run
(``StepExecutorPaused``, ``WorkflowPaused`` with Agno's ``step_requirements``; stored
``PAUSED``); ``Workflow.continue_run`` takes it up again (``StepExecutorContinued``, the step's
agent or team going on, the steps after it), as agents and teams are (``runs.runner``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar

from agentos_runtime.config.components import WorkflowConfig
from agentos_runtime.errors import ModelProviderError
from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.lifecycle import (
    CANCELLED_BY_CALLER,
    Ending,
    Outcome,
    describe_failure,
)
from agentos_runtime.runs.opening import run_metadata
from agentos_runtime.runs.pausing import PausedRun
from agentos_runtime.runs.registry import RunHandle, RunRegistry
from agentos_runtime.runs.requests import RunRequest
from agentos_runtime.runs.runner import Runner
from agentos_runtime.runs.sessions import check_session_component, merge_session_state, stored_session_state
from agentos_runtime.runs.teams import Team
from agentos_runtime.runs.workflow_events import WorkflowEventFactory
from agentos_runtime.runs.workflow_record import WorkflowRecord
from agentos_runtime.runs.workflow_steps import (
    LeafPlan,
    ParallelPlan,
    StepFailed,
    StepPlan,
    StepsRun,
    go_on,
    paused_leaf,
    run_steps,
)
from agentos_runtime.storage.ports import RecentRuns, SessionRow, SessionStore

JSON = dict[str, Any]

# A workflow run replays no history: opening it reads the session's state and no run.
NO_RUNS = RecentRuns(limit=0)


def step_type(plan: StepPlan) -> str:
    """Agno's ``StepType`` of a planned step."""
    if isinstance(plan, LeafPlan):
        return "Step"
    return "Parallel" if isinstance(plan, ParallelPlan) else "Condition"


def failure_details(failure: StepFailed) -> tuple[str | None, str | None]:
    """``error_type`` and ``error_id`` of the error event the failed step's executor emitted."""
    for event in reversed(failure.output.get("events") or []):
        if event.get("event") in ("RunError", "TeamRunError"):
            return event.get("error_type"), event.get("error_id")
    return None, None


@dataclass(kw_only=True)
class _WorkflowRun(StepsRun):
    """One workflow run as the lifecycle drives it (``runs.lifecycle``)."""

    expected: ClassVar[tuple[type[Exception], ...]] = (StepFailed, ModelProviderError)
    workflow: Workflow

    @property
    def label(self) -> str:
        return f"workflow {self.workflow.id}"

    async def open(self) -> SessionRow:
        """Read the session's state; the row a new session is written with."""
        workflow, request, record = self.workflow, self.request, self.record
        row = None
        if workflow.sessions is not None:
            row = await workflow.sessions.get_session(request.session_id, user_id=request.user_id, recent_runs=NO_RUNS)
            check_session_component(row, kind="workflow", component_id=workflow.id)
        record.session_state = merge_session_state(None, stored_session_state(row), request.session_state)
        return self._new_row()

    def _new_row(self) -> SessionRow:
        workflow, request, record = self.workflow, self.request, self.record
        return SessionRow(
            session_id=request.session_id,
            session_type="workflow",
            created_at=record.created_at,
            workflow_id=workflow.id,
            user_id=request.user_id,
            session_data={"session_state": record.session_state},
            workflow_data={
                "workflow_id": workflow.id,
                "name": workflow.name,
                "steps": [{"name": plan.name, "type": step_type(plan)} for plan in workflow.steps],
            },
            runs=[],
            updated_at=record.created_at,
        )

    def started(self) -> RunEvent:
        return self.events.workflow_started()

    def body(self) -> AsyncGenerator[RunEvent, None]:
        return run_steps(self, self.workflow.steps)

    def end(self, outcome: Outcome) -> Ending:
        return replace(self._ending(outcome), forwarded=tuple(self.unended))

    def _ending(self, outcome: Outcome) -> Ending:
        record, events = self.record, self.events
        if outcome.status == "PAUSED" and record.paused_step is not None:
            record.finish("PAUSED")
            step = record.paused_step
            last = events.workflow_paused(
                step,
                content=record.content,
                step_results=record.step_results,
                step_executor_runs=record.executor_runs,
                metadata=record.metadata,
            )
            return Ending(last, before=(events.step_executor_paused(step),))
        if outcome.status == "COMPLETED":
            record.finish("COMPLETED")
            last = events.workflow_completed(
                content=record.content,
                step_results=record.step_results,
                metrics=record.metrics_dict(),
                metadata=record.metadata,
            )
            # Agno's WorkflowCompleted carries the steps' agent and team runs.
            last.stream_also({"step_executor_runs": list(record.executor_runs)})
            return Ending(last)
        if outcome.status == "CANCELLED":
            reason = outcome.reason or CANCELLED_BY_CALLER
            record.finish("CANCELLED", content=reason)
            return Ending(events.workflow_cancelled(reason, content=reason))
        failure = outcome.error
        if isinstance(failure, StepFailed):
            record.finish("ERROR", content=failure.error)
            error_type, error_id = failure_details(failure)
            step_error = events.step_error(failure.step_name, failure.step_index, failure.step_id, failure.error)
            last = events.workflow_error(failure.error, error_type=error_type, error_id=error_id)
            return Ending(last, before=(step_error,))
        message, error_type, error_id = describe_failure(failure)
        record.finish("ERROR", content=message)
        return Ending(events.workflow_error(message, error_type=error_type, error_id=error_id))

    def unsaved(self, detail: str, *, error_type: str, error_id: str | None) -> RunEvent:
        self.record.finish("ERROR", content=detail)
        return self.events.workflow_error(detail, error_type=error_type, error_id=error_id)

    def saved(self, outcome: Outcome) -> None:
        """Nothing follows a workflow run's save."""


@dataclass(kw_only=True)
class _ContinuedWorkflowRun(_WorkflowRun):
    """A paused workflow run going on: its paused step's agent, then the steps after it."""

    paused: PausedRun

    async def open(self) -> SessionRow:
        """Take up the run as it was read: whether it still waits is decided as it is stored
        ``RUNNING`` (``Lifecycle.takes_up``), so the session is not read again here."""
        self.record.session_state = self.paused.session_state
        return self._new_row()

    def started(self) -> RunEvent:
        waiting = self.record.paused_step
        if waiting is None:
            return self.events.workflow_started()
        return self.events.step_executor_continued(waiting)

    def body(self) -> AsyncGenerator[RunEvent, None]:
        return go_on(self, self.workflow.steps, self.paused)


class Workflow(Runner[WorkflowRecord]):
    """A declared workflow, ready to run: its config, planned steps and session store.

    ``run`` yields the run's events, ending with ``WorkflowCompleted``, ``WorkflowError`` or
    ``WorkflowCancelled``; ``complete`` returns the ``WorkflowRunOutput`` dict (``status`` ERROR
    when a step failed).
    """

    kind = "workflow"

    def __init__(
        self,
        config: WorkflowConfig,
        *,
        steps: Sequence[StepPlan],
        sessions: SessionStore | None = None,
        registry: RunRegistry | None = None,
        db_id: str | None = None,
    ) -> None:
        """``sessions=None`` runs without persistence (nothing is stored)."""
        self.config = config
        self.id = config.id
        self.name = config.name or config.id
        self.steps = list(steps)
        self.sessions = sessions
        self.registry = registry if registry is not None else RunRegistry()
        self.db_id = db_id

    def still_has(self, step: JSON) -> bool:
        """Whether the paused step (its ``StepRequirement`` dict) is still this workflow's, at the
        same place and run by the same agent or team, so its run can go on."""
        return paused_leaf(self.steps, step) is not None

    def paused_team(self, step: JSON) -> Team | None:
        """The team running the paused step (``None`` for an agent's step)."""
        plan = paused_leaf(self.steps, step)
        if plan is None or not isinstance(plan.executor, Team):
            return None
        return plan.executor

    def _new_record(self, request: RunRequest) -> WorkflowRecord:
        return WorkflowRecord(
            run_id=request.run_id,
            workflow_id=self.id,
            workflow_name=self.name,
            session_id=request.session_id,
            user_id=request.user_id,
            input_content=request.message,
            metadata=run_metadata(None, request.metadata),
        )

    def _stored_record(self, run: JSON) -> WorkflowRecord:
        return WorkflowRecord.from_stored(run)

    def _steps(
        self,
        request: RunRequest,
        record: WorkflowRecord,
        handle: RunHandle,
        *,
        stream: bool,
        paused: PausedRun | None = None,
    ) -> _WorkflowRun:
        """One run's steps: a new run's, or (``paused``) those of a paused run going on."""
        make = _WorkflowRun if paused is None else partial(_ContinuedWorkflowRun, paused=paused)
        return make(
            record=record,
            events=self._events(request.run_id, request.session_id),
            handle=handle,
            request=request,
            stream=stream,
            may_pause=self.may_pause,
            workflow=self,
        )

    def _error_event(self, run_id: str, session_id: str, detail: str, *, error_type: str, error_id: str) -> RunEvent:
        return self._events(run_id, session_id).workflow_error(detail, error_type=error_type, error_id=error_id)

    def _events(self, run_id: str, session_id: str) -> WorkflowEventFactory:
        return WorkflowEventFactory(workflow_id=self.id, workflow_name=self.name, run_id=run_id, session_id=session_id)
