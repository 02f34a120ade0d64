"""A resume of an ended run whose log dropped what the client missed (a log keeps its latest
frames only): the stored run, which holds every event and the whole answer, is replayed instead
of what is left of the log (the client got a silent gap: a long answer's first hundreds of deltas)."""

from __future__ import annotations

from typing import Any

from agentos_runtime.api.resuming import resume_frames
from agentos_runtime.runs.event_logs import EventLog, LogOwner
from agentos_runtime.runs.events import RunEvent

from tests.runtime.api.harness import parse_frames

STORED: dict[str, Any] = {
    "run_id": "r1",
    "status": "COMPLETED",
    "content": "one two three four five",
    "events": [
        {"event": "RunStarted", "event_index": 0},
        {"event": "RunCompleted", "content": "one two three four five"},
    ],
}


def ended_log(words: int, *, max_events: int) -> EventLog:
    log = EventLog("r1", LogOwner("agent", "writer", "s1"), max_events=max_events)
    log.append(RunEvent("RunStarted", {"run_id": "r1"}))
    for word in range(words):
        log.append(RunEvent("RunContent", {"run_id": "r1", "content": f"w{word} "}))
    log.append(RunEvent("RunCompleted", {"run_id": "r1"}))
    log.end("COMPLETED", now=1.0)
    return log


async def resumed(log: EventLog, last_event_index: int | None) -> list[Any]:
    async def stored() -> dict[str, Any]:
        return STORED

    frames = [f async for f in resume_frames("r1", last_event_index, kind="agent", log=log, stored=stored)]
    return parse_frames(b"".join(frames).decode())


async def test_a_resume_missing_frames_the_log_dropped_replays_the_stored_run() -> None:
    frames = await resumed(ended_log(10, max_events=4), None)

    assert frames[0].event == "replay" and frames[0].data["message"].startswith("Run completed. Replaying stored")
    assert [f.event for f in frames[1:]] == ["RunStarted", "RunCompleted"]


async def test_a_resume_after_what_the_log_still_holds_replays_the_log() -> None:
    log = ended_log(10, max_events=4)  # holds indices 8 to 11

    frames = await resumed(log, 7)

    assert frames[0].data["total_buffered"] == 4
    assert [f.data["event_index"] for f in frames[1:]] == [8, 9, 10, 11]
