"""A small HTTP/1.1 client for plain-HTTP model endpoints (vLLM, Ollama, llama.cpp in the cluster).

A streamed answer is 20 to 2,000 small chunks, and a general-purpose client spends more CPU
per chunk (async-library detection, cancel shields, byte/text/line iterator layers) than the
rest of the run put together. This one is an ``asyncio.Protocol`` feeding ``httptools``' C
parser: each network read is parsed once and its lines handed over as they complete. It
speaks exactly what the endpoint needs: ``POST`` with a JSON body, keep-alive connections
reused per host, ``Content-Length``, chunked or read-until-close bodies, one timeout for
connecting and for each wait on the server. No TLS, proxies or redirects: endpoints that need
those go through ``httpx2`` (``endpoint``). Failures raise ``TransportFailure``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping

import httptools

# Idle connections kept per endpoint; more concurrent requests open (and then close) extra ones.
MAX_IDLE_CONNECTIONS = 100


class TransportFailure(Exception):
    """No answer could be had: refused, reset, or (``timed_out``) no reply in time."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class _Connection(asyncio.Protocol):
    """One TCP connection; parses one answer at a time into status, headers and body pieces."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._pieces: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._header_name = b""
        self.headers: dict[str, str] = {}
        self.status = 0
        self.headers_done = False
        self.complete = False
        self.closed = False
        self._until_close = False
        self._keep_alive = False
        self._failure: TransportFailure | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(TransportFailure(f"malformed HTTP answer: {error}"))
            self.close()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete:
            if self._until_close and exc is None:
                self.complete = True
            else:
                self._fail(TransportFailure(f"connection closed by the endpoint: {exc or 'end of stream'}"))
        self._wake()

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        if name:
            self._header_name = name
            self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        else:  # a value continued over several reads
            key = self._header_name.decode("latin-1").lower()
            self.headers[key] += value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.headers_done = True
        self._until_close = "content-length" not in self.headers and "chunked" not in self.headers.get(
            "transfer-encoding", ""
        )

    def on_body(self, body: bytes) -> None:
        self._pieces.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        # Read now: once this callback returns the parser has moved on and answers False.
        self._keep_alive = self._parser.should_keep_alive()

    # used by the pool and the answer

    def send(self, request: bytes) -> None:
        assert self._transport is not None
        self._transport.write(request)

    def take(self) -> bytes:
        """Every body piece received so far."""
        pieces, self._pieces = self._pieces, deque()
        return b"".join(pieces)

    def has_body(self) -> bool:
        return bool(self._pieces)

    async def wait(self) -> None:
        """Until more of the answer (or its end, or a failure) arrives; raises the failure."""
        if self._failure is not None:
            raise self._failure
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(self._timeout, self._time_out)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
        if self._failure is not None:
            raise self._failure

    def reusable(self) -> bool:
        return self.complete and self._keep_alive and not self.closed and self._failure is None

    def reset(self) -> None:
        """Ready for the next answer on this connection."""
        self._parser = httptools.HttpResponseParser(self)
        self._pieces.clear()
        self.headers = {}
        self.status = 0
        self.headers_done = self.complete = self._until_close = self._keep_alive = False

    def close(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.close()
        self.closed = True

    def _time_out(self) -> None:
        self._fail(TransportFailure("the endpoint did not answer in time", timed_out=True))
        self.close()
        self._wake()

    def _fail(self, failure: TransportFailure) -> None:
        if self._failure is None:
            self._failure = failure

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Answer:
    """One answer: ``status`` and ``headers`` (names lowercased) known, the body read on demand."""

    def __init__(self, pool: Http11Pool, connection: _Connection) -> None:
        self._pool = pool
        self._connection = connection
        self._released = False
        self.status = connection.status
        self.headers: Mapping[str, str] = connection.headers

    async def read(self) -> bytes:
        """The whole body; the connection goes back to the pool."""
        connection = self._connection
        pieces = []
        while True:
            pieces.append(connection.take())
            if connection.complete:
                break
            await connection.wait()
        await self.aclose()
        return b"".join(pieces)

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines (``\\n`` or ``\\r\\n`` ended) as they arrive, decoded as UTF-8."""
        connection = self._connection
        pending = b""
        while True:
            if connection.has_body():
                pending += connection.take()
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield line.rstrip(b"\r").decode()
            elif connection.complete:
                break
            else:
                await connection.wait()
        if pending:
            yield pending.rstrip(b"\r").decode()

    async def aclose(self) -> None:
        """Done with the answer: a finished one frees its connection for reuse, any other closes it."""
        if not self._released:
            self._released = True
            self._pool.release(self._connection)


class Http11Pool:
    """Keep-alive connections to one ``host:port``."""

    def __init__(self, host: str, port: int, *, timeout: float) -> None:
        self._host = host
        self._port = port
        self._timeout = timeout
        self._idle: list[_Connection] = []
        self._closed = False
        self._host_header = f"{host}:{port}".encode("latin-1")

    async def post(self, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Send the request and wait for the answer's headers."""
        head = b"".join(
            (
                b"POST ",
                path.encode("latin-1"),
                b" HTTP/1.1\r\nHost: ",
                self._host_header,
                b"\r\nContent-Length: ",
                str(len(body)).encode(),
                b"\r\n",
                *(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers.items()),
                b"\r\n",
            )
        )
        connection = await self._connection()
        try:
            connection.send(head + body)
            while not connection.headers_done:
                await connection.wait()
        except BaseException:
            connection.close()
            raise
        return Answer(self, connection)

    def release(self, connection: _Connection) -> None:
        if connection.reusable() and not self._closed and len(self._idle) < MAX_IDLE_CONNECTIONS:
            connection.reset()
            self._idle.append(connection)
        else:
            connection.close()

    async def close(self) -> None:
        """Close the idle connections; those in use close when their answer is done."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:  # the endpoint may have closed it while it was idle
                return connection
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                _, protocol = await loop.create_connection(
                    lambda: _Connection(loop, self._timeout), self._host, self._port
                )
        except TimeoutError as error:
            raise TransportFailure("the endpoint did not accept a connection in time", timed_out=True) from error
        except OSError as error:
            raise TransportFailure(f"cannot connect to {self._host}:{self._port}: {error.strerror or error}") from error
        return protocol
