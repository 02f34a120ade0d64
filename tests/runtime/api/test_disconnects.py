"""``unless_disconnected``: work a request waits for, raced against its client's disconnect."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agentos_runtime.api.disconnects import unless_disconnected
from starlette.requests import ClientDisconnect


class Client:
    """The ASGI ``receive`` of a request whose body was read: ``leave`` makes it disconnect."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive(self) -> dict[str, Any]:
        return await self.messages.get()

    def leave(self) -> None:
        self.messages.put_nowait({"type": "http.disconnect"})


async def test_work_that_ends_first_gives_its_result() -> None:
    async def work() -> str:
        return "done"

    assert await unless_disconnected(work(), Client().receive) == "done"


async def test_work_that_fails_first_raises_its_error() -> None:
    async def work() -> str:
        raise ValueError("no verdict")

    with pytest.raises(ValueError, match="no verdict"):
        await unless_disconnected(work(), Client().receive)


async def test_a_disconnect_cancels_the_work_before_client_disconnect_is_raised() -> None:
    client, started, ended = Client(), asyncio.Event(), asyncio.Event()

    async def work() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            ended.set()
        return "never"

    racing = asyncio.create_task(unless_disconnected(work(), client.receive))
    await started.wait()
    client.messages.put_nowait({"type": "http.request", "body": b"", "more_body": False})
    client.leave()

    with pytest.raises(ClientDisconnect):
        await racing
    assert ended.is_set()


async def test_cancelling_the_race_cancels_the_work() -> None:
    started, ended = asyncio.Event(), asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            ended.set()

    racing = asyncio.create_task(unless_disconnected(work(), Client().receive))
    await started.wait()
    racing.cancel()

    with pytest.raises(asyncio.CancelledError):
        await racing
    assert ended.is_set()
