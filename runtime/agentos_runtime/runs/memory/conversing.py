"""A short model conversation with tools, for helpers that are not runs (the memory manager).

The model is asked, the tools it calls are run and their results sent back, until it answers
without tool calls or ``max_requests`` is reached. Unlike a run nothing is streamed or stored,
and only a tool's own complaint about its arguments becomes a result the model reads: any
other exception (an unreachable database, a model error) propagates to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agentos_runtime.llm.ports import ChatModel, Message
from agentos_runtime.tools.executing import parse_arguments
from agentos_runtime.tools.tool import Tool

# Requests one conversation may make: each lets the model act on the results of the last.
MAX_REQUESTS = 5
# Tool calls one conversation runs; later ones are answered without running (a model that
# answers with thousands of calls must not hold a run's memory task for minutes).
MAX_TOOL_CALLS = 50


async def converse(
    model: ChatModel, messages: Sequence[Message], tools: Sequence[Tool], *, max_requests: int = MAX_REQUESTS
) -> str:
    """The model's final text (``""`` when it ended with tool calls only)."""
    by_name = {tool.name: tool for tool in tools}
    schemas = [tool.schema() for tool in tools] or None
    chat = list(messages)
    text = ""
    calls_left = MAX_TOOL_CALLS
    for number in range(1, max_requests + 1):
        completion = await model.complete(chat, schemas if number < max_requests else None)
        text = completion.content or ""
        if not completion.tool_calls:
            return text
        chat.append(
            {
                "role": "assistant",
                "content": completion.content,
                "tool_calls": [c.to_openai() for c in completion.tool_calls],
            }
        )
        for call in completion.tool_calls:
            if calls_left > 0:
                result = await _call(by_name, call.name, call.arguments)
            else:
                result = f"Error: not run: a conversation runs at most {MAX_TOOL_CALLS} tool calls."
            calls_left -= 1
            chat.append({"role": "tool", "tool_call_id": call.id, "content": result})
    return text


async def _call(tools: Mapping[str, Tool], name: str, arguments: str) -> str:
    tool = tools.get(name)
    if tool is None:
        return f"Error: unknown tool '{name}'. Available tools: {', '.join(sorted(tools))}."
    try:
        # JSON that is not an object, that no backend can store, or that the tool does not take
        fitted = tool.fitted(parse_arguments(arguments))
    except ValueError as problem:
        return f"Error: the arguments of {name} do not fit it: {problem}"
    return await tool.call(fitted)
