"""The SDK's aiohttp transport under the model adapter: how it is built, that proxies still work
through it, and that an endpoint misbehaving below HTTP ends as the error that says what
happened (the transport reports every failure to connect as a timeout; the adapter does not)."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest
import uvicorn
from agentos_runtime.config import ModelConfig
from agentos_runtime.errors import ModelConnectionError
from agentos_runtime.llm.openai import RETRY_WAIT_SECONDS, OpenAIChatModel, answer_deadline

from tests.runtime.engine.model_servers import self_signed_certificate, serve_fake
from tests.support.fake_openai import FakeOpenAIServer, Reply

HELLO = [{"role": "user", "content": "hi"}]
ANSWER = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-test",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "via the proxy"}, "finish_reason": "stop"}
        ],
    }
).encode()

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head (its body read and dropped); the head's first line is returned."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    await reader.readexactly(length)
    return head.split(b"\r\n")[0]


async def closes_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def closes_unanswered(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.close()


async def resets(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def answers_not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    await writer.drain()
    writer.close()


async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await reader.read()  # until the client gives up and closes


async def cuts_the_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(ANSWER)
    writer.write(head + ANSWER[:20])
    await writer.drain()
    writer.close()


async def trickles_the_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The whole answer in the end, one byte every 0.1 s: each read comes well within the timeout."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(ANSWER))
    for byte in ANSWER:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.1)


@asynccontextmanager
async def served(behaviour: Behaviour) -> AsyncIterator[str]:
    """A server on a free port that treats each connection with ``behaviour``, then closes it."""
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await behaviour(reader, writer)
        finally:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()
        await server.wait_closed()
        await asyncio.gather(*handlers, return_exceptions=True)


async def failure_of(behaviour: Behaviour, *, stream: bool, timeout: float = 30.0) -> ModelConnectionError:
    """The error a model call ends with against ``behaviour``.

    The timeout is long by default, so a loaded machine never turns a close or a reset into a
    timeout; the tests of the timeout itself pass a short one.
    """
    async with served(behaviour) as base_url:
        model = OpenAIChatModel(ModelConfig(id="m", base_url=base_url, max_retries=0, timeout=timeout), api_key="k")
        with pytest.raises(ModelConnectionError) as caught:
            if stream:
                [item async for item in model.stream(HELLO, None)]
            else:
                await model.complete(HELLO, None)
        await model.close()
    return caught.value


async def test_each_endpoint_sends_through_the_sdks_aiohttp_transport_following_no_redirect(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.script(Reply.say("answered"))
    model = OpenAIChatModel(ModelConfig(id="m", base_url=fake_openai.base_url, max_retries=0), api_key="k")

    completion = await model.complete(HELLO, None)
    http_client: Any = model._get_client()._client
    await model.close()

    assert completion.content == "answered"
    assert isinstance(http_client, openai.DefaultAioHttpClient)
    assert http_client.follow_redirects is False
    assert http_client.is_closed, "the last model on the endpoint closes its client"


async def test_idle_connections_are_let_go_before_servers_on_uvicorn_close_them(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("answered"))
    model = OpenAIChatModel(ModelConfig(id="m", base_url=fake_openai.base_url, max_retries=0), api_key="k")

    await model.complete(HELLO, None)
    kept = model._get_client()._client._transport.client.connector._keepalive_timeout
    await model.close()

    # vLLM and llama-cpp-python serve through uvicorn: at the same expiry a request could take a
    # connection in the instant the server closes it.
    assert kept < uvicorn.Config(app=None).timeout_keep_alive


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("behaviour", "said"),
    [
        (closes_at_once, "cannot reach the endpoint: Server disconnected"),
        (closes_unanswered, "cannot reach the endpoint: Server disconnected"),
        (resets, "cannot reach the endpoint: [Errno 104] Connection reset by peer"),
        (answers_not_http, "the endpoint's answer could not be read: Bad status line"),
    ],
    ids=["closes at once", "closes unanswered", "resets", "answers not HTTP"],
)
async def test_an_endpoint_failing_below_http_is_a_connection_error_saying_how_not_a_timeout(
    behaviour: Behaviour, said: str, stream: bool
) -> None:
    error = await failure_of(behaviour, stream=stream)

    assert error.detail.startswith(f"model 'm': {said}")
    assert "in time" not in error.detail and "\n" not in error.detail
    assert error.status_code == 502


@pytest.mark.parametrize("stream", [False, True])
async def test_an_endpoint_that_never_answers_is_a_timeout(stream: bool) -> None:
    error = await failure_of(stalls, stream=stream, timeout=0.5)

    assert error.detail == "model 'm': the endpoint did not answer in time"


async def test_a_json_answer_trickling_in_is_cut_at_its_deadline_though_each_read_is_in_time() -> None:
    # A byte every 0.1 s, each read allowed 2 s (a pause of the machine must not make a read late),
    # the whole answer 4 s: it would take ~17 s.
    error = await failure_of(trickles_the_body, stream=False, timeout=2)

    assert error.detail == "model 'm': the endpoint did not finish its answer within 4s"


def test_the_answer_deadline_counts_every_attempt_and_the_sdks_longest_wait_before_each_retry() -> None:
    from openai import _constants

    assert RETRY_WAIT_SECONDS == _constants.MAX_RETRY_AFTER_DELAY  # noticed when the SDK changes it
    assert answer_deadline(60.0, 0) == 120.0
    assert answer_deadline(60.0, 2) == 120.0 * 3 + RETRY_WAIT_SECONDS * 2


async def test_a_body_cut_short_is_a_connection_error_naming_it() -> None:
    completed = await failure_of(cuts_the_body, stream=False)
    streamed = await failure_of(cuts_the_body, stream=True)

    for error in (completed, streamed):
        assert error.detail.startswith(
            "model 'm': the connection to the endpoint broke off during the answer: Response payload is not completed"
        )


async def test_a_proxy_named_in_the_environment_carries_the_model_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    request_lines: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_lines.append(await read_request(reader))
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(ANSWER)
        writer.write(head + ANSWER)
        await writer.drain()
        writer.close()

    async with served(proxy) as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url.removesuffix("/v1"))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        config = ModelConfig(id="m", base_url="http://models.internal.example:8000/v1", max_retries=0, timeout=30)
        model = OpenAIChatModel(config, api_key="k")
        completion = await model.complete(HELLO, None)
        await model.close()

    assert completion.content == "via the proxy"
    assert request_lines == [b"POST http://models.internal.example:8000/v1/chat/completions HTTP/1.1"]


async def test_an_https_endpoint_is_reached_through_a_connect_proxy_with_its_certificate_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenAI behind a corporate proxy: ``HTTPS_PROXY`` gets a ``CONNECT``, TLS runs end to end."""
    certificate = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.certfile))
    tunnels: list[bytes] = []

    async def connect_proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line = head.split(b"\r\n")[0]
        tunnels.append(request_line)
        host, port = request_line.split()[1].rsplit(b":", 1)
        upstream_reader, upstream_writer = await asyncio.open_connection(host.decode(), int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer), return_exceptions=True)

    with serve_fake(certificate=certificate) as endpoint:
        endpoint.script(Reply.say("through the tunnel", chunks=2))
        async with served(connect_proxy) as proxy_url:
            monkeypatch.setenv("HTTPS_PROXY", proxy_url.removesuffix("/v1"))
            monkeypatch.delenv("NO_PROXY", raising=False)
            monkeypatch.delenv("no_proxy", raising=False)
            model = OpenAIChatModel(
                ModelConfig(id="m", base_url=endpoint.base_url, max_retries=0, timeout=30), api_key="k"
            )
            streamed = [item async for item in model.stream(HELLO, None) if isinstance(item, str)]
            await model.close()

    assert "".join(streamed) == "through the tunnel"
    assert tunnels == [f"CONNECT localhost:{urlsplit(endpoint.base_url).port} HTTP/1.1".encode()]
    assert endpoint.requests[0].headers["authorization"] == "Bearer k"
