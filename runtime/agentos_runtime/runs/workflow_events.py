"""Workflow run events with Agno's names and fields (``WorkflowStarted`` ... ``WorkflowCompleted``).

Every event carries ``workflow_id, workflow_name, session_id, run_id, nested_depth``; step
events add ``step_name, step_index, step_id`` (``step_index`` is the step's position, a pair
``[group, position]`` inside a parallel group or a condition's branch). The agents and teams
that run the steps emit their own events, forwarded with ``workflow_fields`` stamped on them.
"""

from __future__ import annotations

import time
from typing import Any

from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.pausing import paused_at

JSON = dict[str, Any]
StepIndex = int | tuple[int, int]

WORKFLOW_STARTED = "WorkflowStarted"
WORKFLOW_COMPLETED = "WorkflowCompleted"
WORKFLOW_ERROR = "WorkflowError"
WORKFLOW_CANCELLED = "WorkflowCancelled"
STEP_STARTED = "StepStarted"
STEP_COMPLETED = "StepCompleted"
STEP_ERROR = "StepError"
PARALLEL_STARTED = "ParallelExecutionStarted"
PARALLEL_COMPLETED = "ParallelExecutionCompleted"
CONDITION_STARTED = "ConditionExecutionStarted"
CONDITION_COMPLETED = "ConditionExecutionCompleted"
WORKFLOW_PAUSED = "WorkflowPaused"
STEP_EXECUTOR_PAUSED = "StepExecutorPaused"
STEP_EXECUTOR_CONTINUED = "StepExecutorContinued"
EXECUTOR_FIELDS = ("executor_id", "executor_name", "executor_run_id", "executor_type")


def workflow_fields(*, workflow_id: str, run_id: str, step_id: str, step_name: str, step_index: StepIndex) -> JSON:
    """What a workflow stamps on the events of the agent or team running one of its steps."""
    return {
        "workflow_id": workflow_id,
        "workflow_run_id": run_id,
        "step_id": step_id,
        "step_name": step_name,
        "step_index": step_index,
    }


class WorkflowEventFactory:
    """Builds the events of one workflow run, each stamped with the run's common fields."""

    __slots__ = ("_common",)

    def __init__(self, *, workflow_id: str, workflow_name: str, run_id: str, session_id: str) -> None:
        self._common: JSON = {
            "workflow_id": workflow_id,
            "workflow_name": workflow_name,
            "session_id": session_id,
            "run_id": run_id,
            "nested_depth": 0,
        }

    def _event(self, name: str, fields: JSON) -> RunEvent:
        data: JSON = {"created_at": int(time.time()), "event": name, **self._common}
        data.update((key, value) for key, value in fields.items() if value is not None)
        return RunEvent(name, data)

    def _step(self, name: str, step_name: str, step_index: StepIndex, step_id: str, fields: JSON) -> RunEvent:
        return self._event(name, {"step_id": step_id, "step_name": step_name, "step_index": step_index, **fields})

    def workflow_started(self) -> RunEvent:
        return self._event(WORKFLOW_STARTED, {})

    def step_started(self, step_name: str, step_index: StepIndex, step_id: str) -> RunEvent:
        return self._step(STEP_STARTED, step_name, step_index, step_id, {})

    def step_completed(self, step_name: str, step_index: StepIndex, step_id: str, output: JSON) -> RunEvent:
        fields = {"content": output.get("content"), "content_type": "str", "step_response": output}
        return self._step(STEP_COMPLETED, step_name, step_index, step_id, fields)

    def step_error(self, step_name: str, step_index: StepIndex, step_id: str, error: str) -> RunEvent:
        return self._step(STEP_ERROR, step_name, step_index, step_id, {"error": error})

    def parallel_started(self, step_name: str, step_index: StepIndex, step_id: str, count: int) -> RunEvent:
        return self._step(PARALLEL_STARTED, step_name, step_index, step_id, {"parallel_step_count": count})

    def parallel_completed(self, step_name: str, step_index: StepIndex, step_id: str, results: list[JSON]) -> RunEvent:
        fields = {"parallel_step_count": len(results), "step_results": results}
        return self._step(PARALLEL_COMPLETED, step_name, step_index, step_id, fields)

    def condition_started(self, step_name: str, step_index: StepIndex, step_id: str, holds: bool) -> RunEvent:
        return self._step(CONDITION_STARTED, step_name, step_index, step_id, {"condition_result": holds})

    def condition_completed(
        self, step_name: str, step_index: StepIndex, step_id: str, holds: bool, results: list[JSON]
    ) -> RunEvent:
        fields = {
            "condition_result": holds,
            "executed_steps": len(results),
            "branch": "if" if holds else "else",
            "step_results": results,
        }
        return self._step(CONDITION_COMPLETED, step_name, step_index, step_id, fields)

    def workflow_completed(
        self, *, content: str | None, step_results: list[JSON], metrics: JSON, metadata: JSON | None
    ) -> RunEvent:
        fields = {
            "content": content,
            "content_type": "str",
            "step_results": step_results,
            "metadata": metadata,
            "metrics": metrics,
        }
        return self._event(WORKFLOW_COMPLETED, fields)

    def step_executor_paused(self, requirement: JSON) -> RunEvent:
        """A step's agent waits for a person (Agno's ``StepExecutorPausedEvent``), from the step's
        ``StepRequirement`` dict."""
        fields = {key: requirement.get(key) for key in EXECUTOR_FIELDS}
        fields["executor_requirements"] = requirement.get("executor_requirements")
        return self._step(
            STEP_EXECUTOR_PAUSED, requirement["step_name"], requirement["step_index"], requirement["step_id"], fields
        )

    def step_executor_continued(self, requirement: JSON) -> RunEvent:
        """The paused step's agent goes on (Agno's ``StepExecutorContinuedEvent``)."""
        fields = {key: requirement.get(key) for key in EXECUTOR_FIELDS}
        return self._step(
            STEP_EXECUTOR_CONTINUED, requirement["step_name"], requirement["step_index"], requirement["step_id"], fields
        )

    def workflow_paused(
        self,
        requirement: JSON,
        *,
        content: str | None,
        step_results: list[JSON],
        step_executor_runs: list[JSON],
        metadata: JSON | None,
    ) -> RunEvent:
        """The run waits for a person's decisions on a step's agent (Agno's ``WorkflowPausedEvent``,
        with what a continue needs)."""
        fields = {
            "status": "PAUSED",
            "paused_step_index": paused_at(requirement)[0],
            "paused_step_name": paused_at(requirement)[1],
            "pause_kind": "executor",
            "step_requirements": [requirement],
            "step_results": step_results,
            "step_executor_runs": step_executor_runs,
            "content": content,
            "metadata": metadata,
        }
        return self._event(WORKFLOW_PAUSED, fields)

    def workflow_error(self, error: str, *, error_type: str | None, error_id: str | None) -> RunEvent:
        return self._event(WORKFLOW_ERROR, {"error": error, "error_type": error_type, "error_id": error_id})

    def workflow_cancelled(self, reason: str, *, content: str | None) -> RunEvent:
        return self._event(WORKFLOW_CANCELLED, {"reason": reason, "content": content or reason})
