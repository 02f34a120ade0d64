"""Serving ``GET /metrics`` on its own port, from a background thread.

AgentOS's own API has a ``/metrics`` route (usage metrics), so Prometheus's text is served on
a separate port (``AGENTOS_METRICS_PORT``, 9464 by default), which also keeps it off the
Service users call. The server runs in a daemon thread with the standard library's HTTP
server, imported in that thread so start-up does not wait for it. A port that cannot be bound
(in use, or not allowed) is one WARNING line saying so and what to set, and the runtime serves
on without metrics: scraping is not worth an outage of the API.
"""

from __future__ import annotations

import errno
import logging
import threading
from typing import Any

from agentos_runtime.observability.runtime_metrics import RuntimeMetrics

log = logging.getLogger("agentos_runtime.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsServer:
    """``start()`` serves ``metrics`` at ``http://host:port/metrics``; ``stop()`` ends it."""

    def __init__(self, metrics: RuntimeMetrics, *, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self.bound_port: int | None = None
        """The port listened on once bound (``port`` 0 picks a free one)."""
        self.failure: OSError | None = None
        self._ready = threading.Event()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="agentos-metrics", daemon=True)
        self._thread.start()

    def wait_bound(self, timeout: float) -> int:
        """The bound port; raises the bind error, or ``TimeoutError`` if not bound within ``timeout`` s."""
        if not self._ready.wait(timeout):
            raise TimeoutError("the metrics server did not start")
        if self.failure is not None:
            raise self.failure
        assert self.bound_port is not None
        return self.bound_port

    def stop(self) -> None:
        self._ready.wait()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def _serve(self) -> None:
        from http.server import ThreadingHTTPServer

        try:
            server = ThreadingHTTPServer((self.host, self.port), _handler(self.metrics))
        except OSError as error:
            self.failure = error
            log.warning("%s", bind_failure(self.host, self.port, error))
            self._ready.set()
            return
        server.daemon_threads = True
        self._server = server
        self.bound_port = server.server_address[1]
        self._ready.set()
        server.serve_forever()


def bind_failure(host: str, port: int, error: OSError) -> str:
    """The one line saying metrics are off because ``host:port`` could not be bound, and what to do."""
    if error.errno == errno.EADDRINUSE:
        why = f"port {port} on {host} is already in use"
    else:
        why = f"cannot listen on {host}:{port}: {error.strerror or error}"
    return f"metrics are not served ({why}); the API serves on. Set AGENTOS_METRICS_PORT to a free port, or 0 to turn metrics off"


def _handler(metrics: RuntimeMetrics) -> Any:
    from http.server import BaseHTTPRequestHandler

    class MetricsHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._answer(404, b"Not found: metrics are at /metrics\n", "text/plain; charset=utf-8")
                return
            self._answer(200, metrics.render(), CONTENT_TYPE)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes are not logged: one line every few seconds says nothing."""

    return MetricsHandler


def serve_metrics(metrics: RuntimeMetrics, *, host: str, port: int) -> MetricsServer:
    """Start serving ``metrics`` in the background and return the server (to stop it)."""
    server = MetricsServer(metrics, host=host, port=port)
    server.start()
    return server
