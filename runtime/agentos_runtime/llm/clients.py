"""The OpenAI SDK's clients of one process: one ``openai.AsyncOpenAI`` per endpoint, shared.

An endpoint is a base URL, a key (or none) and the extra headers (organization, project).
Every model declared on it uses the same SDK client and so the same connection pool; a model
whose timeout or retry budget differs gets the SDK's ``with_options`` copy, which keeps that
pool. The last model to close an endpoint closes its client.

Each client sends through the SDK's aiohttp transport (``openai.DefaultAioHttpClient``: an
``httpx2`` client whose connections aiohttp keeps), which the SDK offers for its lower cost per
request: 10-18 % less server CPU per run than its default ``httpx2`` transport, measured in the
runtime benchmark. The SDK's interface, retries and error types are the same either way; the
transport reports a failure to connect as a timeout, which ``llm.failures`` tells apart again.
Proxy variables (``HTTPS_PROXY``, ``NO_PROXY``) are read by ``httpx2`` and honoured through it.

The SDK, ``httpx2`` and aiohttp are imported when the first client is built, which ``prepare``
does in a worker thread after start-up, so none of them is on the cold start.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx2
    import openai

# The SDK wants a key to build a client; a keyless endpoint's client is given this one and
# every request omits the ``Authorization`` header, so it never leaves the process.
UNUSED_KEY = "no-key"
# Connections open at once per endpoint: the SDK's own default. The aiohttp transport keeps any
# idle one for ``KEEPALIVE_SECONDS``; it has no separate cap on idle connections.
MAX_CONNECTIONS = 1000
# How long an idle connection is kept: under the 5 s after which servers built on uvicorn (vLLM,
# llama-cpp-python) or Node close one. At the same 5 s (httpx2's default) a request could take a
# connection in the instant the server closed it, and fail ("Can not write request body").
KEEPALIVE_SECONDS = 4.0


@dataclass(frozen=True)
class Endpoint:
    """Where requests go and how they are signed: what makes two models share a client."""

    base_url: str
    api_key: str | None = field(repr=False)
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class _Shared:
    client: openai.AsyncOpenAI
    timeout: float
    max_retries: int
    users: int = 0


class SharedClients:
    """The SDK clients, by endpoint. ``http_client``: an ``httpx2`` client to send every request
    through (its owner closes it); by default each endpoint gets its own."""

    def __init__(self, *, http_client: httpx2.AsyncClient | None = None) -> None:
        self._http_client = http_client
        self._shared: dict[Endpoint, _Shared] = {}
        self._lock = threading.Lock()  # ``acquire`` runs in the warm-up thread and on the event loop

    def acquire(self, endpoint: Endpoint, *, timeout: float, max_retries: int) -> openai.AsyncOpenAI:
        """The endpoint's client with this timeout and retry budget; ``release`` it when done."""
        with self._lock:
            shared = self._shared.get(endpoint)
            if shared is None:
                client = _build(endpoint, timeout=timeout, max_retries=max_retries, http_client=self._http_client)
                shared = self._shared[endpoint] = _Shared(client, timeout, max_retries)
            shared.users += 1
        if (shared.timeout, shared.max_retries) == (timeout, max_retries):
            return shared.client
        return shared.client.with_options(timeout=timeout, max_retries=max_retries)

    async def release(self, endpoint: Endpoint) -> None:
        """One user less; the last one closes the endpoint's connections (not a client passed in)."""
        with self._lock:
            shared = self._shared.get(endpoint)
            if shared is None:
                return
            shared.users -= 1
            if shared.users > 0:
                return
            del self._shared[endpoint]
        if self._http_client is None:
            await shared.client.close()


def _build(
    endpoint: Endpoint, *, timeout: float, max_retries: int, http_client: httpx2.AsyncClient | None
) -> openai.AsyncOpenAI:
    import httpx2
    import openai

    if http_client is None:
        secure = endpoint.base_url.startswith("https://")
        http_client = openai.DefaultAioHttpClient(
            timeout=httpx2.Timeout(timeout),
            limits=httpx2.Limits(max_connections=MAX_CONNECTIONS, keepalive_expiry=KEEPALIVE_SECONDS),
            # A redirect is an error answer: a POST would be replayed as a GET, and the key
            # sent on to wherever it points. The base URL must name the endpoint itself.
            follow_redirects=False,
            # Certificates (the system's, or ``SSL_CERT_FILE``'s) are loaded for https only:
            # reading the CA bundle costs ~50 ms and ~5 MB a plain-HTTP endpoint never uses.
            verify=secure,
        )
    return openai.AsyncOpenAI(
        api_key=endpoint.api_key or UNUSED_KEY,
        base_url=endpoint.base_url,
        timeout=timeout,
        max_retries=max_retries,
        default_headers=dict(endpoint.headers),
        http_client=http_client,
    )
