"""The record of one run, and its ``RunOutput`` dict as Agno returns and stores it.

The run loop appends to a ``RunRecord`` (messages, tool executions, stored events, metrics)
and finishes it with a status; ``to_dict()`` gives Agno's ``RunOutput.to_dict()`` shape:
``run_id, agent_id, agent_name, session_id, user_id, content, content_type,
model_provider_data, model, model_provider, session_state, created_at, status, metrics,
events, messages, tools, input`` (and ``requirements`` while it is ``PAUSED``). The stored
form leaves out the history copies (Agno's ``store_history_messages=False``), so a session does
not grow quadratically; a paused run keeps them, so it goes on with the messages its model saw
(``from_stored``), and leaves them out once it ends.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypedDict

from agentos_runtime.runs.events import UNSTORED_EVENTS, RunEvent
from agentos_runtime.runs.metrics import RunMetrics

JSON = dict[str, Any]
RunStatus = Literal["RUNNING", "COMPLETED", "ERROR", "CANCELLED", "PAUSED"]


def tool_execution(
    *,
    tool_call_id: str,
    tool_name: str,
    tool_args: JSON,
    created_at: int,
    error: bool | None = None,
    result: str | None = None,
    metrics: JSON | None = None,
) -> JSON:
    """Agno's ``ToolExecution.to_dict()``: every field present, unset ones ``null``."""
    return {
        "tool_call_id": tool_call_id,
        "tool_name": tool_name,
        "tool_args": tool_args,
        "tool_call_error": error,
        "result": result,
        "metrics": metrics,
        "child_run_id": None,
        "stop_after_tool_call": False,
        "created_at": created_at,
        "requires_confirmation": None,
        "confirmed": None,
        "confirmation_note": None,
        "requires_user_input": None,
        "user_input_schema": None,
        "user_feedback_schema": None,
        "answered": None,
        "external_execution_required": None,
        "external_execution_silent": None,
        "approval_type": None,
        "approval_id": None,
        "parent_tool_call_id": None,
    }


def call_summary(tool_name: str, tool_args: JSON, duration: float) -> str:
    """``ToolCallCompleted.content``, e.g. ``add(a=2, b=3) completed in 0.0007s. ``."""
    arguments = ", ".join(f"{key}={value}" for key, value in tool_args.items())
    return f"{tool_name}({arguments}) completed in {duration:.4f}s. "


def stored_list(run: Mapping[str, Any], field: str) -> list[JSON]:
    """The dicts of a stored run's list ``field``; none when it is absent or not a list (a run
    changed in the database is taken up with what can be read of it, never a ``TypeError``)."""
    value = run.get(field)
    return [dict(item) for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def earlier_duration(run: JSON) -> float:
    """The seconds a stored run ran before it paused (its ``metrics.duration``; 0 when not a
    plausible number of seconds)."""
    metrics = run.get("metrics")
    duration = metrics.get("duration") if isinstance(metrics, dict) else None
    if isinstance(duration, int | float) and not isinstance(duration, bool) and 0 <= duration <= 10**7:
        return float(duration)
    return 0.0


class StoredFields(TypedDict):
    """What a stored run gives back of the constructor fields an agent's and a team's record share."""

    run_id: str
    session_id: str
    user_id: str | None
    model: str
    model_provider: str
    input_content: str
    metadata: JSON | None


def stored_fields(run: JSON) -> StoredFields:
    """The shared constructor fields of a stored run (its ids are the kind's: ``agent_id``, ``team_id``)."""
    stored_input = run.get("input")
    return StoredFields(
        run_id=str(run["run_id"]),
        session_id=str(run.get("session_id") or ""),
        user_id=run.get("user_id"),
        model=str(run.get("model") or ""),
        model_provider=str(run.get("model_provider") or ""),
        input_content=str(stored_input.get("input_content") or "") if isinstance(stored_input, dict) else "",
        metadata=run.get("metadata"),
    )


class RunRecord:
    """Everything one run produced so far; mutated only by the run loop."""

    unstored: ClassVar[frozenset[str]] = UNSTORED_EVENTS
    """The events not kept on the run (content deltas)."""

    def __init__(
        self,
        *,
        run_id: str,
        agent_id: str,
        agent_name: str,
        session_id: str,
        user_id: str | None,
        model: str,
        model_provider: str,
        input_content: str,
        metadata: JSON | None,
    ) -> None:
        self.run_id = run_id
        self.agent_id = agent_id
        self.agent_name = agent_name
        self.session_id = session_id
        self.user_id = user_id
        self.model = model
        self.model_provider = model_provider
        self.input_content = input_content
        self.metadata = metadata
        self.created_at = int(time.time())
        self.started = time.perf_counter()
        self.status: RunStatus = "RUNNING"
        self.text: list[str] = []
        self.fallback_content: str | None = None
        self.messages: list[JSON] = []
        self.tools: list[JSON] = []
        self.references: list[JSON] = []
        """What the run's knowledge searches found (``query``, ``references``, ``time``)."""
        self.events: list[JSON] = []
        self.metrics = RunMetrics()
        self.provider_data: JSON | None = None
        self.session_state: JSON | None = None
        self.duration: float | None = None
        self.requirements: list[JSON] | None = None
        """Agno's ``RunRequirement`` dicts of the calls a ``PAUSED`` run waits on."""
        self.saved = False

    @classmethod
    def from_stored(cls, run: JSON) -> RunRecord:
        """A stored ``PAUSED`` run, taken up again to go on (``RUNNING``; its content is built anew)."""
        agent_id = str(run.get("agent_id") or "")
        record = cls(**stored_fields(run), agent_id=agent_id, agent_name=str(run.get("agent_name") or agent_id))
        record.restore(run)
        return record

    def restore(self, run: JSON) -> None:
        """Take what a stored ``PAUSED`` run accumulated (its ids are the constructor's)."""
        created_at = run.get("created_at")
        if isinstance(created_at, int) and not isinstance(created_at, bool):
            self.created_at = created_at
        self.messages = stored_list(run, "messages")
        self.tools = stored_list(run, "tools")
        self.events = stored_list(run, "events")
        self.references = stored_list(run, "references")
        self.metrics = RunMetrics.restored(run.get("metrics"))
        self.started -= earlier_duration(run)  # the run's duration counts what it ran before it paused
        provider_data = run.get("model_provider_data")
        self.provider_data = provider_data if isinstance(provider_data, dict) else None
        self.session_state = run.get("session_state") if isinstance(run.get("session_state"), dict) else None

    def add(self, event: RunEvent) -> RunEvent:
        """Keep ``event`` on the run (content deltas are not kept) and return it."""
        if event.event not in self.unstored:
            self.events.append(event.kept())
        return event

    @property
    def content(self) -> str | None:
        """The answer so far; for a failed or cancelled run without one, the reason."""
        return "".join(self.text) if self.text else self.fallback_content

    def mark_first_token(self) -> None:
        if self.metrics.time_to_first_token is None:
            self.metrics.time_to_first_token = time.perf_counter() - self.started

    def finish(self, status: RunStatus, *, reason: str | None = None) -> None:
        """Set the final status; ``reason`` becomes the content when there is no answer."""
        self.status = status
        self.fallback_content = reason
        self.duration = time.perf_counter() - self.started

    def metrics_dict(self) -> JSON:
        return self.metrics.to_dict(duration=self.duration)

    def to_dict(self, *, stored: bool = False) -> JSON:
        """The ``RunOutput`` dict; ``stored=True`` gives the form written to the session."""
        paused = self.status == "PAUSED"
        output: JSON = {
            "run_id": self.run_id,
            "agent_id": self.agent_id,
            "agent_name": self.agent_name,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "content": self.content,
            "content_type": "str",
            "model_provider_data": self.provider_data or None,
            "model": self.model,
            "model_provider": self.model_provider,
            "metadata": self.metadata,
            "session_state": self.session_state,
            "created_at": self.created_at,
            "status": self.status,
            "metrics": self.metrics_dict(),
            "events": list(self.events),
            "messages": [m for m in self.messages if not (stored and m.get("from_history") and not paused)],
            "tools": list(self.tools),
            "requirements": self.requirements if paused else None,
            "references": list(self.references) or None,
            "input": {"input_content": self.input_content},
        }
        return {key: value for key, value in output.items() if value is not None}
