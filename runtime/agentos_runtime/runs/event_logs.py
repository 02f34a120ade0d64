"""The events of runs going on in the background, numbered, for clients that come back.

A run started in the background with ``stream=true`` writes each event to its ``EventLog``: the
event gets its ``event_index`` (0, 1, 2, ... in the order the run yields them) and its frame is
kept. The client that started the run follows the log, and so does any client that resumes the
stream (``POST .../runs/{run_id}/resume``) with the last index it received: it gets the frames
after that one, then the live ones, until the run ends. A client that goes away only stops
following; the run goes on.

The logs live in this process only (a resume on another replica reads the stored run instead),
and are bounded: a log keeps its latest ``MAX_EVENTS`` frames and ``MAX_BYTES`` bytes (older
ones are dropped, so a client far behind a run going on gets what is left, with a gap in the indices;
once the run ended such a resume replays the stored run instead), and an
ended run's log is dropped ``RETAIN_SECONDS`` after it ended, or sooner when more than
``MAX_ENDED`` ended logs are kept.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from agentos_runtime.runs.events import RunEvent

# A run's frames kept for a client that comes back: content deltas make most of them (Agno
# keeps 10,000 events a run); the byte bound is what holds the memory.
MAX_EVENTS = 10_000
MAX_BYTES = 2 << 20
# How long, and how many, ended runs' logs are kept for a late resume; older ones are dropped
# (a resume then replays the stored run).
RETAIN_SECONDS = 600.0
MAX_ENDED = 64


@dataclass(frozen=True, slots=True)
class LogOwner:
    """Whose run a log holds: the component running it and its session."""

    kind: str
    component_id: str
    session_id: str


class EventLog:
    """One background run's numbered frames, and who is waiting for the next one."""

    def __init__(self, run_id: str, owner: LogOwner, *, max_events: int = MAX_EVENTS, max_bytes: int = MAX_BYTES):
        self.run_id = run_id
        self.owner = owner
        self.status = "RUNNING"
        """``RUNNING`` until the run ends, then its final status."""
        self.ended_at: float | None = None
        self._frames: deque[tuple[int, bytes]] = deque()
        self._bytes = 0
        self._next = 0
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._changed = asyncio.Event()

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def count(self) -> int:
        """How many frames are kept."""
        return len(self._frames)

    def append(self, event: RunEvent) -> bytes:
        """Number ``event``, keep its frame and wake the followers; the frame."""
        event.number(self._next)
        frame = event.to_sse()
        self._frames.append((self._next, frame))
        self._next += 1
        self._bytes += len(frame)
        while len(self._frames) > 1 and (len(self._frames) > self._max_events or self._bytes > self._max_bytes):
            self._bytes -= len(self._frames.popleft()[1])
        self._wake()
        return frame

    def end(self, status: str, *, now: float) -> None:
        """The run ended with ``status``: followers get what is left, then stop."""
        self.status = status
        self.ended_at = now
        self._wake()

    def dropped_after(self, last_index: int | None) -> bool:
        """Whether frames after ``last_index`` were dropped already (the log's bounds): a client
        resuming from there would get a gap."""
        first = self._frames[0][0] if self._frames else self._next
        return first > (-1 if last_index is None else last_index) + 1

    def after(self, last_index: int | None) -> list[tuple[int, bytes]]:
        """The frames kept after ``last_index`` (all of them for ``None``), oldest first."""
        if last_index is None:
            return list(self._frames)
        return [(index, frame) for index, frame in self._frames if index > last_index]

    async def follow(self, last_index: int | None, *, idle_seconds: float, idle_frame: bytes) -> AsyncIterator[bytes]:
        """The frames after ``last_index``, then each new one as it comes, until the run ended.

        ``idle_frame`` (an SSE comment) is sent whenever nothing came for ``idle_seconds``.
        """
        last = -1 if last_index is None else last_index
        while True:
            changed = self._changed
            for index, frame in self.after(last):
                last = index
                yield frame
            if self.ended:
                return
            try:
                async with asyncio.timeout(idle_seconds):
                    await changed.wait()
            except TimeoutError:
                yield idle_frame

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


class EventLogs:
    """The logs of this process's background runs, by run id; ended ones dropped in time."""

    def __init__(
        self,
        *,
        retain_seconds: float = RETAIN_SECONDS,
        max_ended: int = MAX_ENDED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logs: dict[str, EventLog] = {}
        self._ended: OrderedDict[str, float] = OrderedDict()
        self.retain_seconds = retain_seconds
        self.max_ended = max_ended
        self.clock = clock

    def open(self, run_id: str, owner: LogOwner) -> EventLog:
        self._prune()
        log = EventLog(run_id, owner)
        self._logs[run_id] = log
        return log

    def close(self, log: EventLog, status: str) -> None:
        """``log``'s run ended with ``status``; the log is kept a while for late resumes."""
        log.end(status, now=self.clock())
        self._ended[log.run_id] = self.clock()
        self._prune()

    def discard(self, run_id: str) -> None:
        """Forget the ended log of ``run_id`` (its run goes on again: a continue); a live one stays."""
        log = self._logs.get(run_id)
        if log is not None and log.ended:
            del self._logs[run_id]
            self._ended.pop(run_id, None)

    def get(self, run_id: str) -> EventLog | None:
        self._prune()
        return self._logs.get(run_id)

    def _prune(self) -> None:
        oldest = self.clock() - self.retain_seconds
        while self._ended:
            run_id, ended_at = next(iter(self._ended.items()))
            if ended_at > oldest and len(self._ended) <= self.max_ended:
                break
            del self._ended[run_id]
            self._logs.pop(run_id, None)
