"""The metrics port under clients that connect and hold on: connections are bounded in time and number."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from agentos_runtime.observability.exporting import IDLE_SECONDS, MAX_CONNECTIONS, MetricsServer, serve_metrics
from agentos_runtime.observability.runtime_metrics import RuntimeMetrics

from tests.support.held_connections import (
    CLIENT_WAIT,
    check_one_beyond_the_limit_is_closed_and_the_held_ones_after_their_idle_limit,
    closed_by_server,
    idle_connection,
)


@contextmanager
def served(*, idle_seconds: float = IDLE_SECONDS, max_connections: int = MAX_CONNECTIONS) -> Iterator[MetricsServer]:
    metrics = RuntimeMetrics()
    server = serve_metrics(
        metrics, host="127.0.0.1", port=0, idle_seconds=idle_seconds, max_connections=max_connections
    )
    try:
        server.wait_bound(CLIENT_WAIT)
        yield server
    finally:
        server.stop()


def test_a_connection_that_sends_nothing_more_is_closed_after_the_idle_limit() -> None:
    with served(idle_seconds=0.2) as server, idle_connection(server.bound_port or 0) as connection:
        assert closed_by_server(connection)


def test_connections_beyond_the_limit_are_closed_at_once_and_scrapes_work_again_once_the_others_end() -> None:
    with served(max_connections=2, idle_seconds=2.0) as server:
        port = server.bound_port or 0
        check_one_beyond_the_limit_is_closed_and_the_held_ones_after_their_idle_limit(port, 2)
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=CLIENT_WAIT).status_code == 200
