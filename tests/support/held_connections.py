"""Clients that connect to a metrics port and hold on: what the bounded servers must withstand.

Both metrics servers (the runtime's and the operator's) close a connection idle past their limit
and close at once any connection beyond their number; the tests of each speak through these.
"""

from __future__ import annotations

import select
import socket
from contextlib import ExitStack

# How long a test waits for the server to close a connection (far above the limits it sets).
CLIENT_WAIT = 10.0


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


def check_one_beyond_the_limit_is_closed_and_the_held_ones_after_their_idle_limit(port: int, limit: int) -> None:
    """Hold ``limit`` idle connections, open one more, and check which the server closes when.

    The extra one must be closed at once while the held ones stay open; the held ones are then
    closed by the idle limit the server was started with. Raises AssertionError saying which failed.
    """
    with ExitStack() as held:
        holding = [held.enter_context(idle_connection(port)) for _ in range(limit)]
        with idle_connection(port) as one_too_many:
            assert closed_by_server(one_too_many), "the connection beyond the limit was left open"
        assert select.select(holding, [], [], 0) == ([], [], []), "a held connection closed with the extra one"
        assert all(closed_by_server(connection) for connection in holding), "a held connection outlived its idle limit"
