"""The runtime's metrics: what is counted, under which names and labels, and from what.

Requests are counted by route template (``/agents/{agent_id}/runs``, never the raw path, so
ids do not multiply the series). Runs are counted from the run as it is stored: every run is
saved once when it ends (agents, teams and workflows alike), and that record carries its
status and, per model request, the assistant message's duration, time to first token (streamed
requests) and tokens; runs nested in a team or workflow run are walked so every model request
counts once. ``run_log`` logs each run, with or without metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from agentos_runtime.knowledge.metrics import KnowledgeMetrics
from agentos_runtime.observability.instruments import Counter, Histogram, render
from agentos_runtime.tools.mcp.metrics import McpMetrics

JSON = Mapping[str, Any]
UNMATCHED_ROUTE = "<unmatched>"

# Requests are mostly sub-millisecond; streamed runs last seconds.
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Model requests take from tens of milliseconds (a cached answer) to minutes (long generations).
MODEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
# Time to first token: fine where its objectives sit (0.5-3 s), up to reasoning models' minute.
FIRST_TOKEN_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60)
RUN_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
# Where nested runs travel inside a stored team or workflow run.
NESTED_RUN_FIELDS = ("member_responses", "step_executor_runs")


class RuntimeMetrics:
    """Every instrument of one app; ``render()`` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.requests = Counter("agentos_http_requests_total", "HTTP requests answered.", ("method", "route", "status"))
        self.request_seconds = Histogram(
            "agentos_http_request_duration_seconds",
            "Time to answer an HTTP request (a streamed run: until its last event).",
            ("method", "route"),
            REQUEST_BUCKETS,
        )
        self.runs = Counter(
            "agentos_runs_total", "Runs ended, by component and final status.", ("component", "id", "status")
        )
        self.run_seconds = Histogram(
            "agentos_run_duration_seconds", "Duration of ended runs.", ("component", "id"), RUN_BUCKETS
        )
        self.model_seconds = Histogram(
            "agentos_model_request_duration_seconds",
            "Duration of completed model requests.",
            ("model", "provider"),
            MODEL_BUCKETS,
        )
        self.first_token_seconds = Histogram(
            "agentos_model_time_to_first_token_seconds",
            "Time from a streamed model request to its first token.",
            ("model", "provider"),
            FIRST_TOKEN_BUCKETS,
        )
        self.tokens = Counter(
            "agentos_model_tokens_total", "Tokens of completed model requests.", ("model", "provider", "type")
        )
        self.model_errors = Counter(
            "agentos_model_errors_total",
            "Runs a model endpoint failed, by the run's model and why (a fixed set of reasons).",
            ("model", "provider", "reason"),
        )
        self.storage_errors = Counter(
            "agentos_storage_errors_total",
            "Storage operations that failed because the database was unreachable or refused them.",
            ("db_id", "operation"),
        )
        self.mcp = McpMetrics()
        """MCP tool calls and connections (``tools.mcp``)."""
        self.knowledge = KnowledgeMetrics()
        """Knowledge bases: contents, chunks, embedding requests, searches (``knowledge``)."""

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.inc((method, route, str(status)))
        self.request_seconds.observe((method, route), seconds)

    def count_storage_error(self, db_id: str, operation: str) -> None:
        self.storage_errors.inc((db_id, operation))

    def observe_run(self, run: JSON, *, status: str | None = None) -> None:
        """Count a run as it is stored; ``status`` overrides its own (``error``: its save failed)."""
        component, component_id = run_component(run)
        status = status or str(run.get("status") or "UNKNOWN").lower()
        self.runs.inc((component, component_id, status))
        metrics = run.get("metrics")
        duration = seconds(metrics.get("duration")) if isinstance(metrics, Mapping) else None
        if duration is not None:
            self.run_seconds.observe((component, component_id), duration)
        for model, provider, numbers in model_requests(run):
            self._observe_model_request(model, provider, numbers)
        for failure in model_failures(run):
            self.model_errors.inc(failure)

    def _observe_model_request(self, model: str, provider: str, numbers: JSON) -> None:
        labels = (model, provider)
        duration = seconds(numbers.get("duration"))
        if duration is not None:
            self.model_seconds.observe(labels, duration)
        first_token = seconds(numbers.get("time_to_first_token"))
        if first_token is not None:
            self.first_token_seconds.observe(labels, first_token)
        for kind in ("input", "output"):
            count = token_count(numbers.get(f"{kind}_tokens"))
            if count:
                self.tokens.inc((model, provider, kind), count)

    def render(self) -> bytes:
        return render(
            [
                self.requests,
                self.request_seconds,
                self.runs,
                self.run_seconds,
                self.model_seconds,
                self.first_token_seconds,
                self.tokens,
                self.model_errors,
                self.storage_errors,
                *self.mcp.instruments(),
                *self.knowledge.instruments(),
            ]
        )


def run_component(run: JSON) -> tuple[str, str]:
    """``("team", id)``, ``("workflow", id)`` or ``("agent", id)`` for a stored run."""
    for component in ("team", "workflow", "agent"):
        component_id = run.get(f"{component}_id")
        if component_id:
            return component, str(component_id)
    return "unknown", ""


# The ``error_id`` of each model failure a run's error event names (``errors.ModelProviderError``
# and its kinds), and the reason it is counted under: a fixed set, never the error's text.
MODEL_ERROR_REASONS = {
    "model_provider_error": "provider_error",
    "model_rate_limit_error": "rate_limit",
    "model_authentication_error": "authentication",
    "model_connection_error": "connection",
    "context_window_exceeded": "context_window",
}
# The terminal error event of an agent, team or workflow run.
ERROR_EVENTS = ("RunError", "TeamRunError", "WorkflowError")


def model_failures(run: JSON) -> Iterator[tuple[str, str, str]]:
    """``(model, provider, reason)`` of ``run`` and of each run nested in it (a member's, a step's)
    that a model endpoint failed, from its terminal error event (a member's failure may leave its
    team run completed: the leader reads it as a tool's error)."""
    if str(run.get("status") or "").upper() == "ERROR":
        for event in reversed(_items(run.get("events"))):
            if event.get("event") in ERROR_EVENTS:
                reason = MODEL_ERROR_REASONS.get(str(event.get("error_id") or event.get("error_type") or ""))
                if reason is not None:
                    yield str(run.get("model") or ""), str(run.get("model_provider") or ""), reason
                break
    for field in NESTED_RUN_FIELDS:
        for nested in _items(run.get(field)):
            yield from model_failures(nested)


def model_requests(run: JSON) -> Iterator[tuple[str, str, JSON]]:
    """``(model, provider, metrics)`` of each completed model request in ``run`` and the runs nested in it.

    A completed model request is an assistant message of this run (not a history copy) with
    metrics. Whatever in a stored run is not of its shape (a run changed in the database) is
    passed over.
    """
    model, provider = str(run.get("model") or ""), str(run.get("model_provider") or "")
    for message in _items(run.get("messages")):
        metrics = message.get("metrics")
        if message.get("role") == "assistant" and not message.get("from_history") and isinstance(metrics, Mapping):
            yield model, provider, dict(metrics)
    for field in NESTED_RUN_FIELDS:
        for nested in _items(run.get(field)):
            yield from model_requests(nested)


def _items(value: Any) -> list[Mapping[str, Any]]:
    """The mappings of a stored list; none when ``value`` is not a list."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def seconds(value: Any) -> float | None:
    """A stored duration that a histogram can take: a finite, non-negative number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < math.inf:
        return float(value)
    return None


def token_count(value: Any) -> int:
    """A stored token count; 0 when it is not a non-negative whole number."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
