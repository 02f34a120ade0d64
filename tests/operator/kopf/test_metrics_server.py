"""The operator's metrics port under clients that connect and hold on: connections are bounded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from agentos_operator.metrics import IDLE_SECONDS, MAX_CONNECTIONS, Metrics

from tests.support.held_connections import (
    CLIENT_WAIT,
    check_one_beyond_the_limit_is_closed_and_the_held_ones_after_their_idle_limit,
    closed_by_server,
    idle_connection,
)
from tests.support.ports import free_port


@contextmanager
def served(*, idle_seconds: float = IDLE_SECONDS, max_connections: int = MAX_CONNECTIONS) -> Iterator[int]:
    port = free_port()
    stop = Metrics().serve(port, "127.0.0.1", idle_seconds=idle_seconds, max_connections=max_connections)
    try:
        yield port
    finally:
        stop()


def test_a_connection_that_sends_nothing_more_is_closed_after_the_idle_limit_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with served(idle_seconds=0.2) as port, idle_connection(port) as connection:
        assert closed_by_server(connection)
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=CLIENT_WAIT).status_code == 200
    assert "Traceback" not in capsys.readouterr().err


def test_connections_beyond_the_limit_are_closed_at_once_and_scrapes_work_again_once_the_others_end() -> None:
    with served(max_connections=2, idle_seconds=2.0) as port:
        check_one_beyond_the_limit_is_closed_and_the_held_ones_after_their_idle_limit(port, 2)
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=CLIENT_WAIT)
    assert scraped.status_code == 200 and "agentos_operator_reconciling 0.0" in scraped.text
