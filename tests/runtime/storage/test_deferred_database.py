"""A database down at start-up: calls fail fast, attempts are spaced, and it is opened once it answers."""

from __future__ import annotations

import pytest
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.deferred import DeferredDatabase
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import Database, SessionRow


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FlakyOpener:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.database = InMemoryDatabase(id="main")

    async def __call__(self) -> Database:
        self.calls += 1
        if self.calls <= self.failures:
            raise StorageUnavailable(f"database 'main' is unavailable (attempt {self.calls})")
        return self.database


async def test_calls_fail_fast_until_the_next_attempt_is_due() -> None:
    clock, opener = Clock(), FlakyOpener(failures=1)
    deferred = DeferredDatabase(
        "main", opener, first_error=StorageUnavailable("down at start"), retry_seconds=1.0, clock=clock
    )
    with pytest.raises(StorageUnavailable, match="down at start"):
        await deferred.sessions.get_session("s")
    assert opener.calls == 0  # within the retry spacing: no connection attempt at all
    clock.now += 1.5
    with pytest.raises(StorageUnavailable, match="attempt 1"):
        await deferred.ping()
    with pytest.raises(StorageUnavailable, match="attempt 1"):
        await deferred.memories.list_topics()
    assert opener.calls == 1
    clock.now += 1.5
    await deferred.ping()
    assert deferred.is_open and opener.calls == 2


async def test_once_open_every_store_call_reaches_the_real_database() -> None:
    clock, opener = Clock(), FlakyOpener(failures=0)
    deferred = DeferredDatabase("main", opener, first_error=StorageUnavailable("down"), retry_seconds=0.5, clock=clock)
    clock.now += 1
    row = SessionRow(session_id="s1", session_type="agent", created_at=1, agent_id="a")
    await deferred.sessions.upsert_session(row)
    stored = await opener.database.sessions.get_session("s1")
    assert stored is not None and stored.agent_id == "a"
    assert (await deferred.sessions.get_session("s1")) == stored
    await deferred.close()
    assert opener.calls == 1
