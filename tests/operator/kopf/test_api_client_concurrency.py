"""Requests under way at once are bounded (each holds a connection and its TLS buffer); watches are
not, and never leave a request without a connection, however many namespaces are watched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import kopf
import pytest
from agentos_operator.kube.client import MAX_REQUESTS, ApiClient
from agentos_operator.kube.kinds import SECRET
from aiohttp import web
from aiohttp.test_utils import TestServer

DEADLINE = 10.0


@dataclass
class Server:
    """Holds every request until ``release`` (watches: until the end); counts those under way."""

    url: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    under_way: int = 0
    most: int = 0
    watches: int = 0


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    done = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") == "true":
            state.watches += 1
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            await done.wait()
            return response
        state.under_way += 1
        state.most = max(state.most, state.under_way)
        await state.release.wait()
        state.under_way -= 1
        return web.json_response({"kind": "Secret", "metadata": {"name": request.path.rsplit("/", 1)[-1]}})

    app = web.Application()
    app.router.add_route("GET", "/{path:.*}", handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    state.url = str(test_server.make_url("")).rstrip("/")
    yield state
    state.release.set()
    done.set()
    await test_server.close()


@pytest.fixture
async def api(server: Server) -> AsyncIterator[ApiClient]:
    client = ApiClient(lambda: kopf.ConnectionInfo(server=server.url, insecure=True), timeout=DEADLINE)
    yield client
    await client.close()


async def until(check: object, what: str) -> None:
    async with asyncio.timeout(DEADLINE):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_at_most_max_requests_are_under_way_and_the_rest_wait_their_turn(server: Server, api: ApiClient) -> None:
    gets = [asyncio.create_task(api.get(SECRET, "ns1", f"s{index}")) for index in range(MAX_REQUESTS + 18)]
    await until(lambda: server.under_way == MAX_REQUESTS, "the first requests under way")
    for _ in range(20):
        await asyncio.sleep(0)  # the others had every chance to start

    assert server.most == MAX_REQUESTS
    server.release.set()
    answers = await asyncio.wait_for(asyncio.gather(*gets), DEADLINE)
    assert [a["metadata"]["name"] for a in answers if a] == [f"s{index}" for index in range(MAX_REQUESTS + 18)]


async def test_watches_of_many_namespaces_leave_requests_their_connections(server: Server, api: ApiClient) -> None:
    async def watch(namespace: str) -> None:
        async for _ in api.watch_metadata(SECRET, namespace, resource_version="1", timeout_seconds=300):
            pass

    watches = [asyncio.create_task(watch(f"team-{index}")) for index in range(MAX_REQUESTS * 4)]
    await until(lambda: server.watches == MAX_REQUESTS * 4, "every watch open")
    server.release.set()

    answer = await asyncio.wait_for(api.get(SECRET, "ns1", "after"), DEADLINE)

    assert answer is not None and answer["metadata"]["name"] == "after"
    for task in watches:
        task.cancel()
    await asyncio.gather(*watches, return_exceptions=True)
