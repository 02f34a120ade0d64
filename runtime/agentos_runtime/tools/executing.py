"""Running one tool call the model made, whatever goes wrong.

A tool failure is something the model should read and react to, not a crashed run: unknown
tool, arguments that are not a JSON object (or hold what no backend can store: NaN, a NUL,
nesting past ``storable.MAX_JSON_DEPTH``), arguments the function does not take, and any
exception the tool raises all become an ``Error: ...`` result with ``error=True``. This is the
one boundary where tool exceptions are caught. An unforeseen one is logged with its traceback;
a failure the tool described (a ``DescribedFailure``: ``ToolFailed``, a refused URL, an
expression that is not arithmetic, an MCP server's refusal or absence; or one of the runtime's
own errors: a database that is unavailable, a model endpoint that failed) in one line; the model's own mistakes,
caught before the call, are not logged. A result's NUL characters and lone surrogates
become U+FFFD (``storable.clean_text``): a fetched binary page or an MCP server's odd bytes
are stored like any other result. Cancellation is not a failure and propagates.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentos_runtime.errors import AgentOSError, DescribedFailure
from agentos_runtime.llm.ports import ToolCall
from agentos_runtime.logcut import cut
from agentos_runtime.storable import MAX_JSON_DEPTH, clean_text, find_problem, path_text
from agentos_runtime.tools.tool import Tool, UnfitArguments

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolOutcome:
    """What a tool call produced, with Agno's ``ToolExecution`` timing fields."""

    call: ToolCall
    arguments: dict[str, Any]
    """The parsed arguments (empty when they could not be parsed)."""
    result: str
    error: bool
    start_time: float
    end_time: float
    duration: float


def parse_arguments(text: str) -> dict[str, Any]:
    """The arguments JSON as a dict; ``ValueError`` saying why when it is not a JSON object or
    holds what no backend can store (``storable.find_problem``)."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"JSON may be nested at most {MAX_JSON_DEPTH} levels deep") from None
    if not isinstance(value, dict):
        raise ValueError(f"the arguments must be a JSON object, not {type(value).__name__}")
    problem = find_problem(value)
    if problem is not None:
        where = path_text(problem.path).removeprefix(".")
        raise ValueError(f"{where}: {problem.message}" if where else problem.message)
    return value


async def execute_tool_call(call: ToolCall, tools: Mapping[str, Tool]) -> ToolOutcome:
    """Run ``call`` with the matching tool; never raises for a tool-side problem."""
    started_at, started = time.time(), time.perf_counter()
    arguments: dict[str, Any] = {}
    error = True
    tool = tools.get(call.name)
    if tool is None:
        known = ", ".join(sorted(tools)) or "none"
        result = f"Error: unknown tool '{call.name}'. Available tools: {known}."
    else:
        try:
            arguments = parse_arguments(call.arguments)
        except ValueError as problem:
            result = f"Error: the arguments of {call.name} are not a valid JSON object: {problem}"
        else:
            try:
                fitted = tool.fitted(arguments)
            except UnfitArguments as unfit:
                result = f"Error: the arguments of {call.name} do not fit it: {unfit}"
            else:
                result, error = await _run(tool, fitted)
    duration = time.perf_counter() - started
    return ToolOutcome(call, arguments, clean_text(result), error, started_at, started_at + duration, duration)


# The most of a tool's failure message its log line keeps: the message may quote what the model
# passed or what a server answered (an MCP tool's error text, up to its max_result_chars).
MAX_LOGGED_FAILURE_CHARS = 500


def _for_log(message: str) -> str:
    text = clean_text(message)
    return cut(text, MAX_LOGGED_FAILURE_CHARS)


async def _run(tool: Tool, arguments: dict[str, Any]) -> tuple[str, bool]:
    try:
        return await tool.call(arguments), False
    except Exception as problem:  # the tool boundary: any failure is a result the model reads
        if isinstance(problem, DescribedFailure | AgentOSError):  # foreseen: its message says it all
            log.warning("tool %s failed: %s", tool.name, _for_log(str(problem)))
        else:
            log.warning("tool %s failed", tool.name, exc_info=True)
        return f"Error: {type(problem).__name__}: {problem}", True
