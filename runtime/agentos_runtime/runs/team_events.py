"""Team run events with Agno's names and fields, and the stamping of events that nest in another run.

A team's own events are Agno's ``TeamRunEvent`` family (``TeamRunStarted`` ... ``TeamRunCompleted``)
and carry ``team_id, team_name`` where an agent's carry ``agent_id, agent_name``; each is a
``RunEvent``, so it is framed for SSE exactly like an agent's. ``stamped`` adds the fields an
outer run puts on the events of a run nested in it: ``parent_run_id`` for a team member,
``workflow_id, workflow_run_id, step_id, step_name, step_index`` for a workflow step.
"""

from __future__ import annotations

import time
from typing import Any

from agentos_runtime.runs.events import RunEvent

JSON = dict[str, Any]

TEAM_RUN_STARTED = "TeamRunStarted"
TEAM_RUN_CONTENT = "TeamRunContent"
TEAM_RUN_CONTENT_COMPLETED = "TeamRunContentCompleted"
TEAM_RUN_COMPLETED = "TeamRunCompleted"
TEAM_RUN_ERROR = "TeamRunError"
TEAM_RUN_CANCELLED = "TeamRunCancelled"
TEAM_MODEL_REQUEST_STARTED = "TeamModelRequestStarted"
TEAM_MODEL_REQUEST_COMPLETED = "TeamModelRequestCompleted"
TEAM_TOOL_CALL_STARTED = "TeamToolCallStarted"
TEAM_TOOL_CALL_COMPLETED = "TeamToolCallCompleted"
TEAM_RUN_PAUSED = "TeamRunPaused"
TEAM_RUN_CONTINUED = "TeamRunContinued"

# Agno stores every team event on the run except content deltas.
UNSTORED_TEAM_EVENTS = frozenset({TEAM_RUN_CONTENT})


def stamped(event: RunEvent, fields: JSON) -> RunEvent:
    """``event`` with ``fields`` added (an outer run's ids); fields it already has are kept."""
    data = event.to_dict()
    for key, value in fields.items():
        if data.get(key) is None:
            data[key] = value
    return RunEvent(event.event, data)


class TeamEventFactory:
    """Builds the events of one team run, each stamped with the run's common fields."""

    __slots__ = ("_common", "model", "model_provider")

    def __init__(
        self, *, team_id: str, team_name: str, run_id: str, session_id: str, model: str, model_provider: str
    ) -> None:
        self._common: JSON = {
            "team_id": team_id,
            "team_name": team_name,
            "run_id": run_id,
            "session_id": session_id,
            "nested_depth": 0,
        }
        self.model = model
        self.model_provider = model_provider

    def _event(self, name: str, fields: JSON) -> RunEvent:
        data: JSON = {"created_at": int(time.time()), "event": name, **self._common}
        data.update((key, value) for key, value in fields.items() if value is not None)
        return RunEvent(name, data)

    def run_started(self) -> RunEvent:
        return self._event(TEAM_RUN_STARTED, {"model": self.model, "model_provider": self.model_provider})

    def content(self, delta: str) -> RunEvent:
        return self._event(TEAM_RUN_CONTENT, {"content": delta, "content_type": "str"})

    def model_request_started(self) -> RunEvent:
        return self._event(TEAM_MODEL_REQUEST_STARTED, {"model": self.model, "model_provider": self.model_provider})

    def model_request_completed(self, tokens: JSON, time_to_first_token: float | None) -> RunEvent:
        """``tokens``: ``input_tokens, output_tokens, total_tokens, reasoning_tokens, cache_*``."""
        return self._event(
            TEAM_MODEL_REQUEST_COMPLETED,
            {
                "model": self.model,
                "model_provider": self.model_provider,
                **tokens,
                "time_to_first_token": time_to_first_token,
            },
        )

    def tool_call_started(self, tool: JSON) -> RunEvent:
        return self._event(TEAM_TOOL_CALL_STARTED, {"tool": tool})

    def tool_call_completed(self, tool: JSON, content: str) -> RunEvent:
        return self._event(TEAM_TOOL_CALL_COMPLETED, {"content": content, "tool": tool})

    def content_completed(self) -> RunEvent:
        return self._event(TEAM_RUN_CONTENT_COMPLETED, {})

    def run_completed(
        self,
        *,
        content: str | None,
        provider_data: JSON | None,
        metadata: JSON | None,
        metrics: JSON,
        session_state: JSON | None,
        references: list[JSON] | None = None,
    ) -> RunEvent:
        return self._event(
            TEAM_RUN_COMPLETED,
            {
                "content": content,
                "content_type": "str",
                "model_provider_data": provider_data or None,
                "metadata": metadata,
                "metrics": metrics,
                "session_state": session_state,
                "references": references or None,
            },
        )

    def run_error(self, message: str, *, error_type: str, error_id: str | None) -> RunEvent:
        return self._event(TEAM_RUN_ERROR, {"content": message, "error_type": error_type, "error_id": error_id})

    def run_paused(self, *, content: str | None, tools: list[JSON], requirements: list[JSON]) -> RunEvent:
        """The run waits for a person's decisions (Agno's team ``RunPausedEvent``): ``tools`` are the
        leader's own held calls, ``requirements`` every call waited on, the members' included."""
        return self._event(TEAM_RUN_PAUSED, {"content": content, "tools": tools, "requirements": requirements})

    def run_continued(self) -> RunEvent:
        return self._event(TEAM_RUN_CONTINUED, {})

    def run_cancelled(self, reason: str, *, content: str | None) -> RunEvent:
        return self._event(TEAM_RUN_CANCELLED, {"content": content or reason, "reason": reason})
