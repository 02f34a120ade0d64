"""One tool call, whatever goes wrong: failures become results the model reads."""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

import pytest
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.llm.ports import ToolCall
from agentos_runtime.tools import Tool, execute_tool_call
from agentos_runtime.tools.calculator import build_calculator
from agentos_runtime.tools.executing import MAX_LOGGED_FAILURE_CHARS
from agentos_runtime.tools.http_get import HttpGetSettings, build_http_get
from agentos_runtime.tools.mcp.connection import McpToolError
from agentos_runtime.tools.tool import ToolFailed

from tests.support.ports import free_port

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
        ('{"a": 2, "c": 3}', "Error: the arguments of add do not fit it: missing a required argument: 'b'"),
        (
            '{"a": 2, "b": 3, "c": 4}',
            "Error: the arguments of add do not fit it: got an unexpected keyword argument 'c'",
        ),
        ('{"a": 2, "b": "three"}', "Error: the arguments of add do not fit it: b: Input should be a valid integer"),
        ('{"a": [2], "b": 1}', "Error: the arguments of add do not fit it: a: Input should be a valid integer"),
        ('{"a": 2, "b": null}', "Error: the arguments of add do not fit it: b: Input should be a valid integer"),
        (
            '{"a": 2, "b": NaN}',
            "Error: the arguments of add are not a valid JSON object: b: Numbers must be finite: NaN and Infinity",
        ),
        ('{"a": 2, "b": 1e400}', "Error: the arguments of add are not a valid JSON object: b: Numbers must be finite"),
        (
            '{"a": "x\\u0000", "b": 1}',
            "Error: the arguments of add are not a valid JSON object: a: Text may not contain a NUL character",
        ),
        (
            '{"a": {"\\ud800": 1}, "b": 1}',
            "Error: the arguments of add are not a valid JSON object: a.\\ud800: Key: Text may not contain a lone surrogate",
        ),
        (
            '{"a": ' + "[" * 80 + "]" * 80 + ', "b": 1}',
            "Error: the arguments of add are not a valid JSON object: a"
            + "[0]" * 63
            + ": JSON may be nested at most 64",
        ),
        (
            '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "Error: the arguments of add are not a valid JSON object: JSON may be nested at most 64 levels deep",
        ),
    ],
)
async def test_bad_arguments_become_an_error_result_before_the_tool_is_called(
    arguments: str, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = await execute_tool_call(ToolCall("c1", "add", arguments), TOOLS)

    assert outcome.error is True
    assert outcome.result.startswith(expected), outcome.result
    assert outcome.result.encode("utf-8")  # storable and sendable as it is
    assert not [record for record in caplog.records if record.exc_info]  # the model's mistake: no traceback


async def test_arguments_are_passed_as_pydantic_reads_the_annotations_as_agnos_tools_are() -> None:
    outcome = await execute_tool_call(ToolCall("c1", "add", '{"a": 2, "b": "3"}'), TOOLS)

    assert (outcome.result, outcome.error, outcome.arguments) == ("5", False, {"a": 2, "b": "3"})


async def test_a_parameter_without_annotation_takes_anything() -> None:
    async def length(items):  # type: ignore[no-untyped-def]
        return len(items)

    tools = {"length": Tool("length", "Length.", OBJECT, length)}
    outcome = await execute_tool_call(ToolCall("c1", "length", '{"items": [1, 2, 3]}'), tools)

    assert (outcome.result, outcome.error) == ("3", False)


async def test_a_type_error_inside_the_tool_is_still_the_tools_failure(caplog: pytest.LogCaptureFixture) -> None:
    async def length(items):  # type: ignore[no-untyped-def]
        return len(items)

    tools = {"length": Tool("length", "Length.", OBJECT, length)}
    outcome = await execute_tool_call(ToolCall("c1", "length", '{"items": 3}'), tools)

    assert outcome.error is True
    assert outcome.result == "Error: TypeError: object of type 'int' has no len()"
    assert [record.exc_info is not None for record in caplog.records] == [True]  # unforeseen: a traceback


@pytest.mark.parametrize(
    "failure",
    [ToolFailed("knowledge base 'kb' could not be searched: the embedder \x00 failed"), StorageUnavailable("db down")],
)
async def test_a_failure_the_tool_foresaw_is_logged_in_one_line_without_traceback(
    failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    async def fail() -> str:
        raise failure

    outcome = await execute_tool_call(ToolCall("c1", "fail", "{}"), {"fail": Tool("fail", "Fails.", OBJECT, fail)})

    cleaned = str(failure).replace("\x00", "\ufffd")
    assert outcome.error is True and outcome.result == f"Error: {type(failure).__name__}: {cleaned}"
    (record,) = caplog.records
    assert record.exc_info is None and record.getMessage() == f"tool fail failed: {cleaned}"


async def test_a_long_failure_message_reaches_the_model_whole_and_the_log_cut(caplog: pytest.LogCaptureFixture) -> None:
    reason = "failed on purpose: " + "the model asked for this " * 4000  # an MCP tool's error text, echoing its input

    async def fail() -> str:
        raise McpToolError(reason)

    outcome = await execute_tool_call(ToolCall("c1", "fail", "{}"), {"fail": Tool("fail", "Fails.", OBJECT, fail)})

    assert outcome.result == f"Error: McpToolError: {reason}"
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith("tool fail failed: failed on purpose: the model asked")
    assert len(message) == len("tool fail failed: ") + MAX_LOGGED_FAILURE_CHARS + len(" [cut]")
    assert message.endswith(" [cut]")


async def unreachable_mcp_tool() -> str:
    raise McpToolError("MCP server 'facts' is not connected (connecting)", outcome="unavailable")


@pytest.mark.parametrize(
    ("tool", "arguments", "result"),
    [
        (build_calculator(), '{"expression": "1 / 0"}', "Error: CalculationError: division by zero"),
        (
            build_calculator(),
            '{"expression": "' + "-" * 998 + '1"}',
            "Error: CalculationError: the expression is nested more than 600 levels deep",
        ),
        (
            build_http_get(HttpGetSettings(allowed_hosts=["api.example.com"])),
            '{"url": "http://169.254.169.254/latest"}',
            "Error: RefusedURL: refused: host '169.254.169.254' is not in allowed_hosts (api.example.com)",
        ),
        (
            Tool("lookup", "Looks up.", OBJECT, unreachable_mcp_tool),
            "{}",
            "Error: McpToolError: MCP server 'facts' is not connected (connecting)",
        ),
    ],
    ids=["calculator", "calculator-nesting", "http_get", "mcp"],
)
async def test_a_failure_a_built_in_tool_describes_is_one_log_line_without_traceback(
    tool: Tool, arguments: str, result: str, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = await execute_tool_call(ToolCall("c1", tool.name, arguments), {tool.name: tool})

    assert (outcome.error, outcome.result) == (True, result)
    (record,) = caplog.records
    assert record.exc_info is None
    assert record.getMessage() == f"tool {tool.name} failed: {result.split(': ', 2)[2]}"


async def test_a_result_with_nul_or_lone_surrogates_is_kept_with_them_replaced() -> None:
    async def binary_page() -> str:
        return "%PDF\x00\x01 half \ud83d emoji"

    tools = {"fetch": Tool("fetch", "Fetch.", OBJECT, binary_page)}
    outcome = await execute_tool_call(ToolCall("c1", "fetch", "{}"), tools)

    assert (outcome.result, outcome.error) == ("%PDF\ufffd\x01 half \ufffd emoji", False)


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


async def test_tools_one_decorator_wraps_are_each_fitted_to_their_own_annotations() -> None:
    def logged(function: Any) -> Any:
        @functools.wraps(function)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return await function(*args, **kwargs)

        return wrapper

    @logged
    async def repeat(text: str, times: int) -> str:
        return text * times

    @logged
    async def scale(factor: float, values: list[float]) -> list[float]:
        return [factor * value for value in values]

    tools = {"repeat": Tool("repeat", "R.", OBJECT, repeat), "scale": Tool("scale", "S.", OBJECT, scale)}
    repeated = await execute_tool_call(ToolCall("c1", "repeat", '{"text": "ab", "times": 2}'), tools)
    scaled = await execute_tool_call(ToolCall("c2", "scale", '{"factor": 2, "values": [1, 2.5]}'), tools)
    wrong = await execute_tool_call(ToolCall("c3", "scale", '{"factor": 2, "values": "x"}'), tools)

    assert (repeated.result, scaled.result) == ("abab", "[2.0, 5.0]")
    assert wrong.result == "Error: the arguments of scale do not fit it: values: Input should be a valid list"


async def test_a_host_that_cannot_be_reached_is_one_log_line_and_a_result_saying_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens there
    tool = build_http_get(HttpGetSettings(allowed_hosts=[f"127.0.0.1:{port}"]))

    outcome = await execute_tool_call(
        ToolCall("c1", tool.name, f'{{"url": "http://127.0.0.1:{port}/"}}'), {tool.name: tool}
    )

    assert outcome.error and outcome.result.startswith(
        f"Error: FetchFailed: could not fetch http://127.0.0.1:{port}/: "
    )
    (record,) = caplog.records
    assert record.exc_info is None and record.getMessage().startswith("tool http_get failed: could not fetch")
