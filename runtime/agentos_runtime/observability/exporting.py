"""Serving ``GET /metrics`` on its own port, from a background thread.

AgentOS's own API has a ``/metrics`` route (usage metrics), so Prometheus's text is served on
a separate port (``AGENTOS_METRICS_PORT``, 9464 by default), which also keeps it off the
Service users call. The server runs in a daemon thread with the standard library's HTTP
server, imported in that thread so start-up does not wait for it. Each connection has a thread
of its own while it lasts, so connections are bounded: one that sends nothing for
``IDLE_SECONDS`` is closed, and beyond ``MAX_CONNECTIONS`` at once a new one is closed at once
(idle connections held open by anyone who reaches the port would otherwise each keep a thread
forever, until the process can start no more). A port that cannot be bound
(in use, or not allowed) is one WARNING line saying so and what to set, and the runtime serves
on without metrics: scraping is not worth an outage of the API.
"""

from __future__ import annotations

import errno
import logging
import sys
import threading
from typing import Any

from agentos_runtime.observability.runtime_metrics import RuntimeMetrics

log = logging.getLogger("agentos_runtime.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A scrape is one short request; Prometheus's own scrape timeout defaults to 10 s.
IDLE_SECONDS = 10.0
# Scrapers at once (a Prometheus pair, an agent, someone with curl), with room to spare.
MAX_CONNECTIONS = 8


class MetricsServer:
    """``start()`` serves ``metrics`` at ``http://host:port/metrics``; ``stop()`` ends it."""

    def __init__(
        self,
        metrics: RuntimeMetrics,
        *,
        host: str,
        port: int,
        idle_seconds: float = IDLE_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self.idle_seconds = idle_seconds
        self.max_connections = max_connections
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
        try:
            server = _bounded_server(
                self.host, self.port, _handler(self.metrics, self.idle_seconds), self.max_connections
            )
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


def _bounded_server(host: str, port: int, handler: Any, max_connections: int) -> Any:
    """A threading HTTP server serving at most ``max_connections`` connections at once."""
    from http.server import ThreadingHTTPServer

    return bounded(ThreadingHTTPServer, max_connections)((host, port), handler)


def bounded(server_class: type[Any], max_connections: int) -> type[Any]:
    """``server_class`` (a thread-per-connection ``socketserver`` server) holding at most
    ``max_connections`` connections at once: past them a new one is closed at once, without a
    thread. The operator's metrics server is bounded with it too."""
    slots = threading.BoundedSemaphore(max_connections)

    class Bounded(server_class):  # type: ignore[misc]
        def process_request(self, request: Any, client_address: Any) -> None:
            if not slots.acquire(blocking=False):  # no thread for it: closed at once
                self.shutdown_request(request)
                return
            try:
                super().process_request(request, client_address)
            except BaseException:  # no thread started: its slot is free again
                slots.release()
                raise

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                slots.release()  # before the close: a client that sees it closed can connect again
                self.shutdown_request(request)

        def handle_error(self, request: Any, client_address: Any) -> None:
            # socketserver's own writes a traceback to stderr, past the log format and its
            # throttle: anyone reaching the port could flood the log by resetting connections.
            error = sys.exc_info()[1]
            if isinstance(error, ConnectionError | TimeoutError):
                return  # the client went away: nothing to say
            log.warning(
                "metrics server: a request failed: %s", type(error).__name__, exc_info=log.isEnabledFor(logging.DEBUG)
            )

    return Bounded


def _handler(metrics: RuntimeMetrics, idle_seconds: float) -> Any:
    from http.server import BaseHTTPRequestHandler

    class MetricsHandler(BaseHTTPRequestHandler):
        timeout = idle_seconds  # a connection that sends nothing for this long is closed

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


def serve_metrics(
    metrics: RuntimeMetrics,
    *,
    host: str,
    port: int,
    idle_seconds: float = IDLE_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
) -> MetricsServer:
    """Start serving ``metrics`` in the background and return the server (to stop it)."""
    server = MetricsServer(metrics, host=host, port=port, idle_seconds=idle_seconds, max_connections=max_connections)
    server.start()
    return server
