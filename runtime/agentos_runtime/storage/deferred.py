"""A database that did not answer at start-up: opened on first use, retried until it answers.

In Kubernetes a runtime that exits because its database is down only crash-loops. Instead it
starts, ``/ready`` reports the database (503) while ``/health`` stays up, requests that need it
get ``StorageUnavailable`` (503) at once, and the first call after the database returns opens
it (creating its tables) and carries on. Attempts are spaced by ``retry_seconds`` so an outage
is answered fast rather than with a connect timeout per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.ports import Database, EvalStore, MemoryStore, MetricsStore, SessionStore

Opener = Callable[[], Awaitable[Database]]


class DeferredDatabase:
    """Stands in for ``Database`` until ``opener`` succeeds, then forwards every call to it."""

    def __init__(
        self,
        database_id: str,
        opener: Opener,
        *,
        first_error: StorageUnavailable,
        retry_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = database_id
        self._opener = opener
        self._opened: Database | None = None
        self._lock = asyncio.Lock()
        self._last_error = first_error
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._next_attempt = clock() + retry_seconds
        self.sessions = cast(SessionStore, _Forwarder(self, "sessions"))
        self.memories = cast(MemoryStore, _Forwarder(self, "memories"))
        self.metrics = cast(MetricsStore, _Forwarder(self, "metrics"))
        self.evals = cast(EvalStore, _Forwarder(self, "evals"))

    @property
    def is_open(self) -> bool:
        return self._opened is not None

    async def database(self) -> Database:
        """The opened database; raises ``StorageUnavailable`` while it still does not answer."""
        if self._opened is not None:
            return self._opened
        async with self._lock:
            if self._opened is None:
                if self._clock() < self._next_attempt:
                    raise StorageUnavailable(self._last_error.detail)
                try:
                    self._opened = await self._opener()
                except StorageUnavailable as error:
                    self._last_error = error
                    self._next_attempt = self._clock() + self._retry_seconds
                    raise
        return self._opened

    async def ping(self) -> None:
        await (await self.database()).ping()

    async def close(self) -> None:
        if self._opened is not None:
            await self._opened.close()


class _Forwarder:
    """A store whose every method first waits for the database to be open."""

    def __init__(self, owner: DeferredDatabase, store: str) -> None:
        self._owner = owner
        self._store = store

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            store = getattr(await self._owner.database(), self._store)
            return await getattr(store, name)(*args, **kwargs)

        call.__name__ = name
        return call
