"""Request shaping before routing: trailing slashes and body size.

Both are plain ASGI wrappers (no per-request objects beyond a closure) so they cost next
to nothing on the run hot path. Agno's clients and UI sometimes add a trailing slash
(``/agents/``); AgentOS strips it before routing instead of redirecting, and so do we.
A body larger than the limit is refused with 413 before the route parses it, saying the limit
and what sets it: ``AGENTOS_MAX_BODY_BYTES`` for every route but the knowledge upload, whose
bodies may be as large as the largest knowledge base's ``max_content_bytes`` allows. A body
whose next bytes do not come within ``BODY_IDLE_SECONDS`` is refused with 408: a client that
sent half a request and stopped holds no request open for good.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentos_runtime.knowledge.reading import format_size

# The longest wait for a request body's next bytes.
BODY_IDLE_SECONDS = 60.0


@dataclass(frozen=True)
class BodyLimit:
    """The most bytes a request body may have, and what sets it (said in the 413)."""

    max_bytes: int
    set_by: str

    @property
    def detail(self) -> str:
        return f"Request body too large: at most {format_size(self.max_bytes)} here ({self.set_by})"


class StripTrailingSlash:
    """``/agents/`` routes as ``/agents``; ``/`` stays as it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                stripped = path.rstrip("/") or "/"
                scope = dict(scope, path=stripped, raw_path=stripped.encode())
        await self.app(scope, receive, send)


class LimitBodySize:
    """Answer 413 ``{"detail": ...}`` for bodies over their limit, declared or streamed: ``paths``
    (by exact path) have their own, every other path ``default``'s."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default: BodyLimit,
        paths: Mapping[str, BodyLimit] | None = None,
        idle_seconds: float = BODY_IDLE_SECONDS,
    ) -> None:
        self.app = app
        self.default = default
        self.paths = dict(paths or {})
        self.idle_seconds = idle_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope["path"], self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit.max_bytes:
            await _send_too_large(send, limit.detail)
            return
        received = 0
        complete = False

        async def counting_receive() -> Message:
            nonlocal received, complete
            if complete:  # waiting for a disconnect, while streaming an answer: no deadline
                return await receive()
            try:
                async with asyncio.timeout(self.idle_seconds):
                    message = await receive()
            except TimeoutError:
                detail = f"Request body incomplete: no bytes came for {self.idle_seconds:g}s; send the whole body"
                raise HTTPException(status_code=408, detail=detail) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > limit.max_bytes:
                    # Raised inside the route's body parsing; the error handlers answer 413.
                    raise HTTPException(status_code=413, detail=limit.detail)
            else:
                complete = True
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_too_large(send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
