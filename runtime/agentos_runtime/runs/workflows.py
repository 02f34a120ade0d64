"""A workflow and its run: read the session, run the steps in order, persist once at the end.

``Workflow.run(request)`` yields Agno's workflow events (``WorkflowStarted``, ``StepStarted``,
the step's agent or team events, ``StepCompleted`` ... ``WorkflowCompleted``), the body of a
streamed ``POST /workflows/{id}/runs``; ``Workflow.complete(request)`` runs the same steps
without streaming and returns the ``WorkflowRunOutput`` dict. How steps run is
``runs.workflow_steps``.

A workflow run is stored once, at its end, in a session of type ``workflow`` (``workflow_id``,
``workflow_data``), with ``save_run``; the runs of the agents and teams that ran its steps are
inside it (``step_executor_runs``). A step that fails ends the run with ``StepError`` and
``WorkflowError`` (status ERROR); a cancel ends it with ``WorkflowCancelled``; a save that
fails ends the stream with ``WorkflowError``, and ``complete`` raises ``StorageUnavailable``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from agentos_runtime.config.components import WorkflowConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.loop import STORAGE_ERROR_TYPE, RunRequest
from agentos_runtime.runs.registry import RunCancelled, RunOwner, RunRegistry
from agentos_runtime.runs.sessions import merge_dicts, merge_session_state, stored_session_state
from agentos_runtime.runs.workflow_events import WorkflowEventFactory
from agentos_runtime.runs.workflow_record import WorkflowRecord
from agentos_runtime.runs.workflow_steps import LeafPlan, ParallelPlan, StepFailed, StepPlan, StepsRun, run_steps
from agentos_runtime.storage.ports import JSON, SessionRow, SessionStore

log = logging.getLogger(__name__)

CANCELLED_BY_USER = "Operation cancelled by user"


@dataclass
class _WorkflowRun(StepsRun):
    new_row: SessionRow | None = None
    storage_error: StorageUnavailable | None = None
    saving: bool = False


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


class Workflow:
    """A declared workflow, ready to run: its config, planned steps and session store."""

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

    def run(self, request: RunRequest) -> AsyncIterator[RunEvent]:
        """The run's events, ending with ``WorkflowCompleted``, ``WorkflowError`` or ``WorkflowCancelled``."""
        return self._execute(request, stream=True, sink=None)

    async def complete(self, request: RunRequest) -> JSON:
        """Run without streaming; the ``WorkflowRunOutput`` dict (``status`` ERROR when a step failed).

        Raises ``StorageUnavailable`` when the session could not be read or the run saved.
        """
        sink: list[_WorkflowRun] = []
        async for _ in self._execute(request, stream=False, sink=sink):
            pass
        run = sink[0]
        if run.storage_error is not None:
            raise run.storage_error
        return run.record.to_dict()

    async def _execute(
        self, request: RunRequest, *, stream: bool, sink: list[_WorkflowRun] | None
    ) -> AsyncIterator[RunEvent]:
        record = WorkflowRecord(
            run_id=request.run_id,
            workflow_id=self.id,
            workflow_name=self.name,
            session_id=request.session_id,
            user_id=request.user_id,
            input_content=request.message,
            metadata=merge_dicts({}, request.metadata or {}) or None,
        )
        events = WorkflowEventFactory(
            workflow_id=self.id, workflow_name=self.name, run_id=request.run_id, session_id=request.session_id
        )
        owner = RunOwner("workflow", self.id, request.session_id, request.user_id)
        handle = self.registry.start(request.run_id, owner)
        run = _WorkflowRun(record=record, events=events, handle=handle, request=request, stream=stream)
        if sink is not None:
            sink.append(run)
        try:
            async with aclosing(self._lifecycle(run)) as lifecycle:
                async for event in lifecycle:
                    yield event
        finally:
            self.registry.finish(handle)

    async def _lifecycle(self, run: _WorkflowRun) -> AsyncGenerator[RunEvent, None]:
        record, events = run.record, run.events
        try:
            try:
                await self._open(run)
            except StorageUnavailable as error:
                run.storage_error = error
                record.finish("ERROR", content=error.detail)
                yield events.workflow_error(error.detail, error_type=STORAGE_ERROR_TYPE, error_id=STORAGE_ERROR_TYPE)
                return
            yield record.add(events.workflow_started())
            async with aclosing(run_steps(run, self.steps)) as steps:
                async for event in steps:
                    yield event
            record.finish("COMPLETED")
            metrics = record.metrics_dict()
            last = events.workflow_completed(
                content=record.content, step_results=record.step_results, metrics=metrics, metadata=record.metadata
            )
            async for event in self._end(run, last):
                yield event
        except StepFailed as failure:
            yield record.add(events.step_error(failure.step_name, failure.step_index, failure.step_id, failure.error))
            record.finish("ERROR", content=failure.error)
            error_type, error_id = failure_details(failure)
            async for event in self._end(
                run, events.workflow_error(failure.error, error_type=error_type, error_id=error_id)
            ):
                yield event
        except (RunCancelled, asyncio.CancelledError) as error:
            if isinstance(error, asyncio.CancelledError) and not run.handle.take_back_cancel():
                self._save_detached(run)
                raise
            reason = f"Run {record.run_id} was cancelled"
            record.finish("CANCELLED", content=reason)
            async for event in self._end(run, events.workflow_cancelled(reason, content=reason)):
                yield event
        except GeneratorExit:
            self._save_detached(run)
            raise
        except Exception as error:  # the run boundary: a bug still ends the run, recorded as ERROR
            log.exception("run %s of workflow %s failed", record.run_id, self.id)
            message = f"{type(error).__name__}: {error}"
            record.finish("ERROR", content=message)
            async for event in self._end(
                run, events.workflow_error(message, error_type=type(error).__name__, error_id=None)
            ):
                yield event

    async def _open(self, run: _WorkflowRun) -> None:
        """Read the session and merge the state; the row a new session is written with."""
        request, record = run.request, run.record
        row = None
        if self.sessions is not None:
            row = await self.sessions.get_session(request.session_id, user_id=request.user_id)
        record.session_state = merge_session_state(None, stored_session_state(row), request.session_state)
        run.new_row = SessionRow(
            session_id=request.session_id,
            session_type="workflow",
            created_at=record.created_at,
            workflow_id=self.id,
            user_id=request.user_id,
            session_data={"session_state": record.session_state},
            workflow_data={
                "workflow_id": self.id,
                "name": self.name,
                "steps": [{"name": plan.name, "type": step_type(plan)} for plan in self.steps],
            },
            runs=[],
            updated_at=record.created_at,
        )

    async def _end(self, run: _WorkflowRun, last: RunEvent) -> AsyncIterator[RunEvent]:
        """Keep the terminal event, save the run, and yield the event (or the save's failure)."""
        run.record.add(last)
        try:
            await self._save(run)
        except StorageUnavailable as failure:
            run.storage_error = failure
            detail = f"the run could not be saved: {failure.detail}"
            yield run.events.workflow_error(detail, error_type=STORAGE_ERROR_TYPE, error_id=STORAGE_ERROR_TYPE)
            return
        yield last

    async def _save(self, run: _WorkflowRun) -> None:
        """Store the run once; shielded, so a cancelled caller does not cut a write in half."""
        if self.sessions is None or run.new_row is None:
            run.record.saved = True
            return
        run.saving = True
        record = run.record
        save = asyncio.get_running_loop().create_task(
            self.sessions.save_run(run.new_row, record.to_dict(), session_state=record.session_state)
        )
        self.registry.track(save)
        await asyncio.shield(save)
        record.saved = True

    def _save_detached(self, run: _WorkflowRun) -> None:
        """Record a run whose caller went away (disconnect, shutdown) as CANCELLED, in the background."""
        if run.saving or run.record.saved or run.new_row is None:
            return
        run.record.finish("CANCELLED", content=CANCELLED_BY_USER)
        run.record.add(run.events.workflow_cancelled(CANCELLED_BY_USER, content=CANCELLED_BY_USER))
        try:
            task = asyncio.get_running_loop().create_task(self._save_quietly(run))
        except RuntimeError:
            log.warning("workflow run %s ended outside an event loop and was not saved", run.record.run_id)
            return
        self.registry.track(task)

    async def _save_quietly(self, run: _WorkflowRun) -> None:
        try:
            await self._save(run)
        except StorageUnavailable as error:
            log.warning("cancelled workflow run %s could not be saved: %s", run.record.run_id, error.detail)
