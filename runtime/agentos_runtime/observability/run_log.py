"""One log line per ended run, whether or not metrics are kept.

Every run is saved once when it ends (agents, teams and workflows alike), a background run also
once as it starts (``RUNNING``: ``has_ended`` tells it apart, and it is neither logged nor
counted); ``log_run`` reads the run once it is saved and logs its ids, status, duration and
tokens, never its prompt or answer. A completed or cancelled run logs at INFO; a failed one at
WARNING with why it failed: the error type and message of its terminal error event (the same
the client was sent, which never holds a database URL or a key; the log formatter redacts the
process's secrets besides). A run whose save failed ended in error whatever its status, and its
line says so (``unsaved``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from agentos_runtime.observability.runtime_metrics import (
    ERROR_EVENTS,
    model_requests,
    run_component,
    seconds,
    token_count,
)

log = logging.getLogger("agentos_runtime.runs")

JSON = Mapping[str, Any]
# A run saved with one of these has not ended: a background run is stored RUNNING as it starts.
UNENDED_STATUSES = frozenset({"PENDING", "RUNNING"})
# A reason is one line of at most this many characters: an error message may quote a long body.
MAX_REASON_CHARS = 300


def has_ended(run: JSON) -> bool:
    """Whether ``run``, as saved, is its final record (not the one a background run starts with)."""
    return str(run.get("status") or "").upper() not in UNENDED_STATUSES


def is_paused(run: JSON) -> bool:
    """Whether ``run`` is saved waiting for a person's decision (it goes on when continued)."""
    return str(run.get("status") or "").upper() == "PAUSED"


def log_paused(run: JSON) -> None:
    """Log that ``run`` paused, waiting for a decision (its final save logs how it ended)."""
    component, component_id = run_component(run)
    fields = {
        "run_id": run.get("run_id"),
        "session_id": run.get("session_id"),
        "component": component,
        "component_id": component_id,
        "status": "paused",
    }
    log.info("run %s of %s %s paused, waiting for a decision", run.get("run_id"), component, component_id, extra=fields)


def failure_reason(run: JSON) -> tuple[str, str] | None:
    """``(error_type, message)`` of a failed run; ``None`` for any other status."""
    if str(run.get("status") or "").upper() != "ERROR":
        return None
    events = run.get("events")
    for event in reversed(events if isinstance(events, list) else []):
        if isinstance(event, Mapping) and event.get("event") in ERROR_EVENTS:
            message = event.get("content") or event.get("error") or run.get("content")
            return str(event.get("error_type") or "Error"), _one_line(message)
    return "Error", _one_line(run.get("content"))


def _one_line(message: object) -> str:
    text = " ".join(str(message or "no reason was recorded").split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def log_run(run: JSON, *, unsaved: tuple[str, str] | None = None) -> None:
    """Log ``run``: INFO when it completed or was cancelled, WARNING with the reason when it failed.

    ``unsaved``: ``(error_type, message)`` of a save that failed, which then is why the run failed.
    """
    failure = unsaved or failure_reason(run)
    level = logging.INFO if failure is None else logging.WARNING
    if not log.isEnabledFor(level):
        return
    component, component_id = run_component(run)
    status = "error" if unsaved else str(run.get("status") or "UNKNOWN").lower()
    metrics = run.get("metrics")
    duration = seconds(metrics.get("duration")) if isinstance(metrics, Mapping) else None
    input_tokens = output_tokens = 0
    for _model, _provider, numbers in model_requests(run):
        input_tokens += token_count(numbers.get("input_tokens"))
        output_tokens += token_count(numbers.get("output_tokens"))
    fields: dict[str, Any] = {
        "run_id": run.get("run_id"),
        "session_id": run.get("session_id"),
        "component": component,
        "component_id": component_id,
        "status": status,
        "duration": duration,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
    }
    took = f" in {duration:.3f} s" if duration is not None else ""
    if failure is None:
        log.info("run %s of %s %s ended %s%s", run.get("run_id"), component, component_id, status, took, extra=fields)
        return
    error_type, message = failure
    fields |= {"error_type": error_type, "error": message}
    log.warning(
        "run %s of %s %s ended %s%s: %s: %s",
        run.get("run_id"),
        component,
        component_id,
        status,
        took,
        error_type,
        message,
        extra=fields,
    )
