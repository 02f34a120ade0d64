"""User memories in runs, through the API on every storage backend, with the fake model scripted.

Extraction runs after the answer, in the background: tests wait (with a deadline) for the
fake server to have received the memory manager's requests, then assert on what it was sent
and on what was stored, and on the prompt of the next run.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.runtime.api.harness import Served
from tests.runtime.memory.extraction import (
    DEADLINE,
    add_memory,
    memories_of,
    tool_names,
    wait_for_memories,
    wait_for_requests,
)
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply


@pytest.fixture
async def remembering(serve: Callable[..., Any]) -> AsyncIterator[Served]:
    async with serve(enable_user_memories=True, instructions=["Be brief."]) as running:
        yield running


async def run(app: Served, message: str, user_id: str | None = "ana") -> dict[str, Any]:
    form = {"message": message, "stream": "false"}
    if user_id is not None:
        form["user_id"] = user_id
    response = await app.client.post("/agents/assistant/runs", data=form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "COMPLETED", body
    return body


async def test_a_fact_the_user_told_is_extracted_and_in_the_next_runs_prompt(
    remembering: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("Nice to meet you."), add_memory("User's name is Ana", ["name"]), Reply.say("Stored."))
    await run(remembering, "My name is Ana")
    await wait_for_requests(fake_openai, 3)

    (memory,) = await wait_for_memories(remembering, "ana", 1)
    assert (memory["memory"], memory["topics"], memory["agent_id"]) == ("User's name is Ana", ["name"], "assistant")
    stored = await remembering.database().memories.get_memory(memory["memory_id"])
    assert stored is not None and stored.input == "My name is Ana"
    extraction = fake_openai.bodies[1]
    assert [m["role"] for m in extraction["messages"]] == ["system", "user"]
    assert extraction["messages"][1]["content"] == "My name is Ana"
    assert "<existing_memories>" not in extraction["messages"][0]["content"]
    assert tool_names(extraction) == ["add_memory", "update_memory", "delete_memory"]

    fake_openai.script(Reply.say("Hello Ana."))
    second = await run(remembering, "Who am I?")

    system = fake_openai.bodies[3]["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("Be brief.")
    assert (
        "<memories_from_previous_interactions>\n- User's name is Ana\n</memories_from_previous_interactions>"
        in system["content"]
    )
    assert second["messages"][0]["content"] == system["content"]


async def test_the_manager_sees_existing_memories_and_can_update_them(
    remembering: Served, fake_openai: FakeOpenAIServer
) -> None:
    created = (await remembering.client.post("/memories", json={"memory": "User likes tea", "user_id": "ana"})).json()
    update = {"memory_id": created["memory_id"], "memory": "User likes green tea", "topics": ["drinks"]}
    fake_openai.script(
        Reply.say("Green it is."), Reply.call(FakeToolCall("update_memory", json.dumps(update))), Reply.say("ok")
    )

    await run(remembering, "Actually, only green tea")
    await wait_for_requests(fake_openai, 3)

    instructions = fake_openai.bodies[1]["messages"][0]["content"]
    assert f"<existing_memories>\nID: {created['memory_id']}\nMemory: User likes tea\n" in instructions
    deadline = time.monotonic() + DEADLINE
    while (await memories_of(remembering, "ana"))[0]["memory"] != "User likes green tea":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    tool_result = fake_openai.bodies[2]["messages"][-1]
    assert tool_result == {"role": "tool", "tool_call_id": "call_1", "content": "Memory updated successfully"}


async def test_runs_without_a_user_remember_for_the_default_user(
    remembering: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("ok"), add_memory("User is a pilot", ["job"]), Reply.say("done"))

    await run(remembering, "I fly planes for a living", user_id=None)

    (memory,) = await wait_for_memories(remembering, "default", 1)
    assert memory["memory"] == "User is a pilot"


async def test_the_answer_does_not_wait_for_the_extraction(remembering: Served, fake_openai: FakeOpenAIServer) -> None:
    slow_extraction = Reply(tool_calls=(FakeToolCall("add_memory", '{"memory": "User is slow"}'),), hang=2.0)
    fake_openai.script(Reply.say("Quick answer."), slow_extraction, Reply.say("done"))

    body = await run(remembering, "I take my time")

    assert body["content"] == "Quick answer."
    assert await memories_of(remembering, "ana") == []
    assert [m["memory"] for m in await wait_for_memories(remembering, "ana", 1)] == ["User is slow"]


async def test_a_failed_extraction_leaves_the_run_completed_and_stores_nothing(
    remembering: Served, fake_openai: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openai.script(Reply.say("Fine."), Reply.fail(400, "bad request"))

    body = await run(remembering, "I like jazz")
    await wait_for_requests(fake_openai, 2)

    assert body["content"] == "Fine."
    deadline = time.monotonic() + DEADLINE
    while "extracting memories after run" not in caplog.text:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert await memories_of(remembering, "ana") == []


async def test_without_memories_enabled_nothing_is_extracted_or_added(
    serve: Callable[..., Any], fake_openai: FakeOpenAIServer
) -> None:
    async with serve() as app:
        await app.client.post("/memories", json={"memory": "User likes tea", "user_id": "ana"})
        fake_openai.script(Reply.say("ok"))

        await run(app, "My name is Ana")

        assert len(fake_openai.bodies) == 1
        assert all(m["role"] != "system" for m in fake_openai.bodies[0]["messages"])
        assert tool_names(fake_openai.bodies[0]) == ["calculator"]


async def test_memories_in_context_only_shows_that_users_memories(
    serve: Callable[..., Any], fake_openai: FakeOpenAIServer
) -> None:
    async with serve(add_memories_to_context=True) as app:
        await app.client.post("/memories", json={"memory": "User likes tea", "user_id": "ana"})
        await app.client.post("/memories", json={"memory": "User likes coffee", "user_id": "bob"})
        fake_openai.script(Reply.say("ok"), Reply.say("ok"))

        await run(app, "hi", user_id="ana")
        await run(app, "hi", user_id="carl")

        ana_system, carl_system = (body["messages"][0]["content"] for body in fake_openai.bodies)
        assert "- User likes tea" in ana_system and "coffee" not in ana_system
        assert "<memories_from_previous_interactions>" not in carl_system
        assert "have not talked with them before" in carl_system
        assert len(fake_openai.bodies) == 2


async def test_agentic_memory_gives_the_model_a_tool_that_updates_memories(
    serve: Callable[..., Any], fake_openai: FakeOpenAIServer
) -> None:
    async with serve(enable_agentic_memory=True) as app:
        task = {"task": "Remember that the user is vegetarian"}
        fake_openai.script(
            Reply.call(FakeToolCall("update_user_memory", json.dumps(task), id="call_agent")),
            add_memory("User is vegetarian", ["food"]),
            Reply.say("Added the memory."),
            Reply.say("I'll remember that."),
        )

        body = await run(app, "I'm vegetarian, remember that")

        assert body["content"] == "I'll remember that."
        first, manager, manager_end, final = fake_openai.bodies
        assert "update_user_memory" in tool_names(first)
        assert "<updating_user_memories>" in first["messages"][0]["content"]
        assert manager["messages"][1] == {"role": "user", "content": "Remember that the user is vegetarian"}
        assert tool_names(manager) == ["add_memory", "update_memory"]
        assert final["messages"][-1] == {"role": "tool", "tool_call_id": "call_agent", "content": "Added the memory."}
        (memory,) = await memories_of(app, "ana")
        assert (memory["memory"], memory["topics"]) == ("User is vegetarian", ["food"])
        assert [t["tool_name"] for t in body["tools"]] == ["update_user_memory"]


async def test_a_streamed_run_extracts_memories_too(remembering: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("Hello!", chunks=3), add_memory("User likes sailing", ["hobbies"]), Reply.say("ok"))

    form = {"message": "I love sailing", "user_id": "ana"}
    async with remembering.client.stream("POST", "/agents/assistant/runs", data=form) as response:
        body = (await response.aread()).decode()

    assert response.status_code == 200 and "event: RunCompleted" in body
    (memory,) = await wait_for_memories(remembering, "ana", 1)
    assert memory["memory"] == "User likes sailing"
    assert fake_openai.bodies[1]["messages"][1] == {"role": "user", "content": "I love sailing"}
