"""Our OpenAI client against the OpenAI SDK it replaces: same requests, same retries, same errors.

``llm.endpoint.Endpoint`` (and ``build_models``' ``OpenAIChatModel`` on top of it) reproduce
what ``openai.AsyncOpenAI`` does on the wire without the SDK on the request path. Each test
here runs one scripted situation through the real SDK client and through ours, against the
same local server, and asserts both behave the same: the SDK is the reference, so a failure
means our client drifted from it (or a new SDK changed its rules: then decide which to follow).

Nothing sleeps for real: the ``waits`` fixture wraps both clients' delay computations (the
SDK's ``_calculate_retry_timeout``, our ``retrying.retry_delay``) to record the wait each
chose and then wait 0 s, with the random jitter of both fixed, so the waits are compared too.
Our endpoint has two transports (``http11`` for plain HTTP, ``httpx2`` for the rest): the
request-level tests run against both.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import httpx2
import openai
import openai._base_client
import pytest
from agentos_runtime.errors import ModelProviderError
from agentos_runtime.llm import endpoint as endpoint_module
from agentos_runtime.llm import retrying
from agentos_runtime.llm.endpoint import Endpoint, StatusFailure
from agentos_runtime.llm.factory import build_models
from agentos_runtime.llm.http11 import TransportFailure
from agentos_runtime.llm.openai import OpenAIChatModel
from agentos_runtime.llm.ports import Completion, Message, ToolCall
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.runtime.engine.fakes import runtime_config
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Receive, Reply, Scope, Send, serve_asgi

KEY = "sk-diff-0123456789abcdef"
MODEL = "gpt-test"
PATH = "/chat/completions"
HELLO: list[Message] = [{"role": "user", "content": "hi"}]
BODY: dict[str, Any] = {"model": MODEL, "messages": HELLO}
ADD_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {"name": "add", "description": "Add.", "parameters": {"type": "object", "properties": {}}},
}
TRANSPORTS = ["http11", "httpx2"]
# The jitter draw both clients get (the SDK's backoff is ``base * (1 - 0.25 * draw)``).
DRAW = 0.5
# Headers that are not the client's semantics and so are left out of the comparison: the
# User-Agent names each client; the SDK's X-Stainless-* headers are its telemetry (platform,
# retry count, read timeout); Host, Content-Length, Connection and Accept-Encoding belong to the
# HTTP transport (our plain-HTTP client keeps connections alive without saying so and asks for
# no compression).
NOT_COMPARED = {"user-agent", "host", "content-length", "connection", "accept-encoding"}


# --- both clients --------------------------------------------------------------------------------


def sdk_http_client() -> httpx2.AsyncClient:
    """The SDK's own default HTTP client (its limits, redirects), without TLS verification.

    Loading the CA bundle costs ~120 ms per client and these servers speak plain HTTP, where
    verification never applies, so the SDK's behaviour is unchanged.
    """
    return openai.DefaultAsyncHttpxClient(verify=False)


def sdk_client(base_url: str, *, max_retries: int = 0, timeout: float = 5.0, **options: Any) -> AsyncOpenAI:
    """The reference client, configured as ours is."""
    return AsyncOpenAI(
        api_key=KEY,
        base_url=base_url,
        max_retries=max_retries,
        timeout=timeout,
        http_client=sdk_http_client(),
        **options,
    )


def our_endpoint(
    base_url: str,
    transport: str,
    *,
    max_retries: int = 0,
    timeout: float = 5.0,
    headers: Mapping[str, str] | None = None,
) -> Endpoint:
    # ``proxied`` sends plain-HTTP requests through ``httpx2`` (with no proxy set, straight to the server).
    return Endpoint(
        base_url=base_url,
        api_key=KEY,
        timeout=timeout,
        max_retries=max_retries,
        headers=headers,
        proxied=transport == "httpx2",
    )


async def sdk_create(client: AsyncOpenAI, **options: Any) -> Any:
    messages = cast("list[ChatCompletionMessageParam]", HELLO)
    return await client.chat.completions.create(model=MODEL, messages=messages, **options)


@dataclass(frozen=True)
class Outcome:
    """How one client's request ended: attempts the server saw, and the final status."""

    attempts: int
    status: int
    """200, the error status, or 0 when no answer could be had."""


async def sdk_outcome(client: AsyncOpenAI, received: Iterator[int]) -> Outcome:
    async with client:
        try:
            await sdk_create(client)
            status = 200
        except openai.APIStatusError as error:
            status = error.status_code
        except openai.APIConnectionError:  # APITimeoutError included
            status = 0
    return Outcome(next(received), status)


async def our_outcome(endpoint: Endpoint, received: Iterator[int]) -> Outcome:
    try:
        await (await endpoint.post(PATH, BODY)).read()
        status = 200
    except StatusFailure as error:
        status = error.status
    except TransportFailure:
        status = 0
    finally:
        await endpoint.close()
    return Outcome(next(received), status)


def request_count(server: FakeOpenAIServer) -> Iterator[int]:
    """Yields the requests received so far each time it is asked (one ``next()`` per client)."""
    while True:
        yield len(server.requests)


def compared_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in headers.items()
        if name not in NOT_COMPARED and not name.startswith("x-stainless-")
    }


# --- recorded waits ------------------------------------------------------------------------------


@dataclass
class Waits:
    """The wait each client chose before each retry, in seconds (recorded, never slept)."""

    sdk: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> Waits:
    recorded = Waits()
    sdk_timeout = AsyncOpenAI._calculate_retry_timeout
    our_delay = retrying.retry_delay

    def sdk_wait(client: AsyncOpenAI, remaining: int, options: Any, headers: httpx2.Headers | None = None) -> float:
        recorded.sdk.append(sdk_timeout(client, remaining, options, headers))
        return 0.0

    def our_wait(retries_done: int, headers: Mapping[str, str] | None, *, now: float, draw: float) -> float:
        recorded.ours.append(our_delay(retries_done, headers, now=now, draw=draw))
        return 0.0

    monkeypatch.setattr(AsyncOpenAI, "_calculate_retry_timeout", sdk_wait)
    monkeypatch.setattr(retrying, "retry_delay", our_wait)
    monkeypatch.setattr(openai._base_client, "random", lambda: DRAW)
    monkeypatch.setattr(endpoint_module, "random", SimpleNamespace(random=lambda: DRAW))
    return recorded


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both clients honour proxy variables; the servers here are local."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


# --- 1. headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("organization", "project"),
    [("org-platform", "proj-agents"), ("org-platform", None), (None, None)],
    ids=["organization-and-project", "organization-only", "neither"],
)
async def test_both_send_the_same_headers_for_the_same_key_organization_and_project(
    fake_openai: FakeOpenAIServer, transport: str, organization: str | None, project: str | None
) -> None:
    fake_openai.script(Reply.say("sdk"), Reply.say("ours"))
    async with sdk_client(fake_openai.base_url, organization=organization, project=project) as client:
        await sdk_create(client)
    endpoint = our_endpoint(
        fake_openai.base_url,
        transport,
        headers={
            name: value
            for name, value in (("OpenAI-Organization", organization), ("OpenAI-Project", project))
            if value is not None
        },
    )
    await (await endpoint.post(PATH, BODY)).read()
    await endpoint.close()

    sdk, ours = (compared_headers(request.headers) for request in fake_openai.requests)
    assert ours == sdk
    assert sdk["authorization"] == f"Bearer {KEY}"
    assert sdk["content-type"] == "application/json"
    assert sdk.get("openai-organization") == organization
    assert sdk.get("openai-project") == project


async def test_both_read_key_organization_project_and_base_url_from_the_same_environment(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("OPENAI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-from-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-from-env")
    fake_openai.script(Reply.say("sdk"), Reply.say("ours"))

    async with AsyncOpenAI(max_retries=0, http_client=sdk_http_client()) as client:  # the rest from the environment
        await sdk_create(client)
    model = build_models(runtime_config(models=[{"id": "main", "model": MODEL}]), dict(os.environ))["main"]
    await model.complete(HELLO, None)
    await model.close()

    sdk, ours = fake_openai.requests
    assert ours.path == sdk.path == "/v1/chat/completions"
    assert compared_headers(ours.headers) == compared_headers(sdk.headers)
    assert sdk.headers["authorization"] == f"Bearer {KEY}"
    assert (sdk.headers["openai-organization"], sdk.headers["openai-project"]) == ("org-from-env", "proj-from-env")
    assert ours.body == sdk.body


# --- 2. base URL and path ------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("prefix", ["/v1", "/v1/", "", "/openai/v1/"])
async def test_both_post_to_the_same_path_with_or_without_a_trailing_slash(
    fake_openai: FakeOpenAIServer, transport: str, prefix: str
) -> None:
    base_url = f"http://127.0.0.1:{fake_openai.port}{prefix}"
    fake_openai.script(Reply.say("sdk"), Reply.say("ours"))

    async with sdk_client(base_url) as client:
        await sdk_create(client)
    endpoint = our_endpoint(base_url, transport)
    await (await endpoint.post(PATH, BODY)).read()
    await endpoint.close()

    sdk, ours = (request.path for request in fake_openai.requests)
    assert ours == sdk == prefix.rstrip("/") + "/chat/completions"


# --- 3. retries ----------------------------------------------------------------------------------


def failing(status: int, **headers: str) -> Reply:
    return Reply.fail(status, f"scripted {status}", type="server_error", headers=headers)


def named_cases(argnames: tuple[str, ...], table: Sequence[tuple[Any, ...]]) -> pytest.MarkDecorator:
    """Parametrize over ``table``, whose rows are ``(test id, *values for argnames)``."""
    return pytest.mark.parametrize(argnames, [row[1:] for row in table], ids=[row[0] for row in table])


RETRY_SITUATIONS: list[tuple[str, list[Reply], int, int]] = [
    # (situation, replies, attempts both make, final status); max_retries=2 so at most 3 attempts.
    ("500 every time", [failing(500)] * 3, 3, 500),
    ("503 then success", [failing(503), Reply.say("ok")], 2, 200),
    ("429 with retry-after-ms", [failing(429, **{"retry-after-ms": "1"})] * 3, 3, 429),
    ("408 request timeout", [failing(408)] * 3, 3, 408),
    ("409 lock timeout", [failing(409)] * 3, 3, 409),
    ("502 twice then success", [failing(502), failing(502), Reply.say("ok")], 3, 200),
    ("503 with x-should-retry false", [failing(503, **{"x-should-retry": "false"})] * 3, 1, 503),
    ("400 with x-should-retry true", [failing(400, **{"x-should-retry": "true"})] * 3, 3, 400),
    ("400 with x-should-retry True (not the literal)", [failing(400, **{"x-should-retry": "True"})] * 3, 1, 400),
    ("429 asking to wait over two minutes", [failing(429, **{"retry-after": "121"})] * 3, 1, 429),
    ("429 asking for an overflowing wait", [failing(429, **{"retry-after-ms": "1e999"})] * 3, 1, 429),
    ("401", [failing(401)] * 3, 1, 401),
    ("400", [failing(400)] * 3, 1, 400),
    ("403", [failing(403)] * 3, 1, 403),
    ("404", [failing(404)] * 3, 1, 404),
    ("422", [failing(422)] * 3, 1, 422),
]


@pytest.mark.parametrize("transport", TRANSPORTS)
@named_cases(("replies", "attempts", "status"), RETRY_SITUATIONS)
async def test_both_retry_the_same_answers_as_often_and_wait_as_long(
    fake_openai: FakeOpenAIServer, waits: Waits, transport: str, replies: list[Reply], attempts: int, status: int
) -> None:
    fake_openai.script(*replies)
    sdk = await sdk_outcome(sdk_client(fake_openai.base_url, max_retries=2), request_count(fake_openai))
    fake_openai.app.reset()
    fake_openai.script(*replies)
    ours = await our_outcome(our_endpoint(fake_openai.base_url, transport, max_retries=2), request_count(fake_openai))

    assert ours == sdk == Outcome(attempts, status)
    assert waits.ours == waits.sdk
    assert len(waits.sdk) == attempts - 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250"}, [0.25, 0.25]),
        ({"retry-after-ms": "250", "retry-after": "9"}, [0.25, 0.25]),
        ({"retry-after": "3"}, [3.0, 3.0]),
        ({"retry-after": "1.5"}, [1.5, 1.5]),
        ({"retry-after": "120"}, [120.0, 120.0]),
        # A wait of 0, an unreadable one or none: the exponential backoff, 0.5 s then 1 s, less the jitter.
        ({"retry-after-ms": "0"}, [0.5 * (1 - 0.25 * DRAW), 1.0 * (1 - 0.25 * DRAW)]),
        ({"retry-after": "soon"}, [0.5 * (1 - 0.25 * DRAW), 1.0 * (1 - 0.25 * DRAW)]),
        ({}, [0.5 * (1 - 0.25 * DRAW), 1.0 * (1 - 0.25 * DRAW)]),
    ],
    ids=["ms", "ms-before-seconds", "seconds", "fractional-seconds", "two-minutes", "zero", "unreadable", "none"],
)
async def test_both_wait_what_the_endpoint_asks_or_back_off_alike(
    fake_openai: FakeOpenAIServer, waits: Waits, headers: dict[str, str], expected: list[float]
) -> None:
    replies = [Reply.fail(429, "Slow down", type="rate_limit_error", headers=headers)] * 2 + [Reply.say("ok")]
    fake_openai.script(*replies)
    sdk = await sdk_outcome(sdk_client(fake_openai.base_url, max_retries=2), request_count(fake_openai))
    fake_openai.app.reset()
    fake_openai.script(*replies)
    ours = await our_outcome(our_endpoint(fake_openai.base_url, "http11", max_retries=2), request_count(fake_openai))

    assert ours == sdk == Outcome(3, 200)
    assert waits.ours == waits.sdk == pytest.approx(expected)


async def test_both_honour_a_retry_after_date(fake_openai: FakeOpenAIServer, waits: Waits) -> None:
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    replies = [Reply.fail(503, "Maintenance", type="server_error", headers={"retry-after": date}), Reply.say("ok")]
    fake_openai.script(*replies)
    sdk = await sdk_outcome(sdk_client(fake_openai.base_url, max_retries=2), request_count(fake_openai))
    fake_openai.app.reset()
    fake_openai.script(*replies)
    ours = await our_outcome(our_endpoint(fake_openai.base_url, "http11", max_retries=2), request_count(fake_openai))

    assert ours == sdk == Outcome(2, 200)
    assert len(waits.sdk) == len(waits.ours) == 1
    assert waits.ours[0] == pytest.approx(waits.sdk[0], abs=0.5)
    assert 28 <= waits.sdk[0] <= 30


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_both_retry_a_hanging_endpoint_as_often_then_give_up(
    fake_openai: FakeOpenAIServer, waits: Waits, transport: str
) -> None:
    fake_openai.script(*[Reply.stall(5)] * 3)
    sdk = await sdk_outcome(sdk_client(fake_openai.base_url, max_retries=2, timeout=0.05), request_count(fake_openai))
    fake_openai.app.reset()
    fake_openai.script(*[Reply.stall(5)] * 3)
    endpoint = our_endpoint(fake_openai.base_url, transport, max_retries=2, timeout=0.05)
    ours = await our_outcome(endpoint, request_count(fake_openai))

    assert ours == sdk == Outcome(3, 0)
    assert waits.ours == waits.sdk == pytest.approx([0.5 * (1 - 0.25 * DRAW), 1.0 * (1 - 0.25 * DRAW)])


@asynccontextmanager
async def dropping_connections() -> AsyncIterator[tuple[str, list[int]]]:
    """A server reading each request and closing the connection without an answer."""
    connections: list[int] = []

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        with suppress(Exception):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
        writer.close()
        with suppress(Exception):
            await writer.wait_closed()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/v1", connections


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_both_retry_a_dropped_connection_as_often_then_give_up(waits: Waits, transport: str) -> None:
    async with dropping_connections() as (base_url, connections):

        def seen() -> Iterator[int]:
            while True:
                yield len(connections)

        sdk = await sdk_outcome(sdk_client(base_url, max_retries=2), seen())
        connections.clear()
        ours = await our_outcome(our_endpoint(base_url, transport, max_retries=2), seen())

    assert ours == sdk == Outcome(3, 0)
    assert waits.ours == waits.sdk


# --- 4. error texts ------------------------------------------------------------------------------


@dataclass
class CannedAnswers:
    """An ASGI app answering each request with the next canned (status, content type, body)."""

    answers: deque[tuple[int, str, bytes]] = field(default_factory=deque)
    base_url: str = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        while (await receive()).get("more_body"):
            pass
        status, content_type, body = self.answers.popleft()
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def canned_server() -> Iterator[CannedAnswers]:
    app = CannedAnswers()

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)

    with serve_asgi(asgi) as port:
        app.base_url = f"http://127.0.0.1:{port}/v1"
        yield app


@pytest.fixture
def canned(canned_server: CannedAnswers) -> CannedAnswers:
    """The canned-answers server with no answer left over from another test."""
    canned_server.answers.clear()
    return canned_server


def error_body(**error: Any) -> bytes:
    return json.dumps({"error": {"type": "invalid_request_error", "param": None, **error}}).encode()


# An error body encoded in ISO-8859-1, as some proxies and older servers send it.
LATIN_1_ERROR = json.dumps({"error": {"message": "Modèle inconnu", "code": "x"}}, ensure_ascii=False).encode("latin-1")

ERROR_ANSWERS: list[tuple[str, int, str, bytes]] = [
    ("message and code", 429, "application/json", error_body(message="Rate limit reached", code="rate_limit_exceeded")),
    (
        "message and null code",
        400,
        "application/json",
        error_body(message="Invalid value for 'temperature'", code=None),
    ),
    ("numeric code", 400, "application/json", error_body(message="Bad", code=1234)),
    ("empty message", 404, "application/json", error_body(message="", code="model_not_found")),
    ("message not a string", 422, "application/json", error_body(message=["a", "b"], code="invalid")),
    ("unicode message", 400, "application/json", error_body(message="Modèle « inconnu » 🚫", code="x")),
    ("no error wrapper", 500, "application/json", b'{"message": "upstream failed", "code": "upstream"}'),
    ("error as a string", 500, "application/json", b'{"error": "something broke"}'),
    ("JSON list", 400, "application/json", b"[1, 2]"),
    ("JSON string", 400, "application/json", b'"oops"'),
    ("HTML page", 502, "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    ("plain text", 503, "text/plain", b"upstream connect error or disconnect/reset before headers"),
    ("empty body", 500, "application/json", b""),
    # The SDK reads the body as text (the charset the Content-Type declares, else UTF-8 with
    # undecodable bytes replaced) before parsing it.
    ("body in its declared charset", 400, "application/json; charset=iso-8859-1", LATIN_1_ERROR),
    ("body that is not UTF-8", 400, "application/json", LATIN_1_ERROR),
    ("JSON with surrounding whitespace", 401, "application/json", b"\n  " + error_body(message="Bad key") + b"\n"),
]


@pytest.mark.parametrize("transport", TRANSPORTS)
@named_cases(("status", "content_type", "body"), ERROR_ANSWERS)
async def test_an_error_answer_reads_as_the_sdk_exception_text_and_code(
    canned: CannedAnswers, transport: str, status: int, content_type: str, body: bytes
) -> None:
    canned.answers.extend([(status, content_type, body)] * 2)

    async with sdk_client(canned.base_url) as client:
        with pytest.raises(openai.APIStatusError) as sdk:
            await sdk_create(client)
    endpoint = our_endpoint(canned.base_url, transport)
    with pytest.raises(StatusFailure) as ours:
        await endpoint.post(PATH, BODY)
    await endpoint.close()

    assert (ours.value.status, ours.value.message, ours.value.code) == (
        sdk.value.status_code,
        str(sdk.value),
        sdk.value.code,
    )
    assert str(ours.value) == sdk.value.message


@pytest.mark.parametrize("status", [400, 404, 409, 429, 500, 503])
async def test_our_model_error_repeats_the_sdk_exception_text(canned: CannedAnswers, status: int) -> None:
    body = error_body(message=f"Scripted failure {status}", code="scripted")
    canned.answers.extend([(status, "application/json", body)] * 2)
    async with sdk_client(canned.base_url) as client:
        with pytest.raises(openai.APIStatusError) as sdk:
            await sdk_create(client)
    model = OpenAIChatModel(
        runtime_config(models=[{"id": "m", "base_url": canned.base_url, "max_retries": 0}]).models[0], api_key=KEY
    )

    with pytest.raises(ModelProviderError) as ours:
        await model.complete(HELLO, None)
    await model.close()

    assert ours.value.status_code == status
    assert str(sdk.value) in ours.value.detail


# --- 5. answers ----------------------------------------------------------------------------------


def chat_model(server: FakeOpenAIServer) -> OpenAIChatModel:
    config = runtime_config(models=[{"id": "m", "model": MODEL, "base_url": server.base_url, "max_retries": 0}])
    model = build_models(config, {"OPENAI_API_KEY": KEY})["m"]
    assert isinstance(model, OpenAIChatModel)
    return model


ANSWERS = {
    "text": Reply.say("The quick brown fox jumps over the lazy dog.", chunks=5, usage=(21, 9)),
    "tool calls": Reply.call(
        FakeToolCall("add", '{"a": 2, "b": 3}', id="call_a"),
        FakeToolCall("add", '{"a": 10, "b": -4}', id="call_b"),
        fragments=4,
        usage=(30, 12),
    ),
    "text and a tool call": Reply.call(FakeToolCall("add", '{"a": 1}', id="call_c"), text="Adding.", usage=(5, 6)),
}


@pytest.mark.parametrize("reply", list(ANSWERS.values()), ids=list(ANSWERS))
async def test_a_json_completion_gives_the_same_content_tool_calls_and_usage(
    fake_openai: FakeOpenAIServer, reply: Reply
) -> None:
    fake_openai.script(reply, reply)
    async with sdk_client(fake_openai.base_url) as client:
        sdk = await sdk_create(client, tools=[ADD_TOOL])
    model = chat_model(fake_openai)
    ours = await model.complete(HELLO, [ADD_TOOL])
    await model.close()

    message = sdk.choices[0].message
    assert ours.content == message.content
    assert ours.tool_calls == [
        ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
        for call in message.tool_calls or []
    ]
    assert ours.usage is not None
    usage = (ours.usage.input_tokens, ours.usage.output_tokens, ours.usage.total_tokens)
    assert usage == (sdk.usage.prompt_tokens, sdk.usage.completion_tokens, sdk.usage.total_tokens)
    sdk_body, our_body = fake_openai.bodies
    assert our_body == sdk_body


@pytest.mark.parametrize("reply", list(ANSWERS.values()), ids=list(ANSWERS))
async def test_a_stream_gives_the_same_deltas_tool_calls_and_usage(fake_openai: FakeOpenAIServer, reply: Reply) -> None:
    fake_openai.script(reply, reply)
    sdk_deltas: list[str] = []
    sdk_calls: dict[int, dict[str, str]] = {}
    sdk_usage: tuple[int, int, int] | None = None
    async with sdk_client(fake_openai.base_url) as client:
        stream = await sdk_create(client, tools=[ADD_TOOL], stream=True, stream_options={"include_usage": True})
        async for chunk in stream:
            if chunk.usage is not None:
                sdk_usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens, chunk.usage.total_tokens)
            for choice in chunk.choices:
                if choice.delta.content:
                    sdk_deltas.append(choice.delta.content)
                for call in choice.delta.tool_calls or []:
                    entry = sdk_calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    entry["id"] += call.id or ""
                    if call.function is not None:
                        entry["name"] += call.function.name or ""
                        entry["arguments"] += call.function.arguments or ""
    model = chat_model(fake_openai)
    our_deltas: list[str] = []
    final: Completion | None = None
    async for item in model.stream(HELLO, [ADD_TOOL]):
        if isinstance(item, Completion):
            final = item
        else:
            our_deltas.append(item)
    await model.close()

    assert final is not None and final.usage is not None
    assert our_deltas == sdk_deltas
    assert final.content == ("".join(sdk_deltas) or None)
    assert final.tool_calls == [ToolCall(**sdk_calls[index]) for index in sorted(sdk_calls)]
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.total_tokens) == sdk_usage
    sdk_body, our_body = fake_openai.bodies
    assert our_body == sdk_body
