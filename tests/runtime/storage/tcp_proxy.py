"""A TCP proxy in front of a test server, to take the server "down" and bring it back.

Stopping closes the listening port and cuts every open connection, which is what a client
sees when its database restarts; starting again listens on the same port. Freezing keeps every
connection open and accepts new ones but forwards nothing until thawed: a database that hangs
(a stuck disk, a network partition) rather than one that is down. The target may be a Unix
socket (``unix_path``: the pgvector test server listens on one only). ``round_trips`` counts the
times a server answered bytes its client had sent since the server last spoke: the round trips
the clients waited for.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, unix_path: str | None = None) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.unix_path = unix_path
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.held = 0
        """How many chunks were read and held back by a freeze (so a test knows a call is waiting)."""
        self.round_trips = 0
        """How many times, on any connection, the server sent bytes after its client had sent some."""

    async def start(self) -> None:
        """Listen (on the port of the previous start, if any) and forward to the target."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut every forwarded connection."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._writers.clear()

    def freeze(self) -> None:
        """Hold every byte in both directions, on open and new connections, until ``thaw``."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Forward again, the held bytes first."""
        self._flowing.set()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            if self.unix_path is not None:
                server_reader, server_writer = await asyncio.open_unix_connection(self.unix_path)
            else:
                server_reader, server_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._forward(client_reader, client_writer, server_reader, server_writer)

    def _forward(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        server_reader: asyncio.StreamReader,
        server_writer: asyncio.StreamWriter,
    ) -> None:
        """Pipe the bytes both ways between a client and its server connection."""
        self._writers.update({client_writer, server_writer})
        exchange = _Exchange()
        for reader, writer, to_server in ((client_reader, server_writer, True), (server_reader, client_writer, False)):
            task = asyncio.create_task(self._pipe(reader, writer, exchange, to_server=to_server))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, exchange: _Exchange, *, to_server: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if not to_server and exchange.asked:
                    self.round_trips += 1
                exchange.asked = to_server
                if not self._flowing.is_set():
                    self.held += 1
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                writer.close()


class _Exchange:
    """One forwarded connection's last direction: whether its client spoke since its server did."""

    asked = False
