"""One OpenAI-compatible endpoint over HTTP: its base URL, key, timeout and retry budget.

This is what the OpenAI SDK did for the runtime, without the SDK: importing it cost about
0.4 s and 20 MB, and each request went through layers (option models, auth hooks, response
wrappers) the runtime never used. What the SDK is relied on for is kept, on the same HTTP
library it uses (``httpx2``): ``Authorization: Bearer <key>``, the base URL, one timeout for
connecting and for each read (so a stream stalling between chunks fails), retries with the
SDK's rules (``retrying``), its ``OpenAI-Organization`` / ``OpenAI-Project`` headers, and its
error texts (``Error code: 429 - <message>``), which ``failures`` maps to ours.

A plain ``http://`` endpoint (vLLM, Ollama in the cluster) gets a client without TLS material
(loading CA certificates costs 50 ms and 5 MB) that does not follow redirects, so it never
follows one to an ``https://`` host it could not verify; ``https://`` endpoints verify
certificates and follow redirects as the SDK does.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Mapping
from typing import Any

import httpx2

from agentos_runtime import __version__
from agentos_runtime.llm import retrying

JSON = dict[str, Any]


class StatusFailure(Exception):
    """The endpoint answered an error status; ``message`` and ``code`` as the SDK read them."""

    def __init__(self, status: int, message: str, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def status_failure(status: int, body: bytes) -> StatusFailure:
    """The SDK's reading of an error answer: ``Error code: <status> - <error.message>``."""
    message, code = f"Error code: {status}", None
    try:
        payload = json.loads(body)
    except ValueError:
        return StatusFailure(status, message, None)
    error = payload.get("error", payload) if isinstance(payload, dict) else None
    if isinstance(error, dict):
        if isinstance(error.get("message"), str) and error["message"]:
            message += f" - {error['message']}"
        code = str(error["code"]) if error.get("code") is not None else None
    return StatusFailure(status, message, code)


def build_client(base_url: str, *, timeout: float) -> httpx2.AsyncClient:
    secure = base_url.startswith("https://")
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(timeout),
        verify=secure,
        follow_redirects=secure,
        limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100),
    )


class Endpoint:
    """Posts JSON to ``base_url``; retries what the SDK retries; raises ``StatusFailure`` for an
    error answer and ``httpx2.TransportError`` (timeouts included) when it cannot get one."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float,
        max_retries: int,
        headers: Mapping[str, str] | None = None,
        client: httpx2.AsyncClient | None = None,
    ) -> None:
        """``client``: an HTTP client to share (its owner closes it); else one is built."""
        self._base_url = base_url.rstrip("/")
        self._max_retries = max_retries
        self._client = client if client is not None else build_client(base_url, timeout=timeout)
        self._owns_client = client is None
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"kube-agentos/{__version__}",
            **(headers or {}),
        }

    async def post(self, path: str, body: JSON, *, stream: bool) -> httpx2.Response:
        """The successful answer; with ``stream`` its body is still unread (the caller closes it)."""
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        url = self._base_url + path
        retries = 0
        while True:
            request = self._client.build_request("POST", url, content=content, headers=self._headers)
            try:
                response = await self._client.send(request, stream=stream)
            except httpx2.TransportError:
                if retries >= self._max_retries:
                    raise
                await self._wait(retries, None)
                retries += 1
                continue
            if response.status_code < 400:
                return response
            await response.aread()
            await response.aclose()
            if retries < self._max_retries and retrying.should_retry(
                response.status_code, response.headers, now=time.time()
            ):
                await self._wait(retries, response.headers)
                retries += 1
                continue
            raise status_failure(response.status_code, response.content)

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _wait(self, retries_done: int, headers: Mapping[str, str] | None) -> None:
        await asyncio.sleep(retrying.retry_delay(retries_done, headers, now=time.time(), draw=random.random()))
