"""The client side of a PostgreSQL operation's bound (``storage.sql.deadline``), without a database.

A deadline that passes while the operation holds no connection cancels it and says the
database did not answer; any other cancellation (a client gone, a shutdown, an outer bound)
goes on as a cancellation, even when it arrives after the deadline passed; a task's count of
cancellations comes back to what it was. The idle-connection poll works on any descriptor,
however high its number.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.sql import deadline as deadline_module
from agentos_runtime.storage.sql.deadline import Deadline, has_news, watch

TIMEOUT = 0.05
# How long a test waits for what it expects before failing (a loaded machine included).
PATIENCE = 10.0


@pytest.fixture(autouse=True)
def no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadline_module, "GRACE_SECONDS", 0.0)


async def until(holds: Callable[[], bool]) -> None:
    limit = time.monotonic() + PATIENCE
    while not holds():
        assert time.monotonic() < limit, "the awaited state did not come"
        await asyncio.sleep(0.005)


async def test_a_deadline_that_passes_while_nothing_is_held_cancels_and_says_the_database_did_not_answer() -> None:
    async def operation() -> int:
        async with Deadline("main", TIMEOUT):
            await asyncio.sleep(PATIENCE)
        return asyncio.current_task().cancelling()  # type: ignore[union-attr]

    with pytest.raises(StorageUnavailable, match="database 'main' is unavailable: it did not answer"):
        await operation()

    task = asyncio.create_task(operation())
    with pytest.raises(StorageUnavailable):
        await task
    assert task.cancelling() == 0


async def test_a_cancellation_from_outside_after_the_deadline_passed_goes_on_as_a_cancellation() -> None:
    """As when a client goes away while the driver, its connection cut, is still cancelling."""
    a, b = socket.socketpair()
    bound: list[Deadline] = []

    async def operation() -> None:
        async with Deadline("main", TIMEOUT) as deadline:
            bound.append(deadline)
            watch(a, a.fileno())  # held: the deadline cuts it instead of cancelling
            await asyncio.sleep(PATIENCE)

    task = asyncio.create_task(operation())
    try:
        await until(lambda: bool(bound) and bound[0].expired)
        assert a.recv(1) == b""  # cut
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        a.close()
        b.close()


async def test_a_cancellation_from_outside_before_the_deadline_goes_on_and_the_deadline_never_fires() -> None:
    started = asyncio.Event()

    async def operation() -> None:
        async with Deadline("main", TIMEOUT):
            started.set()
            await asyncio.sleep(PATIENCE)

    task = asyncio.create_task(operation())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_deadline_in_the_clean_up_of_a_cancelled_task_still_says_the_database_did_not_answer() -> None:
    """A run cancelled by a shutdown saves itself while its cancellation is being handled: a save
    that does not answer is StorageUnavailable there too, and the shutdown's cancel goes on after."""
    outcome: list[str] = []

    async def run() -> None:
        try:
            await asyncio.sleep(PATIENCE)
        except asyncio.CancelledError:
            try:
                async with Deadline("main", TIMEOUT):
                    await asyncio.sleep(PATIENCE)
            except StorageUnavailable as error:
                outcome.append(error.detail)
            outcome.append(f"cancelling {asyncio.current_task().cancelling()}")  # type: ignore[union-attr]
            raise

    task = asyncio.create_task(run())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert "did not answer" in outcome[0]
    assert outcome[1] == "cancelling 1"


async def test_an_inner_deadline_that_passes_is_the_inner_operations_error_under_an_outer_one() -> None:
    async def operation() -> tuple[str, int]:
        async with Deadline("outer", PATIENCE):
            try:
                async with Deadline("inner", TIMEOUT):
                    await asyncio.sleep(PATIENCE)
            except StorageUnavailable as error:
                return error.detail, asyncio.current_task().cancelling()  # type: ignore[union-attr]
        raise AssertionError("the inner deadline did not fire")

    detail, cancelling = await operation()

    assert "'inner'" in detail
    assert cancelling == 0


async def test_a_deadline_inside_an_outer_timeout_that_fires_first_lets_the_timeout_say_so() -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(TIMEOUT):
            async with Deadline("main", PATIENCE):
                await asyncio.sleep(PATIENCE)


@pytest.fixture
def high_descriptor() -> Iterator[tuple[socket.socket, int]]:
    """One end of a socket pair, and a duplicate of the other end at a descriptor past 1024
    (a busy process: many clients, many connections)."""
    a, b = socket.socketpair()
    high = os.dup2(b.fileno(), 1500)
    try:
        yield a, high
    finally:
        os.close(high)
        a.close()
        b.close()


def test_an_idle_connection_is_polled_whatever_its_descriptor(high_descriptor: tuple[socket.socket, int]) -> None:
    peer, fd = high_descriptor

    assert has_news(fd) is False
    peer.sendall(b"E")
    assert has_news(fd) is True


async def test_a_connection_that_cannot_be_watched_for_want_of_descriptors_is_bounded_by_a_cancel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_descriptor_left(fd: int) -> int:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(deadline_module.os, "dup", no_descriptor_left)
    a, b = socket.socketpair()
    try:
        with pytest.raises(StorageUnavailable, match="database 'main' is unavailable: it did not answer"):
            async with Deadline("main", TIMEOUT):
                watch(object(), a.fileno())
                await asyncio.sleep(PATIENCE)
    finally:
        a.close()
        b.close()
