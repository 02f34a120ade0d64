"""Server-sent events as AgentOS writes them: one ``event: X\\ndata: {json}\\n\\n`` frame per event.

The frames are the engine's own ``RunEvent.to_sse()`` bytes, passed through untouched: no
re-encoding on the hot path. Proxies are told not to buffer, so each token reaches the
client as soon as the model produced it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

from fastapi.responses import StreamingResponse

from agentos_runtime.runs import RunEvent

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def sse_frames(events: AsyncIterator[RunEvent]) -> AsyncIterator[bytes]:
    """Each event's frame; closing this closes the run (a client that left cancels it)."""
    async with aclosing(events) as running:  # type: ignore[type-var]
        async for event in running:
            yield event.to_sse()


def event_stream(events: AsyncIterator[RunEvent]) -> StreamingResponse:
    """``text/event-stream; charset=utf-8``, status 200 even when the run ends in ``RunError``."""
    return StreamingResponse(sse_frames(events), media_type="text/event-stream", headers=STREAM_HEADERS)
