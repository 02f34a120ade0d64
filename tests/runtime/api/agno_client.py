"""Serving the runtime for Agno's own ``AgentOSClient``: under uvicorn, behind a security key.

Agno's client keeps one shared httpx client per process; it is closed when the runtime stops,
so the next test (on its own event loop) gets a fresh one. Kept apart from ``harness`` so that
tests which never use Agno's client do not import it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from agno.client import AgentOSClient
from agno.utils.http import aclose_default_clients

from tests.runtime.api.harness import HTTP_TIMEOUT, Served, serve_on

Serving = Callable[..., AbstractAsyncContextManager[Served]]


@asynccontextmanager
async def serve_for_agno(
    kind: str, config_text: str, tmp_path: Path, *, security_key: str, serving: Serving = serve_on, **kw: Any
) -> AsyncIterator[Served]:
    """``config_text`` on backend ``kind`` (through ``serving``, ``serve_on`` by default) under
    uvicorn, behind ``security_key``; Agno's shared httpx client is closed on leaving."""
    async with serving(kind, config_text, tmp_path, over_sockets=True, security_key=security_key, **kw) as running:
        try:
            yield running
        finally:
            await aclose_default_clients()


def client_for(runtime: Served) -> AgentOSClient:
    """Agno's client on the served runtime."""
    return AgentOSClient(str(runtime.client.base_url), timeout=HTTP_TIMEOUT)
