"""Team run events with Agno's names and fields, and the stamping of events that nest in another run.

A team's own events are Agno's ``TeamRunEvent`` family (``TeamRunStarted`` ... ``TeamRunCompleted``)
and carry ``team_id, team_name`` where an agent's carry ``agent_id, agent_name``; each is a
``RunEvent``, so it is framed for SSE exactly like an agent's. ``stamped`` adds the fields an
outer run puts on the events of a run nested in it: ``parent_run_id`` for a team member,
``workflow_id, workflow_run_id, step_id, step_name, step_index`` for a workflow step.
"""

from __future__ import annotations

from typing import Any

from agentos_runtime.runs.events import AnswerEventFactory, RunEvent

JSON = dict[str, Any]

# A team's events are named as an agent's with this in front (``AnswerEventFactory.prefix``).
TEAM = "Team"
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


class TeamEventFactory(AnswerEventFactory):
    """Builds the events of one team run: an agent's, named and stamped as a team's."""

    __slots__ = ()
    prefix = TEAM

    def __init__(
        self, *, team_id: str, team_name: str, run_id: str, session_id: str, model: str, model_provider: str
    ) -> None:
        ids = {"team_id": team_id, "team_name": team_name}
        super().__init__(ids, run_id=run_id, session_id=session_id, model=model, model_provider=model_provider)

    def content(self, delta: str) -> RunEvent:
        return self._event(TEAM_RUN_CONTENT, {"content": delta, "content_type": "str"})

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
        # Agno's ``TeamRunCompletedEvent`` orders its fields unlike an agent's: ``session_state`` last.
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
