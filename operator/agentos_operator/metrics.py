"""The operator's Prometheus metrics, on a registry of their own and a port of their own.

Reconciles by result, how long they take, resources by their ``Ready`` status, and failed API
requests by verb and status code. A fresh ``CollectorRegistry`` per ``Metrics`` (not the
process-global one) keeps two operators in one process, as tests run them, from colliding.

``/metrics`` is served by ``prometheus_client``'s WSGI app on a server of our own, because its
``start_http_server`` gives each connection a thread for as long as the connection stays open:
anyone reaching the port could hold idle connections until the process could start no more
threads. Here a connection that sends nothing for ``IDLE_SECONDS`` is closed, and beyond
``MAX_CONNECTIONS`` at once a new one is closed at once.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

Key = tuple[str, str]
READY_STATES = ("True", "False", "Unknown")
# Reconciles take milliseconds when nothing changed and seconds against a slow API server.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A scrape is one short request; Prometheus's own scrape timeout defaults to 10 s.
IDLE_SECONDS = 10.0
# Scrapers at once (a Prometheus pair, an agent, someone with curl), with room to spare.
MAX_CONNECTIONS = 8


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "agentos_operator_reconciles",
            "Reconciles of AgentOSConfig resources, by how they ended.",
            ["result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "agentos_operator_reconcile_duration_seconds",
            "Time one reconcile took.",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.resources = Gauge(
            "agentos_operator_resources",
            "AgentOSConfig resources by the status of their Ready condition.",
            ["ready"],
            registry=self.registry,
        )
        self.api_errors = Counter(
            "agentos_operator_api_errors",
            "Kubernetes API requests that failed, by verb and HTTP status.",
            ["verb", "code"],
            registry=self.registry,
        )
        self.reconciling = Gauge(
            "agentos_operator_reconciling",
            "1 while this replica reconciles (with leader election: while it holds the Lease), else 0.",
            registry=self.registry,
        )
        self._ready: dict[Key, str] = {}
        self._lock = threading.Lock()
        for state in READY_STATES:
            self.resources.labels(ready=state).set(0)

    def observe_reconcile(self, result: str, seconds: float) -> None:
        self.reconciles.labels(result=result).inc()
        self.duration.observe(seconds)

    def set_ready(self, key: Key, ready: str | None) -> None:
        """Record a resource's Ready status; None forgets a resource that is gone."""
        with self._lock:
            if ready is None:
                self._ready.pop(key, None)
            else:
                self._ready[key] = ready if ready in READY_STATES else "Unknown"
            counts = Tally(self._ready.values())
            for state in READY_STATES:
                self.resources.labels(ready=state).set(counts.get(state, 0))

    def start_reconciling(self) -> None:
        self.reconciling.set(1)

    def stop_reconciling(self) -> None:
        """This replica reconciles no more (it lost the Lease, or stops): it no longer counts resources.

        What it knew goes stale at once (a resource deleted under the next leader would stay
        counted here, and again when this replica leads later), and two replicas both counting
        add up to twice the resources."""
        with self._lock:
            self._ready.clear()
            for state in READY_STATES:
                self.resources.labels(ready=state).set(0)
        self.reconciling.set(0)

    def api_error(self, verb: str, status: int) -> None:
        self.api_errors.labels(verb=verb, code=str(status)).inc()

    def serve(
        self,
        port: int,
        address: str = "0.0.0.0",
        *,
        idle_seconds: float = IDLE_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
    ) -> Callable[[], None]:
        """Serve ``/metrics`` on ``port`` (all interfaces: Prometheus scrapes from outside the pod).

        Runs in a background thread; returns the function that stops it.
        """
        server = _bounded_server(address, port, make_wsgi_app(self.registry), idle_seconds, max_connections)
        thread = threading.Thread(target=server.serve_forever, name="operator-metrics", daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join()

        return stop


def _bounded_server(address: str, port: int, app: Any, idle_seconds: float, max_connections: int) -> Any:
    """A threading WSGI server for ``app``: connections idle for ``idle_seconds`` closed, at most
    ``max_connections`` at once."""
    import socket
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from agentos_runtime.observability.exporting import bounded

    class Handler(WSGIRequestHandler):
        timeout = idle_seconds  # a connection that sends nothing for this long is closed

        def handle(self) -> None:
            try:
                super().handle()
            except TimeoutError:  # wsgiref's handler lets it out: it would be a traceback on stderr
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes are not logged."""

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        address_family = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]

    return make_server(address, port, app, server_class=bounded(Server, max_connections), handler_class=Handler)
