"""One tool call, whatever goes wrong: failures become results the model reads."""

from __future__ import annotations

import asyncio
import threading

import pytest
from agentos_runtime.llm.ports import ToolCall
from agentos_runtime.tools import Tool, execute_tool_call

OBJECT = {"type": "object", "properties": {}}


async def add(a: int, b: int) -> int:
    return a + b


async def explode() -> str:
    raise RuntimeError("the backend is down")


def blocking_echo(text: str) -> dict[str, object]:
    return {"echo": text, "thread": threading.get_ident()}


TOOLS = {
    "add": Tool("add", "Add.", OBJECT, add),
    "explode": Tool("explode", "Fails.", OBJECT, explode),
    "echo": Tool("echo", "Echo.", OBJECT, blocking_echo),
}


async def test_a_successful_call_returns_the_result_and_timing() -> None:
    outcome = await execute_tool_call(ToolCall("c1", "add", '{"a": 2, "b": 3}'), TOOLS)

    assert (outcome.result, outcome.error, outcome.arguments) == ("5", False, {"a": 2, "b": 3})
    assert outcome.end_time >= outcome.start_time and outcome.duration >= 0


async def test_an_exception_in_the_tool_becomes_an_error_result() -> None:
    outcome = await execute_tool_call(ToolCall("c1", "explode", "{}"), TOOLS)

    assert outcome.error is True
    assert outcome.result == "Error: RuntimeError: the backend is down"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"a": 2,', "Error: the arguments of add are not a valid JSON object:"),
        ("[1, 2]", "Error: the arguments of add are not a valid JSON object: the arguments must be a JSON object"),
        ('{"a": 2, "c": 3}', "Error: TypeError:"),
    ],
)
async def test_bad_arguments_become_an_error_result(arguments: str, expected: str) -> None:
    outcome = await execute_tool_call(ToolCall("c1", "add", arguments), TOOLS)

    assert outcome.error is True
    assert outcome.result.startswith(expected)


async def test_an_unknown_tool_becomes_an_error_result_naming_the_available_ones() -> None:
    outcome = await execute_tool_call(ToolCall("c1", "delete_everything", "{}"), TOOLS)

    assert outcome.error is True
    assert outcome.result == "Error: unknown tool 'delete_everything'. Available tools: add, echo, explode."


async def test_a_sync_tool_runs_in_a_worker_thread_and_its_result_is_sent_as_json() -> None:
    outcome = await execute_tool_call(ToolCall("c1", "echo", '{"text": "hi"}'), TOOLS)

    assert outcome.error is False
    assert outcome.result.startswith('{"echo": "hi", "thread": ')
    assert str(threading.get_ident()) not in outcome.result


async def test_cancelling_a_tool_call_is_not_turned_into_a_result() -> None:
    started = asyncio.Event()

    async def wait_forever() -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    tools = {"wait": Tool("wait", "Waits.", OBJECT, wait_forever)}
    task = asyncio.create_task(execute_tool_call(ToolCall("c1", "wait", "{}"), tools))
    await started.wait()
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
