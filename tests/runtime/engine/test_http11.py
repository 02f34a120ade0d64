"""The small HTTP/1.1 client of plain-HTTP model endpoints, against hand-written answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from agentos_runtime.llm.http11 import Http11Pool, TransportFailure

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[int, list[int]]]:
    """A TCP server on a free port running ``handler`` per connection; yields (port, connection count)."""
    connections: list[int] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port, connections


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


def keep_answering(*answers: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:
            await read_request(reader)
            writer.write(answer)
            await writer.drain()
        await reader.read()  # until the client closes

    return handler


JSON_ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


async def test_a_json_answer_is_read_and_its_connection_reused() -> None:
    async with serving(keep_answering(JSON_ANSWER, JSON_ANSWER)) as (port, connections):
        pool = Http11Pool("127.0.0.1", port, timeout=2)

        first = await pool.post("/v1/chat/completions", {"Authorization": "Bearer k"}, b"{}")
        assert (first.status, first.headers["content-type"]) == (200, "application/json")
        assert await first.read() == b'{"ok":true}'
        second = await pool.post("/v1/chat/completions", {}, b"{}")
        assert await second.read() == b'{"ok":true}'

        assert len(connections) == 1
        await pool.close()


async def test_a_chunked_stream_is_read_line_by_line_across_chunks() -> None:
    chunks = [b"data: one\r\n\r\nda", b"ta: two\n\n", b"data: [DONE]\n\n"]
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    async with serving(keep_answering(answer)) as (port, _):
        pool = Http11Pool("127.0.0.1", port, timeout=2)

        response = await pool.post("/v1/chat/completions", {}, b"{}")
        lines = [line async for line in response.lines()]
        await response.aclose()

        assert lines == ["data: one", "", "data: two", "", "data: [DONE]", ""]
        await pool.close()


async def test_a_body_ending_with_the_connection_is_read_whole_and_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        await writer.drain()

    async with serving(handler) as (port, connections):
        pool = Http11Pool("127.0.0.1", port, timeout=2)

        assert await (await pool.post("/", {}, b"{}")).read() == b"all of it"
        assert await (await pool.post("/", {}, b"{}")).read() == b"all of it"

        assert len(connections) == 2
        await pool.close()


async def test_an_idle_connection_the_endpoint_closed_is_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(JSON_ANSWER)
        await writer.drain()  # then close at once, as an endpoint's idle timeout would

    async with serving(handler) as (port, connections):
        pool = Http11Pool("127.0.0.1", port, timeout=2)
        assert await (await pool.post("/", {}, b"{}")).read() == b'{"ok":true}'
        await asyncio.sleep(0)  # let the close arrive
        for _ in range(100):
            if len(connections) == 1 and pool._idle and pool._idle[0].closed:
                break
            await asyncio.sleep(0.01)

        assert await (await pool.post("/", {}, b"{}")).read() == b'{"ok":true}'

        assert len(connections) == 2
        await pool.close()


async def test_an_endpoint_that_never_answers_times_out() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with serving(handler) as (port, _):
        pool = Http11Pool("127.0.0.1", port, timeout=0.2)

        with pytest.raises(TransportFailure) as caught:
            await pool.post("/", {}, b"{}")

        assert caught.value.timed_out
        await pool.close()


async def test_a_connection_cut_mid_body_and_a_garbled_answer_are_transport_failures() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    async def garbled(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"this is not HTTP\r\n\r\n")
        await writer.drain()

    for handler in (cut, garbled):
        async with serving(handler) as (port, _):
            pool = Http11Pool("127.0.0.1", port, timeout=2)
            with pytest.raises(TransportFailure) as caught:
                await (await pool.post("/", {}, b"{}")).read()
            assert not caught.value.timed_out
            await pool.close()


async def test_a_closed_port_is_a_transport_failure_naming_the_address() -> None:
    pool = Http11Pool("127.0.0.1", 9, timeout=2)

    with pytest.raises(TransportFailure, match="cannot connect to 127.0.0.1:9"):
        await pool.post("/", {}, b"{}")
