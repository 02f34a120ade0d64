"""Every way the transport can fail reaches the operator as a typed, transient ``ApiUnavailableError``.

A local aiohttp server that misbehaves on purpose, below what an API server emulator can do:
connections reset (RST) before or during the answer, bodies cut short (by length or chunked),
bodies that are not JSON or nest absurdly deep, answers that never come or stop coming, bytes
that are not HTTP, and the same faults in an error answer and in a watch stream. Each fault is
checked for its type, its reason, the error hook, and for quoting nothing of what was received.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import kopf
import pytest
from agentos_operator.kube.client import (
    UNAVAILABLE,
    ApiClient,
    ApiError,
    ApiUnavailableError,
    chainable,
    decode_object,
    unavailable_cause,
)
from agentos_operator.kube.kinds import CONFIG_MAP, SECRET
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.test_utils import TestServer

from tests.support.ports import free_port

NAMESPACE = "ns1"
# What a Secret's answer carries: no error may quote any of it.
SECRET_VALUE = "sk-live-0123456789abcdef"
SECRET_BODY = json.dumps(
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "openai"}, "data": {"api-key": SECRET_VALUE}}
).encode()
# The service account's token the client sends: no error may carry it either.
TOKEN = "eyJhbGciOiJSUzI1NiJ9.service-account-token"
# The client's whole budget for one request: short where a test waits for it to run out, and
# long enough elsewhere that no pause of a loaded machine turns a reset or a cut into a timeout
# (the server answers in the test's own event loop, so a pause delays both sides alike).
HASTY = 0.3
PATIENT = 30.0

Behaviour = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Misbehaving:
    """The server, and what it does with the next request (one behaviour for every request)."""

    url: str
    behaviour: Behaviour | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)
    requests: int = 0


def reset(request: web.Request) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0), as a crashed peer or a firewall does."""
    transport = request.transport
    assert transport is not None
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def started(request: web.Request, *, length: int | None, status: int = 200) -> web.StreamResponse:
    """A response whose headers are sent (announcing ``length`` bytes, or chunked when None)."""
    response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
    if length is None:
        response.enable_chunked_encoding()
    else:
        response.content_length = length
    await response.prepare(request)
    return response


@pytest.fixture
async def server() -> AsyncIterator[Misbehaving]:
    state = Misbehaving(url="")

    async def handle(request: web.Request) -> web.StreamResponse:
        state.requests += 1
        assert state.behaviour is not None, "the test set no behaviour"
        return await state.behaviour(request)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    state.url = str(test_server.make_url("")).rstrip("/")
    yield state
    state.release.set()  # stalled handlers return, so the server shuts down at once
    await test_server.close()


@pytest.fixture
def failures() -> list[tuple[str, int]]:
    return []


def client_of(server: Misbehaving, failures: list[tuple[str, int]], *, timeout: float) -> ApiClient:
    return ApiClient(
        lambda: kopf.ConnectionInfo(server=server.url, insecure=True, token=TOKEN),
        timeout=timeout,
        on_error=lambda verb, status: failures.append((verb, status)),
    )


@pytest.fixture
async def api(server: Misbehaving, failures: list[tuple[str, int]]) -> AsyncIterator[ApiClient]:
    client = client_of(server, failures, timeout=PATIENT)
    yield client
    await client.close()


@pytest.fixture
async def hasty_api(server: Misbehaving, failures: list[tuple[str, int]]) -> AsyncIterator[ApiClient]:
    """A client whose requests time out after ``HASTY`` seconds: for the tests of an answer that never comes."""
    client = client_of(server, failures, timeout=HASTY)
    yield client
    await client.close()


def chain(error: BaseException) -> list[BaseException]:
    """``error`` and every exception it carries (cause and context), as a traceback would print them."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def quotes_nothing_received(error: BaseException) -> bool:
    """No exception in the chain holds anything of the answer or the token, in its text or its attributes."""
    for exception in chain(error):
        texts = [str(exception), repr(exception), *(repr(value) for value in vars(exception).values())]
        if any("sk-live" in text or TOKEN in text for text in texts):
            return False
    return True


async def unavailable(
    request: Awaitable[object], *, reason: str, failures: list[tuple[str, int]], verb: str
) -> ApiUnavailableError:
    with pytest.raises(ApiUnavailableError) as raised:
        await request
    error = raised.value
    assert (error.status, error.transient, error.reason) == (UNAVAILABLE, True, reason), str(error)
    assert failures == [(verb, UNAVAILABLE)]
    assert quotes_nothing_received(error)
    return error


async def test_a_connection_reset_before_the_answer_is_a_transient_disconnection(
    server: Misbehaving, api: ApiClient, failures: list[tuple[str, int]]
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        reset(request)
        return web.Response()

    server.behaviour = behaviour

    error = await unavailable(
        api.get(SECRET, NAMESPACE, "openai"), reason="Disconnected", failures=failures, verb="get"
    )

    assert str(error).startswith("get /api/v1/namespaces/ns1/secrets/openai: 0 Disconnected")


async def test_a_connection_reset_halfway_through_the_body_is_an_incomplete_answer(
    server: Misbehaving, api: ApiClient, failures: list[tuple[str, int]]
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        response = await started(request, length=len(SECRET_BODY))
        await response.write(SECRET_BODY[: len(SECRET_BODY) // 2 + 10])
        reset(request)
        return response

    server.behaviour = behaviour

    await unavailable(api.get(SECRET, NAMESPACE, "openai"), reason="IncompleteAnswer", failures=failures, verb="get")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_cut_short_is_an_incomplete_answer_that_quotes_none_of_it(
    server: Misbehaving, api: ApiClient, failures: list[tuple[str, int]], framing: str
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        response = await started(request, length=len(SECRET_BODY) if framing == "content-length" else None)
        await response.write(SECRET_BODY[: len(SECRET_BODY) - 5])
        assert request.transport is not None
        request.transport.close()  # an orderly close (FIN), before the body is complete
        return response

    server.behaviour = behaviour

    await unavailable(api.get(SECRET, NAMESPACE, "openai"), reason="IncompleteAnswer", failures=failures, verb="get")


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"<html><body>502 Bad Gateway sk-live-from-proxy</body></html>", "an HTML page"),
        (b'{"data": {"api-key": "sk-live-0123456789abcdef"', "JSON cut short with a valid length"),
        (b"\xff\xfe sk-live-latin1 \xe9", "bytes that are not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON nested 100,000 levels deep"),
        (b'["sk-live-a-list"]', "JSON that is not an object"),
        (b"", "an empty body"),
    ],
)
async def test_an_answer_that_is_not_a_json_object_is_unreadable_and_quotes_none_of_it(
    server: Misbehaving, api: ApiClient, failures: list[tuple[str, int]], body: bytes, what: str
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    server.behaviour = behaviour

    await unavailable(api.get(SECRET, NAMESPACE, "openai"), reason="UnreadableAnswer", failures=failures, verb="get")


async def test_an_answer_that_never_comes_times_out(
    server: Misbehaving, hasty_api: ApiClient, failures: list[tuple[str, int]]
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        await server.release.wait()
        return web.Response()

    server.behaviour = behaviour

    await unavailable(hasty_api.list(CONFIG_MAP, NAMESPACE), reason="Timeout", failures=failures, verb="list")


async def test_an_answer_that_stops_halfway_times_out(
    server: Misbehaving, hasty_api: ApiClient, failures: list[tuple[str, int]]
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        response = await started(request, length=len(SECRET_BODY))
        await response.write(SECRET_BODY[:20])
        await server.release.wait()
        return response

    server.behaviour = behaviour

    await unavailable(hasty_api.get(SECRET, NAMESPACE, "openai"), reason="Timeout", failures=failures, verb="get")


async def test_an_answer_that_is_not_http_is_a_transient_error(
    server: Misbehaving, api: ApiClient, failures: list[tuple[str, int]]
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.write(b"SSH-2.0-OpenSSH_9.6 sk-live-banner\r\n\r\n")
        request.transport.close()
        return web.Response()

    server.behaviour = behaviour

    await unavailable(api.get(SECRET, NAMESPACE, "openai"), reason="NotHttp", failures=failures, verb="get")


async def test_a_redirect_is_not_followed_but_refused_with_its_status(
    server: Misbehaving, api: ApiClient, failures: list[tuple[str, int]]
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        if request.path == "/elsewhere":
            return web.json_response({"kind": "Secret", "data": {}})
        raise web.HTTPFound("/elsewhere")

    server.behaviour = behaviour

    with pytest.raises(ApiError) as raised:
        await api.get(SECRET, NAMESPACE, "openai")

    assert (raised.value.status, raised.value.transient) == (302, False)
    assert server.requests == 1 and failures == [("get", 302)]


async def test_a_refused_connection_is_a_transient_connection_failure(failures: list[tuple[str, int]]) -> None:
    port = free_port()  # nothing listens there
    client = ApiClient(
        lambda: kopf.ConnectionInfo(server=f"http://127.0.0.1:{port}", insecure=True),
        timeout=PATIENT,
        on_error=lambda verb, status: failures.append((verb, status)),
    )
    try:
        error = await unavailable(
            client.list(CONFIG_MAP, NAMESPACE), reason="ConnectionFailed", failures=failures, verb="list"
        )
    finally:
        await client.close()
    assert "Connection refused" in str(error)


async def test_an_error_answer_cut_short_is_an_incomplete_answer_not_its_status(
    server: Misbehaving, api: ApiClient, failures: list[tuple[str, int]]
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        response = await started(request, length=500, status=422)
        await response.write(b'{"kind": "Status", "message": "data.api-key: sk-live-')
        assert request.transport is not None
        request.transport.close()
        return response

    server.behaviour = behaviour

    await unavailable(api.get(SECRET, NAMESPACE, "openai"), reason="IncompleteAnswer", failures=failures, verb="get")


@pytest.mark.parametrize(
    "body", [b"<html>503 Service Unavailable</html>", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe"]
)
async def test_an_error_answer_whose_body_is_not_a_status_keeps_its_http_status(
    server: Misbehaving, api: ApiClient, failures: list[tuple[str, int]], body: bytes
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, body=body, headers={"Retry-After": "4"})

    server.behaviour = behaviour

    with pytest.raises(ApiError) as raised:
        await api.list(CONFIG_MAP, NAMESPACE)

    error = raised.value
    assert type(error) is ApiError
    assert (error.status, error.reason, error.retry_after, error.transient) == (503, "Service Unavailable", 4.0, True)
    assert failures == [("list", 503)]


async def test_the_client_serves_again_once_the_server_behaves(server: Misbehaving, api: ApiClient) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        reset(request)
        return web.Response()

    async def healthy(request: web.Request) -> web.StreamResponse:
        return web.json_response({"kind": "ConfigMapList", "items": [{"metadata": {"name": "kept"}}]})

    server.behaviour = broken
    with pytest.raises(ApiUnavailableError):
        await api.list(CONFIG_MAP, NAMESPACE)
    server.behaviour = healthy

    assert [item["metadata"]["name"] for item in await api.list(CONFIG_MAP, NAMESPACE)] == ["kept"]


# The watch: a long chunked answer, one JSON event per line.
EVENT = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "openai", "resourceVersion": "7"}}}).encode()


async def watched(api: ApiClient) -> list[dict[str, object]]:
    """The events a metadata watch of Secrets yields before it ends or raises (appended as they come)."""
    events: list[dict[str, object]] = []
    watch = api.watch_metadata(SECRET, NAMESPACE, resource_version="1", timeout_seconds=0)
    async for event in watch:
        events.append(event)
    return events


async def watch_fails(api: ApiClient, *, reason: str, failures: list[tuple[str, int]]) -> list[dict[str, object]]:
    """The events yielded before the watch failed with an ``ApiUnavailableError`` for ``reason``."""
    events: list[dict[str, object]] = []
    with pytest.raises(ApiUnavailableError) as raised:
        async for event in api.watch_metadata(SECRET, NAMESPACE, resource_version="1", timeout_seconds=0):
            events.append(event)
    assert (raised.value.reason, raised.value.transient) == (reason, True)
    assert failures == [("watch", UNAVAILABLE)]
    assert quotes_nothing_received(raised.value)
    return events


async def test_a_watch_cut_short_mid_event_is_an_incomplete_answer_after_the_whole_events(
    server: Misbehaving, api: ApiClient, failures: list[tuple[str, int]]
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        response = await started(request, length=None)
        await response.write(EVENT + b"\n" + b'{"type": "ADDED", "object": {"data": {"api-key": "sk-live-')
        assert request.transport is not None
        request.transport.close()
        return response

    server.behaviour = behaviour

    events = await watch_fails(api, reason="IncompleteAnswer", failures=failures)

    assert events == [json.loads(EVENT)]


async def test_a_watch_reset_mid_stream_is_a_transient_error(
    server: Misbehaving, api: ApiClient, failures: list[tuple[str, int]]
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        response = await started(request, length=None)
        await response.write(EVENT + b"\n")
        reset(request)
        return response

    server.behaviour = behaviour

    await watch_fails(api, reason="IncompleteAnswer", failures=failures)


@pytest.mark.parametrize(
    "line", [b"<html>sk-live-proxy-page</html>", b"[" * 100_000 + b"]" * 100_000, b'{"type": "ADDED", "object": 7}']
)
async def test_a_watch_line_that_is_not_an_event_is_unreadable(
    server: Misbehaving, api: ApiClient, failures: list[tuple[str, int]], line: bytes
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        response = await started(request, length=None)
        await response.write(EVENT + b"\n" + line + b"\n")
        await response.write_eof()
        return response

    server.behaviour = behaviour

    assert await watch_fails(api, reason="UnreadableAnswer", failures=failures) == [json.loads(EVENT)]


async def test_a_watch_that_goes_quiet_past_its_deadline_times_out(
    server: Misbehaving, hasty_api: ApiClient, failures: list[tuple[str, int]]
) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        response = await started(request, length=None)
        await response.write(EVENT + b"\n")
        await server.release.wait()
        return response

    server.behaviour = behaviour

    assert await watch_fails(hasty_api, reason="Timeout", failures=failures) == [json.loads(EVENT)]


async def test_a_watch_the_server_ends_cleanly_just_ends(server: Misbehaving, api: ApiClient) -> None:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        response = await started(request, length=None)
        await response.write(EVENT + b"\n")
        await response.write_eof()
        return response

    server.behaviour = behaviour

    assert await watched(api) == [json.loads(EVENT)]


def test_a_body_is_a_json_object_or_nothing() -> None:
    assert decode_object(b'{"kind": "Status"}') == {"kind": "Status"}
    for body in (b"", b"null", b"[]", b"7", b"{", b"\xff", b"[" * 100_000 + b"]" * 100_000):
        assert decode_object(body) is None


def test_an_error_holding_the_request_headers_is_not_kept_as_a_cause() -> None:
    refused = aiohttp.ClientConnectorError(
        ConnectionKey("10.0.0.1", 443, True, True, None, None, None), ConnectionRefusedError(111, "Connect call failed")
    )
    unparsable = aiohttp.ClientResponseError(None, (), status=400, message="Bad status line")  # type: ignore[arg-type]

    assert chainable(refused) is refused
    assert chainable(aiohttp.ClientPayloadError("cut")) is not None
    assert chainable(unparsable) is None
    assert unavailable_cause(refused) == ("ConnectionFailed", "could not connect: Connection refused")
    assert unavailable_cause(unparsable)[0] == "NotHttp"


async def test_requests_refused_401_together_log_in_again_once_and_both_succeed(server: Misbehaving) -> None:
    """Two requests answered 401 at the same moment (a rotated token): one new login, no session closed under the other."""
    logins: list[int] = []
    waiting: list[asyncio.Future[None]] = []

    def credentials() -> kopf.ConnectionInfo:
        logins.append(len(logins) + 1)
        return kopf.ConnectionInfo(server=server.url, insecure=True, token=f"token-{len(logins)}")

    async def behaviour(request: web.Request) -> web.StreamResponse:
        if request.headers["Authorization"] == "Bearer token-1":
            arrived = asyncio.get_running_loop().create_future()
            waiting.append(arrived)
            if len(waiting) == 2:  # both are in: answer both 401 at once
                for future in waiting:
                    future.set_result(None)
            await arrived
            return web.json_response({"kind": "Status", "code": 401}, status=401)
        return web.json_response({"kind": "ConfigMapList", "items": []})

    server.behaviour = behaviour
    client = ApiClient(credentials, timeout=5)
    try:
        results = await asyncio.gather(client.list(CONFIG_MAP, NAMESPACE), client.list(CONFIG_MAP, "ns2"))
    finally:
        await client.close()

    assert results == [[], []]
    assert logins == [1, 2]
