"""Server-sent events as AgentOS writes them: one ``event: X\\ndata: {json}\\n\\n`` frame per event.

The frames are the engine's own ``RunEvent.to_sse()`` bytes, passed through untouched: no
re-encoding on the hot path. Proxies are told not to buffer, so each token reaches the
client as soon as the model produced it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing

from fastapi.responses import StreamingResponse
from starlette.types import Send

from agentos_runtime.runs import RunEvent

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# How long a client may read nothing of a stream before it counts as gone.
STALLED_SECONDS = 60.0

log = logging.getLogger(__name__)


class RunStream(StreamingResponse):
    """A run's stream that stops when its client stops reading.

    A frame waits until the client has read the ones before it. A client that reads nothing for
    ``stalled_seconds`` is taken as gone: the run ends as for a client that disconnected
    (recorded CANCELLED with its partial answer, the model no longer asked), instead of staying
    open for as long as the connection does.
    """

    def __init__(
        self, frames: AsyncIterator[bytes], *, stalled_seconds: float = STALLED_SECONDS, follows: bool = False
    ) -> None:
        super().__init__(frames, media_type="text/event-stream", headers=STREAM_HEADERS)
        self.stalled_seconds = stalled_seconds
        self.follows = follows
        """The frames follow a run going on without this client (in the background): only the
        following stops, the run goes on."""

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async with aclosing(self.body_iterator) as frames:  # type: ignore[type-var]
            async for frame in frames:
                try:
                    async with asyncio.timeout(self.stalled_seconds):
                        await send({"type": "http.response.body", "body": frame, "more_body": True})
                except TimeoutError:
                    stopped = "it is no longer followed" if self.follows else "its run is stopped"
                    log.warning("a client read nothing of its stream for %gs: %s", self.stalled_seconds, stopped)
                    break
        # A client still not reading holds only its connection from here, not a run.
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def sse_frames(events: AsyncIterator[RunEvent]) -> AsyncIterator[bytes]:
    """Each event's frame; closing this closes the run (a client that left cancels it)."""
    async with aclosing(events) as running:  # type: ignore[type-var]
        async for event in running:
            yield event.to_sse()


def event_stream(events: AsyncIterator[RunEvent], *, stalled_seconds: float = STALLED_SECONDS) -> StreamingResponse:
    """``text/event-stream; charset=utf-8``, status 200 even when the run ends in ``RunError``."""
    return RunStream(sse_frames(events), stalled_seconds=stalled_seconds)


def follow_stream(frames: AsyncIterator[bytes], *, stalled_seconds: float = STALLED_SECONDS) -> StreamingResponse:
    """Frames of a run going on in the background: a client that leaves or stalls only stops reading."""
    return RunStream(frames, stalled_seconds=stalled_seconds, follows=True)
