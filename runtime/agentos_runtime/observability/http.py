"""Counting HTTP requests by route template and status: a plain ASGI wrapper.

It sits inside the routing middlewares, so by the time the app returns, the router has put the
matched route on the request's scope and its template (``/sessions/{session_id}``) names the
series. Unmatched paths share one series, and methods the API does not serve one ``other``
method (the HTTP parser accepts some 35 methods, WebDAV's and RTSP's among them, and a client
naming each at each route would otherwise add a histogram per pair). The cost per request is two clock reads and two
dict updates; a streamed response adds one call per event it sends.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentos_runtime.observability.runtime_metrics import UNMATCHED_ROUTE, RuntimeMetrics

# The status recorded for a request the app returned from without answering: its client went
# away before the request was read (no HTTP status was sent; nginx's code for the case).
CLIENT_CLOSED_REQUEST = 499
# The methods counted under their own name; any other is counted as ``OTHER_METHOD``.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


class RecordRequests:
    """Observe each HTTP request's route, status and duration into ``metrics``."""

    def __init__(self, app: ASGIApp, *, metrics: RuntimeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before starting a response
        answered = False

        async def sending(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, sending)
            if not answered:  # no one to answer: the client went away (nginx's 499)
                status = CLIENT_CLOSED_REQUEST
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            method = scope["method"] if scope["method"] in KNOWN_METHODS else OTHER_METHOD
            self.metrics.observe_request(method, route, status, time.perf_counter() - started)
