"""The ``http_get`` built-in against a local server: allow-list, redirects, size cap, timeout,
and the address connected to (names resolved by a fake DNS: see ``tests/support/fake_dns``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.llm.ports import ToolCall
from agentos_runtime.tools.executing import execute_tool_call
from agentos_runtime.tools.http_get import FetchFailed, HttpGetSettings, RefusedURL, build_http_get, check_url

from tests.runtime.engine.model_servers import self_signed_certificate
from tests.support.fake_dns import FakeDNS, fake_dns
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
        elif path == "/redirect-metadata":
            await self.answer(send, 302, b"", location="http://metadata.test/latest/meta-data/")
        elif path == "/host":
            await self.answer(send, 200, dict(scope["headers"])[b"host"])
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
    return build_http_get(HttpGetSettings(**{"allowed_hosts": ["127.0.0.1"], **settings}), resolver=fake_dns())


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


async def test_refuses_a_name_resolving_to_the_metadata_address_when_connecting_as_a_tool_error() -> None:
    tool = http_get(allowed_hosts=["metadata.test"])

    outcome = await execute_tool_call(
        ToolCall("c1", "http_get", '{"url": "http://metadata.test/latest/meta-data/"}'), {"http_get": tool}
    )

    assert outcome.error is True
    assert outcome.result.startswith(
        "Error: RefusedAddress: refused: host 'metadata.test' resolves to 169.254.169.254: 169.254.169.254 is"
        " a link-local address (169.254.0.0/16, where cloud metadata services answer)"
    )
    assert "write the address itself in allowed_hosts (169.254.169.254, or with ':port')" in outcome.result


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("mapped.test", "::ffff:a9fe:a9fe: ::ffff:a9fe:a9fe is an IPv4-mapped form of 169.254.169.254"),
        ("mixed.test", "fe80::1: fe80::1 is a link-local address"),
    ],
)
async def test_refuses_a_name_with_any_refused_address(host: str, address: str) -> None:
    with pytest.raises(RefusedURL, match=f"host '{host}' resolves to {address}"):
        await http_get(allowed_hosts=[host]).call({"url": f"http://{host}/"})


async def test_reaches_a_private_name_keeping_it_as_the_host_header(site: tuple[Site, str]) -> None:
    _, base = site
    port = base.rpartition(":")[2]

    answer = await http_get(allowed_hosts=["intranet.test"]).call({"url": f"http://intranet.test:{port}/host"})

    assert answer == f"HTTP 200\nintranet.test:{port}"


async def test_reaches_localhost_through_the_system_resolver(site: tuple[Site, str]) -> None:
    _, base = site
    tool = build_http_get(HttpGetSettings(allowed_hosts=["localhost"]))

    answer = await tool.call({"url": base.replace("127.0.0.1", "localhost") + "/hello"})

    assert answer == "HTTP 200\nhello world"


async def test_https_checks_the_certificate_against_the_name_not_the_address_connected_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The certificate names ``localhost`` and 127.0.0.1: a name it does not hold is refused even
    though the connection goes to 127.0.0.1."""
    certificate = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.certfile))
    dns = FakeDNS({"localhost": [["127.0.0.1"]], "intranet.test": [["127.0.0.1"]]})
    tool = build_http_get(HttpGetSettings(allowed_hosts=["localhost", "intranet.test"]), resolver=dns)

    with serve_asgi(Site(), ssl_certfile=str(certificate.certfile), ssl_keyfile=str(certificate.keyfile)) as port:
        answer = await tool.call({"url": f"https://localhost:{port}/hello"})
        with pytest.raises(FetchFailed, match="certificate verify failed"):
            await tool.call({"url": f"https://intranet.test:{port}/hello"})

    assert answer == "HTTP 200\nhello world"
    assert dns.lookups == ["localhost", "intranet.test"]


async def test_a_name_rebound_to_the_metadata_address_is_refused_on_the_next_connection(
    site: tuple[Site, str],
) -> None:
    _, base = site
    port = base.rpartition(":")[2]
    tool = http_get(allowed_hosts=["rebind.test"])

    first = await tool.call({"url": f"http://rebind.test:{port}/hello"})
    with pytest.raises(RefusedURL, match="host 'rebind.test' resolves to 169.254.169.254"):
        await tool.call({"url": f"http://rebind.test:{port}/hello"})

    assert first == "HTTP 200\nhello world"


async def test_refuses_a_redirect_to_a_name_resolving_to_the_metadata_address(site: tuple[Site, str]) -> None:
    _, base = site

    with pytest.raises(RefusedURL, match="host 'metadata.test' resolves to 169.254.169.254"):
        await http_get(allowed_hosts=["127.0.0.1", "metadata.test"]).call({"url": f"{base}/redirect-metadata"})


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
