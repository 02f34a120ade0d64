"""Run events with Agno's names and fields, and their SSE encoding.

Each event is a dict in the key order of Agno's ``BaseAgentRunEvent`` subclasses
(``created_at, event, agent_id, agent_name, run_id, session_id, nested_depth, ...``) with
top-level ``None`` fields left out, as ``to_dict()`` gives in Agno; nested ``tool`` dicts keep
their ``null``s. ``to_sse()`` is the AgentOS wire frame,
``event: <Name>\\ndata: <compact JSON>\\n\\n``, encoded once per event (always valid UTF-8: a
lone surrogate is sent as its JSON escape).
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from agentos_runtime import jsontext

JSON = dict[str, Any]

RUN_STARTED = "RunStarted"
RUN_CONTENT = "RunContent"
RUN_CONTENT_COMPLETED = "RunContentCompleted"
RUN_COMPLETED = "RunCompleted"
RUN_ERROR = "RunError"
RUN_CANCELLED = "RunCancelled"
RUN_PAUSED = "RunPaused"
RUN_CONTINUED = "RunContinued"
MODEL_REQUEST_STARTED = "ModelRequestStarted"
MODEL_REQUEST_COMPLETED = "ModelRequestCompleted"
TOOL_CALL_STARTED = "ToolCallStarted"
TOOL_CALL_COMPLETED = "ToolCallCompleted"

# Agno stores every event on the run except content deltas (``events_to_skip`` default).
UNSTORED_EVENTS = frozenset({RUN_CONTENT})

# For the rare event holding a lone surrogate (no UTF-8 encoder takes it): JSON's \uXXXX escape.
_encode_escaped = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=str).encode


class RunEvent:
    """One event of a run: ``event`` is its name, ``to_dict()`` its Agno fields."""

    __slots__ = ("_data", "_sse", "_streamed", "event")

    def __init__(self, event: str, data: JSON) -> None:
        self.event = event
        self._data = data
        self._sse: bytes | None = None
        self._streamed: JSON | None = None

    def to_dict(self) -> JSON:
        """The event's fields (a shallow copy; ``event`` repeated inside, ``None`` fields left out)."""
        return {**self._data, **self._streamed} if self._streamed else dict(self._data)

    def stream_also(self, fields: JSON) -> None:
        """Send ``fields`` with the event but keep them out of the run's record: what the stored
        run holds already (a team's ``member_responses``, a workflow's ``step_executor_runs``),
        which Agno's completed events repeat."""
        self._streamed = fields
        self._sse = None

    def kept(self) -> JSON:
        """The event's fields as a run's record keeps them: the event's own dict, not a copy, so
        an ``event_index`` given later (``number``) is stored with the run too."""
        return self._data

    def number(self, index: int) -> None:
        """Give the event its place in a replayable stream: ``event_index`` joins its fields."""
        self._data["event_index"] = index
        self._sse = None

    def to_sse(self) -> bytes:
        """The SSE frame: ``event: <Name>\\ndata: <JSON with separators (",", ":")>\\n\\n``."""
        if self._sse is None:
            fields = {**self._data, **self._streamed} if self._streamed else self._data
            try:
                data = jsontext.dumps_bytes(fields, default=str)
            except UnicodeEncodeError:  # a lone surrogate, from a model's answer or a request: escaped
                data = _encode_escaped(fields).encode()
            self._sse = b"".join((b"event: ", self.event.encode(), b"\ndata: ", data, b"\n\n"))
        return self._sse

    def __repr__(self) -> str:
        return f"RunEvent({self.event!r})"


class AnswerEventFactory:
    """Builds the events of one agent or team run, each stamped with the run's common fields.

    The events both kinds emit alike are built here. A team's are named as an agent's with
    ``Team`` in front (``prefix``: Agno's ``TeamRunEvent`` names, ``TeamRunStarted``) and carry
    ``team_id, team_name`` for ``agent_id, agent_name``; the kinds add the events whose fields
    differ (``content``, ``model_request_completed``, ``run_completed``).
    """

    __slots__ = ("_common", "model", "model_provider")
    prefix: ClassVar[str] = ""

    def __init__(self, ids: JSON, *, run_id: str, session_id: str, model: str, model_provider: str) -> None:
        """``ids``: the component's id and name fields, in Agno's order."""
        self._common: JSON = {**ids, "run_id": run_id, "session_id": session_id, "nested_depth": 0}
        self.model = model
        self.model_provider = model_provider

    def _event(self, name: str, fields: JSON) -> RunEvent:
        data: JSON = {"created_at": int(time.time()), "event": name, **self._common}
        data.update((key, value) for key, value in fields.items() if value is not None)
        return RunEvent(name, data)

    def run_started(self) -> RunEvent:
        return self._event(self.prefix + RUN_STARTED, {"model": self.model, "model_provider": self.model_provider})

    def model_request_started(self) -> RunEvent:
        fields = {"model": self.model, "model_provider": self.model_provider}
        return self._event(self.prefix + MODEL_REQUEST_STARTED, fields)

    def tool_call_started(self, tool: JSON) -> RunEvent:
        return self._event(self.prefix + TOOL_CALL_STARTED, {"tool": tool})

    def tool_call_completed(self, tool: JSON, content: str) -> RunEvent:
        return self._event(self.prefix + TOOL_CALL_COMPLETED, {"content": content, "tool": tool})

    def content_completed(self) -> RunEvent:
        return self._event(self.prefix + RUN_CONTENT_COMPLETED, {})

    def run_error(self, message: str, *, error_type: str, error_id: str | None) -> RunEvent:
        fields = {"content": message, "error_type": error_type, "error_id": error_id}
        return self._event(self.prefix + RUN_ERROR, fields)

    def run_cancelled(self, reason: str, *, content: str | None) -> RunEvent:
        return self._event(self.prefix + RUN_CANCELLED, {"content": content or reason, "reason": reason})

    def run_paused(self, *, content: str | None, tools: list[JSON], requirements: list[JSON]) -> RunEvent:
        """The run waits for a person's decisions (Agno's ``RunPausedEvent``): ``tools`` are the run's
        own held calls, ``requirements`` every call waited on (a team's members' included)."""
        fields = {"content": content, "tools": tools, "requirements": requirements}
        return self._event(self.prefix + RUN_PAUSED, fields)

    def run_continued(self) -> RunEvent:
        return self._event(self.prefix + RUN_CONTINUED, {})


class EventFactory(AnswerEventFactory):
    """Builds the events of one agent run."""

    __slots__ = ()

    def __init__(
        self, *, agent_id: str, agent_name: str, run_id: str, session_id: str, model: str, model_provider: str
    ) -> None:
        ids = {"agent_id": agent_id, "agent_name": agent_name}
        super().__init__(ids, run_id=run_id, session_id=session_id, model=model, model_provider=model_provider)

    def content(self, delta: str) -> RunEvent:
        # Built inline: this is the per-token hot path.
        return RunEvent(
            RUN_CONTENT,
            {
                "created_at": int(time.time()),
                "event": RUN_CONTENT,
                **self._common,
                "content": delta,
                "workflow_agent": False,
                "content_type": "str",
                "reasoning_content": "",
            },
        )

    def model_request_completed(self, tokens: JSON, time_to_first_token: float | None) -> RunEvent:
        """``tokens``: ``input_tokens, output_tokens, total_tokens, reasoning_tokens, cache_*``."""
        return self._event(
            MODEL_REQUEST_COMPLETED,
            {
                "model": self.model,
                "model_provider": self.model_provider,
                "input_tokens": tokens.get("input_tokens"),
                "output_tokens": tokens.get("output_tokens"),
                "total_tokens": tokens.get("total_tokens"),
                "time_to_first_token": time_to_first_token,
                "reasoning_tokens": tokens.get("reasoning_tokens"),
                "cache_read_tokens": tokens.get("cache_read_tokens"),
                "cache_write_tokens": tokens.get("cache_write_tokens"),
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
        return self._event(
            RUN_COMPLETED,
            {
                "content": content,
                "content_type": "str",
                "model_provider_data": provider_data or None,
                "session_state": session_state,
                "metadata": metadata,
                "metrics": metrics,
                "references": references or None,
            },
        )
