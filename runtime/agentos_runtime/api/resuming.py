"""``POST .../runs/{run_id}/resume``: the events of a streamed background run after a client's last one.

The frames are AgentOS's, in three cases:

* the run's log is here and the run goes on: ``catch_up`` (when events were missed) and the
  missed frames, ``subscribed``, then the live frames as they come, with a ``: heartbeat``
  comment after each ``HEARTBEAT_SECONDS`` without one, until the run ends;
* the log is here and the run ended: ``replay`` and the frames after ``last_event_index``;
* the log is not here (another replica ran it, or its log was dropped): the stored run's events
  (``replay``; the events stored with an ``event_index`` after ``last_event_index``, and those
  stored without one, e.g. the terminal event, always; a team's or workflow's completed event
  with the nested runs the run holds, as streamed), or only a ``replay`` saying it has no
  events; an ``error`` frame when the run is not stored either (or the session could not be read).

Each frame's event carries ``event_index``, so a client can resume again from the last one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from agentos_runtime.errors import AgentOSError, StorageUnavailable
from agentos_runtime.runs.event_logs import EventLog
from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.team_events import TEAM_RUN_COMPLETED
from agentos_runtime.runs.workflow_events import WORKFLOW_COMPLETED

log_errors = logging.getLogger("agentos_runtime.api")

JSON = dict[str, Any]
# The completed events that carry the runs nested in theirs, as Agno's do: the copy kept with a
# stored run goes without them (``RunEvent.stream_also``), and its replay takes them from the run.
HELD_BY_COMPLETION = {TEAM_RUN_COMPLETED: "member_responses", WORKFLOW_COMPLETED: "step_executor_runs"}
HEARTBEAT_SECONDS = 30.0
HEARTBEAT = b": heartbeat\n\n"
_LIVE = frozenset({"PENDING", "RUNNING"})


def meta_frame(name: str, data: JSON) -> bytes:
    """A meta event (``replay``, ``catch_up``, ``subscribed``, ``error``), encoded as AgentOS encodes them."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def error_frame(message: str) -> bytes:
    return meta_frame("error", {"event": "error", "error": message})


def stored_replay(run: JSON, run_id: str, last_event_index: int | None) -> list[bytes]:
    """The frames replaying a stored run from ``last_event_index`` on: ``replay`` first."""
    floor = -1 if last_event_index is None else last_event_index
    frames: list[bytes] = []
    previous = -1
    for position, stored in enumerate(run.get("events") or []):
        if not isinstance(stored, dict):
            continue
        index = stored.get("event_index")
        if isinstance(index, int) and not isinstance(index, bool):
            previous = max(previous, index)
            if index <= floor:
                continue
        else:  # numbered in order after the one before it; never left out (no floor speaks its number)
            index = previous = max(position, previous + 1)
        data = {**stored, "event_index": index}
        data.setdefault("run_id", run_id)
        held = HELD_BY_COMPLETION.get(str(stored.get("event")))
        if held is not None and held not in data:  # kept without them: the run holds them once
            data[held] = run.get(held) if isinstance(run.get(held), list) else []
        frames.append(RunEvent(str(stored.get("event") or "message"), data).to_sse())
    status = str(run.get("status") or "unknown")
    if not frames and not run.get("events"):
        return [meta_frame("replay", _no_events(run_id, status))]
    if status in _LIVE:
        message = f"Run is {status}: replaying the events stored with it. Poll the run endpoint for its result."
    else:
        message = "Run completed. Replaying stored events from database."
    meta = {"event": "replay", "run_id": run_id, "status": status, "total_events": len(frames), "message": message}
    return [meta_frame("replay", meta), *frames]


def _no_events(run_id: str, status: str) -> JSON:
    if status in _LIVE:
        message = (
            f"Run is {status} and was submitted without streaming, so it has no event stream to attach to. "
            "Poll the run endpoint for its result."
        )
    else:
        message = f"Run {status} with no stored events: a run submitted without streaming keeps only its final output."
    return {"event": "replay", "run_id": run_id, "status": status, "total_events": 0, "message": message}


def ended_replay(log: EventLog, last_event_index: int | None) -> list[bytes]:
    """The frames of an ended run's log after ``last_event_index``: ``replay`` first."""
    missed = log.after(last_event_index)
    meta = {
        "event": "replay",
        "run_id": log.run_id,
        "status": log.status,
        "total_events": len(missed),
        "total_buffered": log.count,
        "last_event_index_requested": -1 if last_event_index is None else last_event_index,
        "message": f"Run {log.status}. Replaying {len(missed)} missed events (of {log.count} total).",
    }
    return [meta_frame("replay", meta), *(frame for _, frame in missed)]


async def follow_live(
    log: EventLog, last_event_index: int | None, kind: str, *, heartbeat_seconds: float = HEARTBEAT_SECONDS
) -> AsyncIterator[bytes]:
    """A going run's log: ``catch_up`` and what was missed, ``subscribed``, then the live frames."""
    missed = log.after(last_event_index)
    last = last_event_index
    if missed:
        yield meta_frame(
            "catch_up",
            {
                "event": "catch_up",
                "run_id": log.run_id,
                "status": "running",
                "missed_events": len(missed),
                "current_event_count": log.count,
                "message": f"Catching up on {len(missed)} missed events.",
            },
        )
        for index, frame in missed:
            last = index
            yield frame
    yield meta_frame(
        "subscribed",
        {
            "event": "subscribed",
            "run_id": log.run_id,
            "status": "running",
            "current_event_count": log.count,
            "message": f"Subscribed to {kind} run. Receiving live events.",
        },
    )
    async for frame in log.follow(last, idle_seconds=heartbeat_seconds, idle_frame=HEARTBEAT):
        yield frame


async def resume_frames(
    run_id: str,
    last_event_index: int | None,
    *,
    kind: str,
    log: EventLog | None,
    stored: Callable[[], Awaitable[JSON | None]] | None,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> AsyncIterator[bytes]:
    """The frames answering a resume: from this process's ``log``, else from the ``stored`` run."""
    if log is not None and log.ended and stored is not None and log.dropped_after(last_event_index):
        log = None  # what the client misses was dropped from the log: the stored run holds all of it
    if log is not None:
        if log.ended:
            for frame in ended_replay(log, last_event_index):
                yield frame
            return
        async for frame in follow_live(log, last_event_index, kind, heartbeat_seconds=heartbeat_seconds):
            yield frame
        return
    run = None
    if stored is not None:
        try:
            run = await stored()
        except StorageUnavailable as error:
            yield error_frame(f"Failed to fetch run from database: {error.detail}")
            return
        except AgentOSError as error:  # a stored record that cannot be read: the stream is answered already
            yield error_frame(error.detail)
            return
        except Exception:
            log_errors.exception("resume of run %s: its stored run could not be read", run_id)
            yield error_frame(f"Run {run_id} could not be read from the database")
            return
    if run is None:
        yield error_frame(f"Run {run_id} not found in buffer or database")
        return
    for frame in stored_replay(run, run_id, last_event_index):
        yield frame
