"""One OpenAI-compatible endpoint over HTTP: its base URL, key, timeout and retry budget.

This is what the OpenAI SDK did for the runtime, without the SDK: importing it cost about
0.4 s and 20 MB, and each request went through layers (option models, auth hooks, response
wrappers) the runtime never used. What the SDK is relied on for is kept: ``Authorization:
Bearer <key>``, the base URL, one timeout for connecting and for each read (so a stream
stalling between chunks fails), retries with the SDK's rules (``retrying``), its
``OpenAI-Organization`` / ``OpenAI-Project`` headers, and its error texts (``Error code: 429 -
<message>``), which ``failures`` maps to ours.

Two transports carry the requests. A plain ``http://`` endpoint (vLLM, Ollama in the cluster)
with no proxy configured gets ``http11``'s small client, which parses each network read once.
Everything else (``https://``, proxies from ``HTTP_PROXY``/``ALL_PROXY``, a shared client
passed in) goes through ``httpx2``, the HTTP library the SDK is built on, which verifies
certificates and follows redirects as the SDK does.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from agentos_runtime import __version__
from agentos_runtime.llm import retrying
from agentos_runtime.llm.http11 import Http11Pool, TransportFailure

if TYPE_CHECKING:
    import httpx2

JSON = dict[str, Any]
# The proxy variables httpx2 honours for ``http://`` URLs.
PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


class StatusFailure(Exception):
    """The endpoint answered an error status; ``message`` and ``code`` as the SDK read them."""

    def __init__(self, status: int, message: str, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def status_failure(status: int, body: bytes, content_type: str | None = None) -> StatusFailure:
    """The SDK's reading of an error answer: ``Error code: <status> - <error.message>``.

    As the SDK does, the body is read as text first: in the charset ``Content-Type`` names,
    else as UTF-8 with undecodable bytes replaced (a byte-order mark is not skipped).
    """
    message, code = f"Error code: {status}", None
    try:
        payload = json.loads(body.decode(_charset(content_type), errors="replace"))
    except ValueError:
        return StatusFailure(status, message, None)
    error = payload.get("error", payload) if isinstance(payload, dict) else None
    if isinstance(error, dict):
        if isinstance(error.get("message"), str) and error["message"]:
            message += f" - {error['message']}"
        code = str(error["code"]) if error.get("code") is not None else None
    return StatusFailure(status, message, code)


def _charset(content_type: str | None) -> str:
    """The charset a ``Content-Type`` names if Python knows it, else UTF-8."""
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                break
    return "utf-8"


def proxy_configured(environ: Mapping[str, str]) -> bool:
    """Whether plain-HTTP requests must go through a proxy the environment names."""
    return any(environ.get(name) for name in PROXY_VARIABLES)


class Answer(Protocol):
    status: int
    headers: Mapping[str, str]
    """Header names in lowercase (or looked up without regard to case)."""

    async def read(self) -> bytes:
        """The whole body; the answer is closed afterwards."""
        ...

    def lines(self) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


class _HttpxAnswer:
    def __init__(self, response: httpx2.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    async def read(self) -> bytes:
        try:
            return await self._response.aread()
        finally:
            await self._response.aclose()

    def lines(self) -> AsyncIterator[str]:
        return self._response.aiter_lines()

    async def aclose(self) -> None:
        await self._response.aclose()


class _HttpxTransport:
    def __init__(self, base_url: str, *, timeout: float, client: httpx2.AsyncClient | None) -> None:
        import httpx2

        self._httpx = httpx2
        self._owns_client = client is None
        self._client = client if client is not None else self._build(base_url, timeout)

    def _build(self, base_url: str, timeout: float) -> httpx2.AsyncClient:
        secure = base_url.startswith("https://")
        return self._httpx.AsyncClient(
            timeout=self._httpx.Timeout(timeout),
            verify=secure,  # no CA bundle (50 ms, 5 MB) for an endpoint reached through a proxy
            follow_redirects=secure,  # never from http:// to an https:// host it could not verify
            limits=self._httpx.Limits(max_connections=1000, max_keepalive_connections=100),
        )

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Answer:
        request = self._client.build_request("POST", url, content=body, headers=headers)
        try:
            return _HttpxAnswer(await self._client.send(request, stream=True))
        except self._httpx.TimeoutException as error:
            raise TransportFailure("the endpoint did not answer in time", timed_out=True) from error
        except self._httpx.TransportError as error:
            raise TransportFailure(str(error) or type(error).__name__) from error

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class _DirectTransport:
    def __init__(self, host: str, port: int, *, timeout: float) -> None:
        self._pool = Http11Pool(host, port, timeout=timeout)

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Answer:
        return await self._pool.post(urlsplit(url).path, headers, body)

    async def close(self) -> None:
        await self._pool.close()


class Endpoint:
    """Posts JSON to ``base_url``; retries what the SDK retries; raises ``StatusFailure`` for an
    error answer and ``TransportFailure`` when it cannot get one."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float,
        max_retries: int,
        headers: Mapping[str, str] | None = None,
        client: httpx2.AsyncClient | None = None,
        proxied: bool = False,
    ) -> None:
        """``client``: an ``httpx2`` client to share (its owner closes it); ``proxied``: plain-HTTP
        requests must honour the proxy variables."""
        self._base_url = base_url.rstrip("/")
        self._max_retries = max_retries
        parts = urlsplit(self._base_url)
        direct = parts.scheme == "http" and client is None and not proxied
        if direct and parts.hostname and not (parts.username or parts.query or parts.fragment):
            self._transport: _DirectTransport | _HttpxTransport = _DirectTransport(
                parts.hostname, parts.port or 80, timeout=timeout
            )
        else:
            self._transport = _HttpxTransport(self._base_url, timeout=timeout, client=client)
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"kube-agentos/{__version__}",
            **(headers or {}),
        }

    async def post(self, path: str, body: JSON) -> Answer:
        """The successful answer, its body still unread (the caller reads or closes it)."""
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        url = self._base_url + path
        retries = 0
        while True:
            try:
                answer = await self._transport.post(url, self._headers, content)
            except TransportFailure:
                if retries >= self._max_retries:
                    raise
                await self._wait(retries, None)
                retries += 1
                continue
            if answer.status < 400:
                return answer
            text = await answer.read()
            if retries < self._max_retries and retrying.should_retry(answer.status, answer.headers, now=time.time()):
                await self._wait(retries, answer.headers)
                retries += 1
                continue
            raise status_failure(answer.status, text, answer.headers.get("content-type"))

    async def close(self) -> None:
        await self._transport.close()

    async def _wait(self, retries_done: int, headers: Mapping[str, str] | None) -> None:
        await asyncio.sleep(retrying.retry_delay(retries_done, headers, now=time.time(), draw=random.random()))
