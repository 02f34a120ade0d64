"""The metrics port under clients that connect and hold on: connections are bounded in time and number."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from agentos_runtime.observability.exporting import (
    IDLE_SECONDS,
    MAX_CONNECTIONS,
    MetricsServer,
    bounded,
    serve_metrics,
)
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


def test_a_client_resetting_its_connection_writes_nothing_and_another_failure_one_log_line(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # socketserver's own handle_error wrote a raw traceback to stderr, past the JSON log format
    # and its throttle, for every connection a client reset.
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    server = bounded(ThreadingHTTPServer, 1)(("127.0.0.1", 0), BaseHTTPRequestHandler)
    try:
        for error in (ConnectionResetError(104, "Connection reset by peer"), BrokenPipeError(32, "Broken pipe")):
            try:
                raise error
            except OSError:
                server.handle_error(None, ("127.0.0.1", 40000))
        with caplog.at_level(logging.INFO, logger="agentos_runtime.metrics"):
            try:
                raise ValueError("a request line no client sends")
            except ValueError:
                server.handle_error(None, ("127.0.0.1", 40000))
    finally:
        server.server_close()

    assert capsys.readouterr().err == ""
    assert [r.getMessage() for r in caplog.records] == ["metrics server: a request failed: ValueError"]
    assert not caplog.records[0].exc_info, "a traceback only at DEBUG"
