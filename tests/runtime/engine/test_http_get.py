"""The ``http_get`` built-in against a local server: allow-list, redirects, size cap, timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from agentos_runtime.llm.ports import ToolCall
from agentos_runtime.tools.executing import execute_tool_call
from agentos_runtime.tools.http_get import HttpGetSettings, RefusedURL, build_http_get, check_url

from tests.support.fake_openai import serve_asgi

BIG = b"x" * 50_000


class Site:
    """A tiny site: pages, redirects, a big page, a slow page; records the paths requested."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        self.paths.append(path)
        if path == "/hello":
            await self.answer(send, 200, b"hello world")
        elif path == "/redirect-in":
            await self.answer(send, 302, b"", location="/hello")
        elif path == "/redirect-out":
            await self.answer(send, 302, b"", location="http://evil.example.com/steal")
        elif path == "/big":
            await self.answer(send, 200, BIG)
        elif path == "/slow":
            await asyncio.sleep(3)
            await self.answer(send, 200, b"late")
        else:
            await self.answer(send, 404, b"no such page")

    async def answer(self, send: Any, status: int, body: bytes, location: str | None = None) -> None:
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
        if location:
            headers.append((b"location", location.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[Site, str]]:
    app = Site()
    with serve_asgi(app) as port:
        yield app, f"http://127.0.0.1:{port}"


def http_get(**settings: Any) -> Any:
    return build_http_get(HttpGetSettings(**{"allowed_hosts": ["127.0.0.1"], **settings}))


async def test_fetches_a_page_on_an_allowed_host(site: tuple[Site, str]) -> None:
    _, base = site

    assert await http_get().call({"url": f"{base}/hello"}) == "HTTP 200\nhello world"


async def test_reports_the_status_of_a_missing_page(site: tuple[Site, str]) -> None:
    _, base = site

    assert await http_get().call({"url": f"{base}/nothing"}) == "HTTP 404\nno such page"


async def test_refuses_a_host_not_allowed_and_sends_nothing(site: tuple[Site, str]) -> None:
    app, base = site
    app.paths.clear()
    tool = build_http_get(HttpGetSettings(allowed_hosts=["api.example.com"]))

    outcome = await execute_tool_call(ToolCall("c1", "http_get", f'{{"url": "{base}/hello"}}'), {"http_get": tool})

    assert outcome.error is True
    assert outcome.result == ("Error: RefusedURL: refused: host '127.0.0.1' is not in allowed_hosts (api.example.com)")
    assert app.paths == []


async def test_follows_a_redirect_on_an_allowed_host(site: tuple[Site, str]) -> None:
    _, base = site

    assert await http_get().call({"url": f"{base}/redirect-in"}) == "HTTP 200\nhello world"


async def test_refuses_a_redirect_to_another_host(site: tuple[Site, str]) -> None:
    _, base = site

    with pytest.raises(RefusedURL, match="'evil.example.com' is not in allowed_hosts"):
        await http_get().call({"url": f"{base}/redirect-out"})


async def test_cuts_a_large_answer_at_max_bytes(site: tuple[Site, str]) -> None:
    _, base = site

    answer = await http_get(max_bytes=1000).call({"url": f"{base}/big"})

    assert answer == "HTTP 200\n" + "x" * 1000 + "\n[truncated at 1000 bytes]"


async def test_gives_up_on_a_slow_answer_after_the_timeout(site: tuple[Site, str]) -> None:
    _, base = site

    with pytest.raises(TimeoutError, match="within 0.3s"):
        await http_get(timeout=0.3).call({"url": f"{base}/slow"})


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.example.com/v1", ["api.example.com"]),
        ("https://API.Example.com/v1", ["api.example.com"]),
        ("https://eu.api.example.com/v1", ["*.example.com"]),
        ("http://localhost:8080/x", ["localhost:8080"]),
    ],
)
def test_allowed_urls(url: str, allowed: list[str]) -> None:
    check_url(url, allowed)


@pytest.mark.parametrize(
    ("url", "allowed", "reason"),
    [
        ("file:///etc/passwd", ["localhost"], "only http and https"),
        ("ftp://api.example.com/x", ["api.example.com"], "only http and https"),
        ("https://example.com/", ["*.example.com"], "not in allowed_hosts"),
        ("https://api.example.com.evil.io/", ["api.example.com"], "not in allowed_hosts"),
        ("http://localhost:9090/x", ["localhost:8080"], "not in allowed_hosts"),
        ("http:///path-only", ["localhost"], "has no host"),
    ],
)
def test_refused_urls(url: str, allowed: list[str], reason: str) -> None:
    with pytest.raises(RefusedURL, match=reason):
        check_url(url, allowed)
