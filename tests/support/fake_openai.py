"""A local OpenAI-compatible chat-completions server, scripted per test.

``FakeOpenAI`` is a raw ASGI app (no framework, so a benchmark measures the runtime, not the
fake) serving ``POST /v1/chat/completions`` as JSON or SSE (``data: {...}`` frames, a usage
chunk when ``stream_options.include_usage``, then ``data: [DONE]``) and ``GET /v1/models``.
Each request takes the next scripted ``Reply`` (text split in chunks, tool calls whose
arguments arrive in fragments, an error status, a hang, a slow stream) or the default one, and
is recorded so tests can assert the prompt the runtime sent (``received(count)`` waits, without
sleeping, until that many have arrived).

``POST /v1/embeddings`` answers every input with ``fake_embedding`` (of the requested
``dimensions``, else ``embedding_dimensions``), as floats or base64 as asked. It has its own
script (``script_embeddings``: ``EmbeddingReply`` errors, hangs, vectors of the wrong length,
in reverse order or too few; an empty script answers as asked), so a run that searches
knowledge between two chat replies takes nothing from the chat script, and its own record,
``embedding_requests`` (``requests`` keeps only chat requests).

``serve_fake_openai()`` runs it under uvicorn on 127.0.0.1, port 0, in a background thread
(``serve_asgi()`` does the same for any ASGI app); the ``fake_openai`` fixture gives each test
a freshly reset server with ``.base_url`` (``http://127.0.0.1:<port>/v1``). Import the fixtures
into a ``conftest.py`` to use them. ``FakeOpenAI.benchmark()`` is the benchmark's model server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import threading
import time
from array import array
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal, Self

import pytest
import uvicorn

from tests.support.fake_embeddings import fake_embedding

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

BENCHMARK_TEXT = "The quick brown fox jumps over the lazy dog. " * 4
BENCHMARK_CHUNKS = 20
_STREAM_FLAG = re.compile(rb'"stream"\s*:\s*true')
_START_DEADLINE = 10.0
# What OpenAI's endpoint refuses: more inputs than this in one request.
MAX_EMBEDDING_INPUTS = 2048
DEFAULT_EMBEDDING_DIMENSIONS = 1536


@dataclass(frozen=True)
class FakeToolCall:
    name: str
    arguments: str
    id: str = "call_1"


@dataclass(frozen=True, kw_only=True)
class Scripted:
    """What every scripted answer can be: an OpenAI error body with its status, or a hang first."""

    status: int = 200
    error: dict[str, Any] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    hang: float = 0.0
    """Seconds to wait before answering at all (longer than the client timeout = a hang)."""

    @classmethod
    def fail(
        cls,
        status: int,
        message: str,
        *,
        code: str | None = None,
        type: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> Self:
        error = {"message": message, "type": type, "param": None, "code": code}
        return cls(status=status, error=error, headers=tuple((headers or {}).items()))

    @classmethod
    def stall(cls, seconds: float) -> Self:
        return cls(hang=seconds)


@dataclass(frozen=True)
class Reply(Scripted):
    """One scripted chat answer. Build it with the class methods."""

    text: str | None = None
    tool_calls: tuple[FakeToolCall, ...] = ()
    chunks: int = 1
    fragments: int = 1
    usage: tuple[int, int] | None = (10, 5)
    delay: float = 0.0
    """Seconds between streamed chunks (or before a JSON answer)."""
    usage_json: str | None = None
    """The ``usage`` object as raw JSON text, sent instead of ``usage`` (any shape, ``NaN`` included)."""

    @classmethod
    def say(cls, text: str, *, chunks: int = 1, usage: tuple[int, int] | None = (10, 5), delay: float = 0.0) -> Reply:
        return cls(text=text, chunks=chunks, usage=usage, delay=delay)

    @classmethod
    def call(
        cls, *calls: FakeToolCall, fragments: int = 3, usage: tuple[int, int] | None = (10, 5), text: str | None = None
    ) -> Reply:
        return cls(text=text, tool_calls=calls, fragments=fragments, usage=usage)

    @classmethod
    def stall(cls, seconds: float) -> Self:
        # A client still waiting when the hang ends reads this text.
        return replace(super().stall(seconds), text="too late")


@dataclass(frozen=True)
class EmbeddingReply(Scripted):
    """One scripted answer to an embeddings request. Build it with the class methods."""

    dimensions: int | None = None
    """Vectors of this length, whatever was asked (a model that is not the one configured)."""
    reverse: bool = False
    """List the vectors last input first (each with its right ``index``)."""
    count: int | None = None
    """Answer only this many vectors."""

    @classmethod
    def wrong_length(cls, dimensions: int) -> EmbeddingReply:
        return cls(dimensions=dimensions)

    @classmethod
    def reversed(cls) -> EmbeddingReply:
        return cls(reverse=True)

    @classmethod
    def short(cls, count: int) -> EmbeddingReply:
        return cls(count=count)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeOpenAI:
    """The ASGI app: a queue of replies, a default, and the requests received."""

    def __init__(self, *, default: Reply | None = None, record: bool = True, model: str = "fake-model") -> None:
        self.default = default
        self.record = record
        self.model = model
        self.replies: deque[Reply] = deque()
        self.requests: list[RecordedRequest] = []
        self.embedding_replies: deque[EmbeddingReply] = deque()
        self.embedding_requests: list[RecordedRequest] = []
        self.embedding_dimensions = DEFAULT_EMBEDDING_DIMENSIONS
        self._encoded: dict[tuple[Reply, bool], list[bytes]] = {}
        self.closing: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.arrived = threading.Condition()
        """Notified (in the server's thread) as each chat request is recorded."""

    @classmethod
    def benchmark(cls) -> FakeOpenAI:
        """Fixed 20-chunk answer to every request, nothing recorded: minimal per-request cost."""
        return cls(default=Reply.say(BENCHMARK_TEXT, chunks=BENCHMARK_CHUNKS, usage=(20, 20)), record=False)

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        self.replies.extend(replies)

    def script_embeddings(self, *replies: EmbeddingReply) -> None:
        """Queue answers for the next embeddings requests, in order (then: vectors as asked)."""
        self.embedding_replies.extend(replies)

    def reset(self) -> None:
        if self.loop is not None and self.closing is not None:  # hangs hang again after ``close_waits``
            self.loop.call_soon_threadsafe(self.closing.clear)
        self.replies.clear()
        self.requests.clear()
        self.embedding_replies.clear()
        self.embedding_requests.clear()
        self.embedding_dimensions = DEFAULT_EMBEDDING_DIMENSIONS

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        path, method = scope["path"], scope["method"]
        if method == "GET" and path.endswith("/models"):
            await _send(send, 200, _json({"object": "list", "data": [_model_entry(self.model)]}))
            return
        if method == "POST" and path.endswith("/embeddings"):
            await self._serve_embeddings(scope, receive, send)
            return
        if method != "POST" or not path.endswith("/chat/completions"):
            await _send(send, 404, _json({"error": {"message": f"no route {method} {path}", "type": "not_found"}}))
            return
        raw = await _read_body(receive)
        if self.record:
            body = json.loads(raw)
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            with self.arrived:
                self.requests.append(RecordedRequest(path=path, headers=headers, body=body))
                self.arrived.notify_all()
            streaming = bool(body.get("stream"))
        else:
            streaming = _STREAM_FLAG.search(raw) is not None
        reply = self.replies.popleft() if self.replies else self.default
        if reply is None:
            await _send(send, 500, _json({"error": {"message": "fake server: no scripted reply left"}}))
            return
        await self._answer(reply, streaming, send)

    async def _answer(self, reply: Reply, streaming: bool, send: Send) -> None:
        if await self._stalled_or_failed(reply, send):
            return
        if not streaming:
            if reply.delay:
                await self._wait(reply.delay)
            await _send(send, 200, _json(self._completion(reply)))
            return
        frames = self._frames(reply)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
            }
        )
        for frame in frames:
            if reply.delay:
                await self._wait(reply.delay)
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _serve_embeddings(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = json.loads(await _read_body(receive))
        if self.record:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            self.embedding_requests.append(RecordedRequest(path=scope["path"], headers=headers, body=body))
        reply = self.embedding_replies.popleft() if self.embedding_replies else EmbeddingReply()
        if await self._stalled_or_failed(reply, send):
            return
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        problem = _embedding_input_problem(inputs)
        if problem is not None:
            error = {"message": problem, "type": "invalid_request_error", "param": "input", "code": None}
            await _send(send, 400, _json({"error": error}))
            return
        dimensions = reply.dimensions or body.get("dimensions") or self.embedding_dimensions
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(inputs):
            vector = fake_embedding(text, dimensions)
            encoded: Any = base64.b64encode(array("f", vector).tobytes()).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        if reply.count is not None:
            data = data[: reply.count]
        if reply.reverse:
            data.reverse()
        tokens = sum(len(text.split()) for text in inputs)
        answer = {
            "object": "list",
            "data": data,
            "model": body.get("model", self.model),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        await _send(send, 200, _json(answer))

    async def _stalled_or_failed(self, reply: Scripted, send: Send) -> bool:
        """Wait out the reply's hang, then send its error if it has one; whether that answered."""
        if reply.hang:
            await self._wait(reply.hang)
        if reply.error is None:
            return False
        await _send(send, reply.status, _json({"error": reply.error}), extra=reply.headers)
        return True

    async def _serve_lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.closing = asyncio.Event()
                self.loop = asyncio.get_running_loop()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def close_waits(self) -> None:
        """End every pending delay or hang now (thread-safe)."""
        if self.loop is not None and self.closing is not None:
            self.loop.call_soon_threadsafe(self.closing.set)

    async def _wait(self, seconds: float) -> None:
        # Ends early when the server shuts down, so a hung reply never delays teardown.
        if self.closing is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(self.closing.wait(), seconds)
        except TimeoutError:
            pass

    def _completion(self, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in reply.tool_calls
            ]
        finish = "tool_calls" if reply.tool_calls else "stop"
        body: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1700000000,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        }
        usage = _reply_usage(reply)
        if usage is not None:
            body["usage"] = usage
        return body

    def _frames(self, reply: Reply) -> list[bytes]:
        key = (reply, True)
        cached = self._encoded.get(key)
        if cached is None:
            cached = self._encoded[key] = [b"data: " + _json(c) + b"\n\n" for c in self._chunks(reply)] + [
                b"data: [DONE]\n\n"
            ]
        return cached

    def _chunks(self, reply: Reply) -> list[dict[str, Any]]:
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": part} for part in _split(reply.text or "", reply.chunks)]
        for index, call in enumerate(reply.tool_calls):
            head = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            deltas.append({"tool_calls": [head]})
            deltas += [
                {"tool_calls": [{"index": index, "function": {"arguments": part}}]}
                for part in _split(call.arguments, reply.fragments)
            ]
        finish = "tool_calls" if reply.tool_calls else "stop"
        chunks = [self._chunk([{"index": 0, "delta": d, "finish_reason": None}]) for d in deltas]
        chunks.append(self._chunk([{"index": 0, "delta": {}, "finish_reason": finish}]))
        usage = _reply_usage(reply)
        if usage is not None:
            chunks.append({**self._chunk([]), "usage": usage})
        return chunks

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": self.model,
            "choices": choices,
        }


class FakeOpenAIServer:
    """A running fake: its app (to script and inspect) and its base URL."""

    def __init__(self, app: FakeOpenAI, port: int) -> None:
        self.app = app
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def script(self, *replies: Reply) -> None:
        self.app.script(*replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.app.requests

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return self.app.bodies

    def script_embeddings(self, *replies: EmbeddingReply) -> None:
        self.app.script_embeddings(*replies)

    async def received(self, count: int, *, timeout: float = _START_DEADLINE) -> None:
        """Return once ``count`` chat requests have arrived (waiting in a worker thread, so the
        test's event loop, and an app served in it, go on); fail after ``timeout`` seconds."""

        def wait() -> bool:
            with self.app.arrived:
                return self.app.arrived.wait_for(lambda: len(self.app.requests) >= count, timeout)

        arrived = await asyncio.to_thread(wait)
        assert arrived, f"{len(self.app.requests)} of {count} model requests arrived within {timeout:g} s"

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        return self.app.embedding_requests


@contextmanager
def serve_asgi(
    app: Callable[[Scope, Receive, Send], Awaitable[None]],
    *,
    lifespan: Literal["on", "off", "auto"] = "off",
    host: str = "127.0.0.1",
    port: int = 0,
    force_exit: bool = False,
    **config: Any,
) -> Iterator[int]:
    """Run any ASGI ``app`` under uvicorn on ``host`` (IPv4 or IPv6) in a background thread; yields
    its port (``port``, or a free one). ``config``: more ``uvicorn.Config`` fields (TLS files);
    ``force_exit``: stop without waiting for open connections (streams that never end)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    options = uvicorn.Config(app, log_level="warning", lifespan=lifespan, timeout_graceful_shutdown=1, **config)
    server = uvicorn.Server(options)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="asgi-test-server")
    thread.start()
    deadline = time.monotonic() + _START_DEADLINE
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.005)
    try:
        yield port
    finally:
        server.should_exit = True
        server.force_exit = force_exit
        thread.join(timeout=_START_DEADLINE)
        sock.close()


@contextmanager
def serve_fake_openai(app: FakeOpenAI | None = None) -> Iterator[FakeOpenAIServer]:
    """Run ``app`` (a fresh ``FakeOpenAI`` by default) under uvicorn in a background thread."""
    app = app or FakeOpenAI()
    with serve_asgi(app, lifespan="on") as port:
        try:
            yield FakeOpenAIServer(app, port)
        finally:
            app.close_waits()  # end hung replies first, so shutdown does not wait for them


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    with serve_fake_openai() as server:
        yield server


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    """The shared fake server, with an empty script and no recorded requests."""
    fake_openai_server.app.reset()
    fake_openai_server.app.default = None
    yield fake_openai_server
    fake_openai_server.app.reset()


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _send(send: Send, status: int, body: bytes, *, extra: tuple[tuple[str, str], ...] = ()) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _reply_usage(reply: Reply) -> Any:
    if reply.usage_json is not None:
        return json.loads(reply.usage_json)
    return None if reply.usage is None else _usage(reply.usage)


def _usage(usage: tuple[int, int]) -> dict[str, int]:
    prompt, completion = usage
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _embedding_input_problem(inputs: Any) -> str | None:
    """What OpenAI's endpoint would refuse in ``input`` (only lists of texts are served here)."""
    if not isinstance(inputs, list) or not all(isinstance(text, str) for text in inputs):
        return "'$.input' is invalid: send a string or a list of strings"
    if not inputs or len(inputs) > MAX_EMBEDDING_INPUTS:
        return f"'$.input' must hold between 1 and {MAX_EMBEDDING_INPUTS} texts"
    if any(not text for text in inputs):
        return "'$.input' is invalid: an input cannot be an empty string"
    return None


def _model_entry(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 1700000000, "owned_by": "fake"}


def _split(text: str, parts: int) -> list[str]:
    if not text:
        return []
    parts = max(1, min(parts, len(text)))
    size, extra = divmod(len(text), parts)
    pieces, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def main(argv: list[str] | None = None) -> None:
    """Serve the benchmark-mode fake on its own (the kind end-to-end suite's in-cluster model)."""
    import argparse

    parser = argparse.ArgumentParser(description="A local OpenAI-compatible test model server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    uvicorn.run(FakeOpenAI.benchmark(), host=args.host, port=args.port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
