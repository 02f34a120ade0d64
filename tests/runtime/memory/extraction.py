"""Memory extraction as tests drive it: the memory manager's scripted tool call, and waits (with
a deadline) for the background extraction's requests and for what it stored."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tests.runtime.api.harness import Served
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

DEADLINE = 10.0


async def wait_for_requests(fake_openai: FakeOpenAIServer, count: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while len(fake_openai.bodies) < count:
        assert time.monotonic() < deadline, f"the model got {len(fake_openai.bodies)} requests, not {count}"
        await asyncio.sleep(0.01)


async def memories_of(app: Served, user_id: str) -> list[dict[str, Any]]:
    response = await app.client.get("/memories", params={"user_id": user_id})
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def wait_for_memories(app: Served, user_id: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DEADLINE
    while len(found := await memories_of(app, user_id)) < count:
        assert time.monotonic() < deadline, f"{user_id} has {len(found)} memories, not {count}"
        await asyncio.sleep(0.01)
    return found


def add_memory(text: str, topics: list[str]) -> Reply:
    """The memory manager's answer: add ``text`` under ``topics``."""
    return Reply.call(FakeToolCall("add_memory", json.dumps({"memory": text, "topics": topics})))


def tool_names(body: dict[str, Any]) -> list[str]:
    """The names of the tools a request to the model offered."""
    return [tool["function"]["name"] for tool in body.get("tools") or []]
