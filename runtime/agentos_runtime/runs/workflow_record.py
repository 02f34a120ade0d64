"""The record of one workflow run, and its ``WorkflowRunOutput`` dict as Agno returns and stores it.

A workflow run keeps Agno's fields: ``input`` (the message), ``content`` (the last step's
output), ``step_results`` (one ``StepOutput`` dict per top-level step; a parallel group or a
condition holds its inner steps in ``steps``), ``step_executor_runs`` (the ``RunOutput`` /
``TeamRunOutput`` of every agent and team that ran a step, with ``parent_run_id`` the workflow
run's id), its own events, and ``metrics`` (``steps``: each executed step's executor and run
metrics; ``duration``). The executors' runs travel inside the workflow run, so one write
stores it whole.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.pausing import paused_at
from agentos_runtime.runs.record import earlier_duration, stored_list

JSON = dict[str, Any]
WorkflowStatus = Literal["RUNNING", "COMPLETED", "ERROR", "CANCELLED", "PAUSED"]


def step_output(
    *,
    step_name: str,
    step_id: str,
    step_type: str,
    content: str | None,
    executor_type: str | None = None,
    executor_name: str | None = None,
    step_run_id: str | None = None,
    metrics: JSON | None = None,
    success: bool = True,
    error: str | None = None,
    steps: list[JSON] | None = None,
) -> JSON:
    """Agno's ``StepOutput.to_dict()``."""
    output: JSON = {
        "content": content,
        "step_name": step_name,
        "step_id": step_id,
        "step_type": step_type,
        "executor_type": executor_type,
        "executor_name": executor_name,
        "step_run_id": step_run_id,
        "images": None,
        "videos": None,
        "audio": None,
        "files": None,
        "metrics": metrics,
        "success": success,
        "error": error,
        "stop": False,
        "is_paused": False,
    }
    if steps is not None:
        output["steps"] = steps
    return output


class WorkflowRecord:
    """Everything one workflow run produced so far; mutated only by the workflow's run."""

    def __init__(
        self,
        *,
        run_id: str,
        workflow_id: str,
        workflow_name: str,
        session_id: str,
        user_id: str | None,
        input_content: str,
        metadata: JSON | None,
    ) -> None:
        self.run_id = run_id
        self.workflow_id = workflow_id
        self.workflow_name = workflow_name
        self.session_id = session_id
        self.user_id = user_id
        self.input_content = input_content
        self.metadata = metadata
        self.created_at = int(time.time())
        self.started = time.perf_counter()
        self.status: WorkflowStatus = "RUNNING"
        self.content: str | None = None
        self.step_results: list[JSON] = []
        self.executor_runs: list[JSON] = []
        self.step_metrics: dict[str, JSON] = {}
        self.events: list[JSON] = []
        self.session_state: JSON | None = None
        self.duration: float | None = None
        self.paused_step: JSON | None = None
        """The ``StepRequirement`` dict of the step whose agent waits, while the run is ``PAUSED``."""
        self.saved = False

    @classmethod
    def from_stored(cls, run: JSON) -> WorkflowRecord:
        """A stored ``PAUSED`` workflow run, taken up again to go on (``RUNNING``)."""
        input_content = run.get("input")
        record = cls(
            run_id=str(run["run_id"]),
            workflow_id=str(run.get("workflow_id") or ""),
            workflow_name=str(run.get("workflow_name") or run.get("workflow_id") or ""),
            session_id=str(run.get("session_id") or ""),
            user_id=run.get("user_id"),
            input_content=input_content if isinstance(input_content, str) else "",
            metadata=run.get("metadata"),
        )
        created_at = run.get("created_at")
        if isinstance(created_at, int) and not isinstance(created_at, bool):
            record.created_at = created_at
        content = run.get("content")
        record.content = content if isinstance(content, str) else None
        record.step_results = stored_list(run, "step_results")
        record.executor_runs = stored_list(run, "step_executor_runs")
        metrics = run.get("metrics")
        steps = metrics.get("steps") if isinstance(metrics, dict) else None
        record.step_metrics = (
            {str(k): dict(v) for k, v in steps.items() if isinstance(v, dict)} if isinstance(steps, dict) else {}
        )
        record.events = stored_list(run, "events")
        record.started -= earlier_duration(run)  # the run's duration counts what it ran before it paused
        waiting = stored_list(run, "step_requirements")
        record.paused_step = waiting[0] if waiting else None
        return record

    def add(self, event: RunEvent) -> RunEvent:
        """Keep ``event`` on the run and return it."""
        self.events.append(event.kept())
        return event

    def add_executor_run(self, step_name: str, executor_type: str, output: JSON) -> None:
        """Keep the run of the agent or team that ran ``step_name``, and its metrics."""
        self.executor_runs.append(output)
        self.step_metrics[step_name] = {
            "step_name": step_name,
            "executor_type": executor_type,
            "executor_name": output.get("agent_name") or output.get("team_name") or "",
            "metrics": output.get("metrics") or None,
        }

    def replace_executor_run(self, step_name: str, executor_type: str, output: JSON) -> None:
        """Put ``output`` in place of the kept run with its ``run_id`` (a paused step's agent gone on)."""
        self.executor_runs = [r for r in self.executor_runs if r.get("run_id") != output.get("run_id")]
        self.add_executor_run(step_name, executor_type, output)

    def finish(self, status: WorkflowStatus, *, content: str | None = None) -> None:
        """Set the final status; ``content`` (when given) replaces the content."""
        self.status = status
        if content is not None:
            self.content = content
        self.duration = time.perf_counter() - self.started

    def metrics_dict(self) -> JSON:
        return {"steps": dict(self.step_metrics), "duration": self.duration}

    def to_dict(self, *, stored: bool = False) -> JSON:
        """The ``WorkflowRunOutput`` dict; the same form is stored (``stored`` changes nothing)."""
        output: JSON = {
            "input": self.input_content,
            "content": self.content,
            "content_type": "str",
            "workflow_id": self.workflow_id,
            "workflow_name": self.workflow_name,
            "run_id": self.run_id,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "created_at": self.created_at,
            "status": self.status,
            "metadata": self.metadata,
            "step_results": list(self.step_results),
            "step_executor_runs": list(self.executor_runs),
            "metrics": self.metrics_dict(),
            "events": list(self.events),
        }
        if self.status == "PAUSED" and self.paused_step is not None:
            output["paused_step_index"], output["paused_step_name"] = paused_at(self.paused_step)
            output["pause_kind"] = "executor"
            output["step_requirements"] = [self.paused_step]
        return {key: value for key, value in output.items() if value is not None}
