"""The operator's metrics port under clients that connect and hold on: connections are bounded."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest
from agentos_operator.metrics import IDLE_SECONDS, MAX_CONNECTIONS, Metrics

from tests.operator.kopf.test_running import free_port

# How long a test waits for the server to close a connection (far above the limits it sets).
CLIENT_WAIT = 10.0


@contextmanager
def served(*, idle_seconds: float = IDLE_SECONDS, max_connections: int = MAX_CONNECTIONS) -> Iterator[int]:
    port = free_port()
    stop = Metrics().serve(port, "127.0.0.1", idle_seconds=idle_seconds, max_connections=max_connections)
    try:
        yield port
    finally:
        stop()


def idle_connection(port: int) -> socket.socket:
    """A connection that sent half a request line and then nothing more."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_WAIT)
    connection.sendall(b"GET /metr")
    return connection


def closed_by_server(connection: socket.socket) -> bool:
    """Whether the server closes ``connection`` (without answering) before the client gives up."""
    try:
        return connection.recv(1024) == b""
    except (TimeoutError, ConnectionResetError) as error:
        return isinstance(error, ConnectionResetError)


def test_a_connection_that_sends_nothing_more_is_closed_after_the_idle_limit_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with served(idle_seconds=0.2) as port, idle_connection(port) as connection:
        assert closed_by_server(connection)
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=CLIENT_WAIT).status_code == 200
    assert "Traceback" not in capsys.readouterr().err


def test_connections_beyond_the_limit_are_closed_at_once_and_scrapes_work_again_once_the_others_end() -> None:
    with served(max_connections=2, idle_seconds=2.0) as port, ExitStack() as held:
        holding = [held.enter_context(idle_connection(port)) for _ in range(2)]
        with idle_connection(port) as one_too_many:
            assert closed_by_server(one_too_many)
        assert select.select(holding, [], [], 0) == ([], [], []), "the two held connections are still open"
        assert all(closed_by_server(connection) for connection in holding)  # after their idle limit
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=CLIENT_WAIT)
    assert scraped.status_code == 200 and "agentos_operator_reconciling 0.0" in scraped.text
