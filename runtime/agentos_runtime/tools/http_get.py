"""The ``http_get`` built-in: GET a URL on an allow-listed host, with a timeout and a size cap.

A model can be talked into fetching anything, so the tool refuses every host not listed in
``tool_config.http_get.allowed_hosts`` (redirects included: each hop is checked), speaks only
http and https, and reads at most ``max_bytes`` of the answer. When it connects, it refuses a
host that is or resolves to a link-local or cloud metadata address (``169.254.169.254``,
``fe80::/10``, ``fd00:ec2::254``...) unless the URL is that address and the list holds it
written literally (``guarded_http``); private addresses and loopback stay reachable by name.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from pydantic import Field

from agentos_runtime.charsets import charset_codec
from agentos_runtime.config.base import Schema
from agentos_runtime.config.hosts import RefusedURL, check_url
from agentos_runtime.errors import DescribedFailure
from agentos_runtime.tools.tool import Tool

if TYPE_CHECKING:
    import httpx2

    from agentos_runtime.guarded_http import Resolver

# Redirect hops followed (each one allow-listed) before giving up.
MAX_REDIRECTS = 5


class FetchTimeout(DescribedFailure, TimeoutError):
    """No complete answer within the tool's timeout (the message says from where and how long)."""


class FetchFailed(DescribedFailure, ConnectionError):
    """The host could not be reached, or broke off its answer (the message says how)."""


PARAMETERS = {
    "type": "object",
    "properties": {"url": {"type": "string", "description": "The http or https URL to fetch."}},
    "required": ["url"],
}


class HttpGetSettings(Schema):
    """``tool_config.http_get``."""

    allowed_hosts: list[str] = Field(
        min_length=1,
        description="Hosts the tool may fetch from: `api.example.com`, `*.example.com` (any subdomain), an IP address, or any of these as `host:port`. A host that is or resolves to a link-local or cloud metadata address (169.254.0.0/16, fe80::/10, fd00:ec2::254) is refused when connecting, unless the URL is that address and it is listed here literally (`169.254.10.5`, `[fe80::5]:8080`).",
    )
    timeout: float = Field(default=10.0, gt=0, le=120, description="Seconds to wait for the whole answer.")
    max_bytes: int = Field(
        default=100_000, gt=0, le=10_000_000, description="Bytes of the body kept; the rest is cut off."
    )


def build_http_get(settings: HttpGetSettings, *, resolver: Resolver | None = None) -> Tool:
    """The tool; ``resolver`` resolves host names when connecting (the system's by default)."""

    async def http_get(url: str) -> str:
        check_url(url, settings.allowed_hosts)
        import httpx2

        try:
            async with asyncio.timeout(settings.timeout):
                return await _fetch(url, settings, resolver)
        except TimeoutError as error:
            raise FetchTimeout(f"no complete answer from {url} within {settings.timeout:g}s") from error
        except httpx2.TimeoutException as error:
            raise FetchTimeout(f"no complete answer from {url} within {settings.timeout:g}s") from error
        except httpx2.TransportError as error:
            reason = " ".join(str(error).split()) or type(error).__name__
            raise FetchFailed(f"could not fetch {url}: {reason}") from error

    return Tool("http_get", "Fetch a web page or API response with an HTTP GET.", PARAMETERS, http_get)


async def _fetch(url: str, settings: HttpGetSettings, resolver: Resolver | None) -> str:
    from agentos_runtime.guarded_http import guarded_client

    async with guarded_client(settings.allowed_hosts, timeout=settings.timeout, resolver=resolver) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, settings.allowed_hosts)
            async with client.stream("GET", url) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                return await _read_capped(response, settings.max_bytes)
    raise RefusedURL(f"refused: more than {MAX_REDIRECTS} redirects")


async def _read_capped(response: httpx2.Response, max_bytes: int) -> str:
    body = bytearray()
    truncated = False
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            del body[max_bytes:]
            truncated = True
            break
    # The charset the server names, when it is one read here (``charsets``), else UTF-8.
    codec = charset_codec(response.charset_encoding or "") or "utf-8"
    try:
        text = body.decode(codec, errors="replace")
    except UnicodeError:
        text = body.decode("utf-8", errors="replace")
    note = f"\n[truncated at {max_bytes} bytes]" if truncated else ""
    return f"HTTP {response.status_code}\n{text}{note}"
