"""The memory manager's tool calls are the model's input: wrong types, ids no memory can have,
over-long memories and floods of calls are answered in words the model reads, never with a
traceback, a database error or another user's data; on every storage backend."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from agentos_runtime.runs.memory.conversing import MAX_TOOL_CALLS
from agentos_runtime.runs.memory.managing import MAX_TASK_ANSWER
from agentos_runtime.storage.ports import MAX_TOPICS, MEMORY_MAX_LENGTH, TOPIC_MAX_LENGTH

from tests.runtime.api.harness import Served
from tests.runtime.memory.test_memory_in_runs import DEADLINE, memories_of, run, wait_for_requests
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply


@pytest.fixture
async def remembering(serve: Callable[..., Any]) -> AsyncIterator[Served]:
    async with serve(enable_user_memories=True) as running:
        yield running


def manager_calls(*calls: tuple[str, dict[str, Any]]) -> Reply:
    return Reply.call(
        *(FakeToolCall(name, json.dumps(arguments), id=f"m{n}") for n, (name, arguments) in enumerate(calls))
    )


async def results_the_manager_read(app: Served, fake_openai: FakeOpenAIServer, reply: Reply) -> list[str]:
    """Run once as ana, let the manager answer ``reply`` then finish; the tool results it read."""
    fake_openai.script(Reply.say("ok"), reply, Reply.say("done"))
    await run(app, "Remember things about me")
    await wait_for_requests(fake_openai, 3)
    return [m["content"] for m in fake_openai.bodies[2]["messages"] if m["role"] == "tool"]


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.exc_info]


@pytest.mark.parametrize(
    ("name", "arguments", "answer"),
    [
        ("add_memory", {"memory": 123}, "memory: Input should be a valid string"),
        ("add_memory", {"memory": {"text": "x"}}, "memory: Input should be a valid string"),
        ("add_memory", {"memory": None}, "memory: Input should be a valid string"),
        ("add_memory", {"memory": "User sails", "topics": "abc"}, "topics: Input should be a valid list"),
        ("add_memory", {"memory": "User sails", "topics": {"k": "v"}}, "topics: Input should be a valid list"),
        ("add_memory", {"memory": "User sails", "topics": [1, None]}, "topics[0]: Input should be a valid string"),
        ("update_memory", {"memory_id": 123, "memory": "x"}, "memory_id: Input should be a valid string"),
        ("update_memory", {"memory_id": ["a"], "memory": "x"}, "memory_id: Input should be a valid string"),
        ("delete_memory", {"memory_id": {"id": "a"}}, "memory_id: Input should be a valid string"),
    ],
)
async def test_arguments_of_the_wrong_type_are_answered_before_any_write(
    remembering: Served,
    fake_openai: FakeOpenAIServer,
    caplog: pytest.LogCaptureFixture,
    name: str,
    arguments: dict[str, Any],
    answer: str,
) -> None:
    (result,) = await results_the_manager_read(remembering, fake_openai, manager_calls((name, arguments)))

    assert result == f"Error: the arguments of {name} do not fit it: {answer}"
    assert await memories_of(remembering, "ana") == []
    assert tracebacks(caplog) == []


@pytest.mark.parametrize("reserved", ["index:user_id:ana", "by_session:x", "m" * 1000])
async def test_an_id_no_memory_can_have_is_unknown_and_the_users_memories_keep_working(
    remembering: Served, fake_openai: FakeOpenAIServer, caplog: pytest.LogCaptureFixture, reserved: str
) -> None:
    # With a memory stored, Redis holds ana's index set under ``index:user_id:ana``.
    created = await remembering.client.post("/memories", json={"memory": "User is Ana", "user_id": "ana"})
    assert created.status_code == 200
    calls = manager_calls(
        ("update_memory", {"memory_id": reserved, "memory": "pwned"}),
        ("delete_memory", {"memory_id": reserved}),
        ("add_memory", {"memory": "User likes tea"}),
    )

    results = await results_the_manager_read(remembering, fake_openai, calls)

    unknown = f"There is no memory with ID {reserved}."
    assert results == [unknown, unknown, "Memory added successfully"]
    assert sorted(m["memory"] for m in await memories_of(remembering, "ana")) == ["User is Ana", "User likes tea"]
    assert tracebacks(caplog) == []


async def test_a_memory_longer_than_the_api_allows_is_refused_and_one_at_the_limit_kept(
    remembering: Served, fake_openai: FakeOpenAIServer
) -> None:
    at_limit, over = "a" * MEMORY_MAX_LENGTH, "b" * (MEMORY_MAX_LENGTH + 1)
    calls = manager_calls(("add_memory", {"memory": over}), ("add_memory", {"memory": at_limit}))

    refused, added = await results_the_manager_read(remembering, fake_openai, calls)

    assert refused.startswith(f"A memory may have at most {MEMORY_MAX_LENGTH} characters, this one has ")
    assert added == "Memory added successfully"
    assert [m["memory"] for m in await memories_of(remembering, "ana")] == [at_limit]


async def test_topics_past_their_bounds_are_refused_in_words_and_nothing_is_written(
    remembering: Served, fake_openai: FakeOpenAIServer
) -> None:
    calls = manager_calls(
        ("add_memory", {"memory": "User sails", "topics": [f"t{n}" for n in range(MAX_TOPICS + 1)]}),
        ("add_memory", {"memory": "User sails", "topics": ["x" * (TOPIC_MAX_LENGTH + 1)]}),
        ("add_memory", {"memory": "User sails", "topics": ["  "]}),
        ("add_memory", {"memory": "User sails", "topics": ["sailing"]}),
    )

    results = await results_the_manager_read(remembering, fake_openai, calls)

    assert results == [
        f"The memory was not added: a memory has at most {MAX_TOPICS} topics, not {MAX_TOPICS + 1}.",
        f"The memory was not added: a topic has at most {TOPIC_MAX_LENGTH} characters, not {TOPIC_MAX_LENGTH + 1}.",
        "The memory was not added: a topic cannot be empty.",
        "Memory added successfully",
    ]
    assert [m["topics"] for m in await memories_of(remembering, "ana")] == [["sailing"]]


async def test_a_flood_of_calls_in_one_answer_runs_only_the_first_ones(
    remembering: Served, fake_openai: FakeOpenAIServer
) -> None:
    calls = manager_calls(*(("add_memory", {"memory": f"fact {n}"}) for n in range(MAX_TOOL_CALLS + 3)))

    results = await results_the_manager_read(remembering, fake_openai, calls)

    assert results[:MAX_TOOL_CALLS] == ["Memory added successfully"] * MAX_TOOL_CALLS
    assert set(results[MAX_TOOL_CALLS:]) == {
        f"Error: not run: a conversation runs at most {MAX_TOOL_CALLS} tool calls."
    }
    response = await remembering.client.get("/memories", params={"user_id": "ana", "limit": 100})
    assert response.json()["meta"]["total_count"] == MAX_TOOL_CALLS


async def test_a_failed_extraction_is_logged_in_one_line_without_traceback(
    remembering: Served, fake_openai: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    fake_openai.script(Reply.say("ok"), Reply.fail(400, "bad \x00 request"))

    await run(remembering, "I like jazz")
    await wait_for_requests(fake_openai, 2)

    deadline = time.monotonic() + DEADLINE
    while not (lines := [r.getMessage() for r in caplog.records if "extracting memories after" in r.getMessage()]):
        assert time.monotonic() < deadline, "the failed extraction was never logged"
        await asyncio.sleep(0.01)
    (line,) = lines
    assert "bad \ufffd request" in line and "\x00" not in line
    assert tracebacks(caplog) == []


async def test_agentic_memory_refuses_a_task_that_is_not_text_and_cuts_a_long_manager_answer(
    serve: Callable[..., Any], fake_openai: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(enable_agentic_memory=True) as app:
        fake_openai.script(
            Reply.call(
                FakeToolCall("update_user_memory", json.dumps({"task": {"a": [1, 2]}}), id="bad"),
                FakeToolCall("update_user_memory", json.dumps({"task": "Remember tea"}), id="good"),
            ),
            Reply.say("x" * (MAX_TASK_ANSWER * 5)),
            Reply.say("Done."),
        )

        body = await run(app, "I like tea, remember that")

        bad, good = body["tools"]
        assert (
            bad["result"]
            == "Error: the arguments of update_user_memory do not fit it: task: Input should be a valid string"
        )
        assert good["result"] == "x" * MAX_TASK_ANSWER
        assert "SQL" not in json.dumps(body)
        assert tracebacks(caplog) == []
