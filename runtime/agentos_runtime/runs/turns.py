"""The model and tool loop of one run: ask the model, run the tools it calls, ask again.

Each model request is framed by ``ModelRequestStarted``/``ModelRequestCompleted``; text arrives
as ``RunContent`` deltas; each tool call as ``ToolCallStarted``/``ToolCallCompleted``. The loop
ends when the model answers without tool calls. It is bounded: past ``tool_call_limit`` calls
(``MAX_TOOL_CALLS`` without one), or ``MAX_MODEL_REQUESTS`` requests, tools are no longer
offered and further calls are answered with Agno's "Tool call limit reached" result, so every
call in the history has its result. A model that still answers with tool calls on the last
request (made without tools) gave no answer: the run ends with a ``ModelProviderError`` saying
so (``unfinished``), not as a completed run with no content. (Agno bounds only the tool calls
and asks again until the model answers; the bound on requests is the runtime's own.)

A call of a tool that ``requires_confirmation`` is held, not made (``runs.pausing``): the other
calls of the same answer run, then the loop raises ``Paused`` instead of asking the model again.
In a run that cannot pause (``may_pause`` false: without a database, or nested in a run that
cannot, a step inside a workflow's parallel group) such a call is answered with a result saying
it was not executed. ``resolve_held`` runs the decided calls of a paused run going on: the
confirmed ones as any call, the rejected ones answered with the rejection.

Waits on the model and on tools are marked interruptible on the run's handle, so a cancel
through the registry ends them at once; between events the handle's flag is checked. A team's
leader asks its model (``model_request``) and answers calls (``record_tool_message``) with the
same code, its events named as a team's (``runs.team_turns``).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentos_runtime.errors import ModelProviderError
from agentos_runtime.llm.ports import ChatModel, Completion, ToolCall, ToolSchema
from agentos_runtime.runs.events import EventFactory, RunEvent
from agentos_runtime.runs.lifecycle import Paused
from agentos_runtime.runs.messages import new_message, to_chat
from agentos_runtime.runs.metrics import message_metrics, usage_tokens
from agentos_runtime.runs.pausing import (
    Decision,
    decided,
    held_call,
    is_held,
    model_call,
    rejected_result,
    unconfirmable_result,
)
from agentos_runtime.runs.record import RunRecord, call_summary, tool_execution
from agentos_runtime.runs.registry import RunHandle
from agentos_runtime.tools.executing import execute_tool_call, parse_arguments
from agentos_runtime.tools.tool import Tool

JSON = dict[str, Any]

# Most model requests in one run. A model that keeps calling tools is asked for its final
# answer without tools on the last one; tool calls in that answer fail the run.
MAX_MODEL_REQUESTS = 32
# Most tool calls in one run without a ``tool_call_limit`` (the highest one the config takes):
# one answer holding thousands of calls would otherwise run them all.
MAX_TOOL_CALLS = 100


def unfinished(model_id: str, requests: int) -> ModelProviderError:
    """The error of a run whose model still called tools on its last request (made without tools)."""
    return ModelProviderError(
        f"model '{model_id}' was still calling tools on the run's last model request ({requests} are "
        "allowed, the last one without tools): the run ends without an answer",
        model_id=model_id,
    )


def limit_message(tool_name: str) -> str:
    """Agno's result for a call past ``tool_call_limit``."""
    return f"Tool call limit reached. Tool call {tool_name} not executed. Don't try to execute it again."


class ToolEvents(Protocol):
    """The events a tool call is framed with (an agent's or a team leader's)."""

    def tool_call_started(self, tool: JSON) -> RunEvent: ...

    def tool_call_completed(self, tool: JSON, content: str) -> RunEvent: ...


class CallingRun(Protocol):
    """What making a tool call needs of a run: an agent's ``RunContext``, a team's ``LeaderRun``."""

    @property
    def record(self) -> RunRecord: ...

    @property
    def events(self) -> ToolEvents: ...

    @property
    def handle(self) -> RunHandle: ...

    @property
    def chat(self) -> list[JSON]: ...


class TurnEvents(ToolEvents, Protocol):
    """The events a model request is framed with (an agent's or a team leader's)."""

    def model_request_started(self) -> RunEvent: ...

    def content(self, delta: str) -> RunEvent: ...

    def model_request_completed(self, tokens: JSON, time_to_first_token: float | None) -> RunEvent: ...


class AskingRun(CallingRun, Protocol):
    """What asking the model needs of a run: its chat, whether it streams, the text in flight."""

    @property
    def events(self) -> TurnEvents: ...

    @property
    def stream(self) -> bool: ...

    turn_text: list[str]


@dataclass
class RunContext:
    """What the loop works on: the record it fills, the events it emits, the chat it sends."""

    record: RunRecord
    events: EventFactory
    handle: RunHandle
    chat: list[JSON]
    stream: bool
    turn_text: list[str] = field(default_factory=list)
    """Text of the model request in progress (kept as a message if the run is cancelled)."""
    may_pause: bool = False
    """Whether a call needing a confirmation pauses the run (else it is answered, not made)."""
    calls: int = 0
    """Tool calls made so far (held ones included), against the run's limit."""


@dataclass(frozen=True)
class Toolbox:
    tools: Mapping[str, Tool]
    schemas: Sequence[ToolSchema] | None
    limit: int | None


async def run_turns(ctx: RunContext, model: ChatModel, toolbox: Toolbox) -> AsyncGenerator[RunEvent, None]:
    """Yield the events of the loop; raises ``ModelProviderError``, ``RunCancelled`` or ``Paused``."""
    limit = toolbox.limit if toolbox.limit is not None else MAX_TOOL_CALLS
    for number in range(1, MAX_MODEL_REQUESTS + 1):
        may_call = ctx.calls < limit and number < MAX_MODEL_REQUESTS
        completion: Completion | None = None
        async with aclosing(model_request(ctx, model, toolbox.schemas if may_call else None)) as answer:
            async for item in answer:
                if isinstance(item, Completion):
                    completion = item
                else:
                    yield item
        if completion is None or not completion.tool_calls:
            return
        held = False
        for call in completion.tool_calls:
            ctx.handle.check()
            if not may_call or ctx.calls >= limit:
                _record_refused(ctx, call)
                continue
            ctx.calls += 1
            tool = toolbox.tools.get(call.name)
            if tool is not None and tool.requires_confirmation:
                held = hold(ctx, call, may_pause=ctx.may_pause) or held
                continue
            async with aclosing(_call_tool(ctx, call, toolbox.tools)) as steps:
                async for event in steps:
                    yield event
        if held:
            raise Paused()
    raise unfinished(model.id, MAX_MODEL_REQUESTS)


async def resolve_held(
    ctx: CallingRun, decisions: Mapping[str, Decision], tools: Mapping[str, Tool]
) -> AsyncGenerator[RunEvent, None]:
    """Run the confirmed held calls of a paused run and answer the rejected ones, in the model's order.

    A confirmed call runs with the arguments of the model's answer; each held call's
    ``ToolExecution`` on the record becomes its decided form.
    """
    record = ctx.record
    for index, tool in enumerate(list(record.tools)):
        decision = decisions.get(str(tool.get("tool_call_id")))
        if decision is None or not is_held(tool):
            continue
        ctx.handle.check()
        record.tools[index] = decided(tool, decision)
        call = model_call(record.messages, decision.tool_call_id)
        if call is None:  # a stored run whose answer lost the call: run what the record kept
            call = ToolCall(decision.tool_call_id, str(tool.get("tool_name")), json.dumps(tool.get("tool_args") or {}))
        if not decision.confirmed:
            record_tool_message(ctx, call, arguments_or_empty(call), rejected_result(decision), error=True)
            continue
        async with aclosing(_call_tool(ctx, call, tools, replacing=index)) as steps:
            async for event in steps:
                yield event


def hold(ctx: CallingRun, call: ToolCall, *, may_pause: bool) -> bool:
    """Hold ``call`` for a confirmation (``True``), or answer it unmade where the run cannot pause."""
    arguments = arguments_or_empty(call)
    if not may_pause:
        record_tool_message(ctx, call, arguments, unconfirmable_result(call.name), error=True)
        return False
    held = held_call(tool_call_id=call.id, tool_name=call.name, tool_args=arguments, created_at=int(time.time()))
    ctx.record.tools.append(held)
    return True


async def model_request(
    run: AskingRun, model: ChatModel, tools: Sequence[ToolSchema] | None
) -> AsyncGenerator[RunEvent | Completion, None]:
    """One model request: its events (``ModelRequestStarted``, the content, ``ModelRequestCompleted``),
    then its ``Completion``, recorded as an assistant message. Raises ``ModelProviderError`` when
    the answer ends without one, ``RunCancelled`` when the run is cancelled."""
    record, events, handle = run.record, run.events, run.handle
    handle.check()
    yield record.add(events.model_request_started())
    started = time.perf_counter()
    run.turn_text = []
    completion: Completion | None = None
    if run.stream:
        iterator = aiter(model.stream(run.chat, tools))
        try:
            while True:
                handle.interruptible = True
                try:
                    item = await anext(iterator)
                except StopAsyncIteration:
                    break
                finally:
                    handle.interruptible = False
                if isinstance(item, str):
                    _keep_text(run, item)
                    yield events.content(item)
                    handle.check()
                else:
                    completion = item
        finally:
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await close()
    else:
        handle.interruptible = True
        try:
            completion = await model.complete(run.chat, tools)
        finally:
            handle.interruptible = False
        if completion.content:
            _keep_text(run, completion.content)
            yield events.content(completion.content)
    if completion is None:
        raise ModelProviderError(f"model '{model.id}': the answer ended without a completion")
    _record_answer(run, model, completion, duration=time.perf_counter() - started)
    yield record.add(events.model_request_completed(usage_tokens(completion.usage), completion.time_to_first_token))
    yield completion


def _keep_text(run: AskingRun, text: str) -> None:
    run.record.mark_first_token()
    run.record.text.append(text)
    run.turn_text.append(text)


def _record_answer(run: AskingRun, model: ChatModel, completion: Completion, *, duration: float) -> None:
    record = run.record
    message = new_message(
        "assistant",
        completion.content,
        created_at=int(time.time()),
        tool_calls=[call.to_openai() for call in completion.tool_calls],
        provider_data=completion.provider_data,
        metrics=message_metrics(
            completion.usage, duration=duration, time_to_first_token=completion.time_to_first_token
        ),
    )
    record.messages.append(message)
    run.chat.append(to_chat(message))
    run.turn_text = []
    record.metrics.add(completion.usage, model=model.model, provider=model.provider_name)
    if completion.provider_data:
        record.provider_data = completion.provider_data


def record_tool_message(ctx: CallingRun, call: ToolCall, arguments: JSON, result: str, *, error: bool) -> None:
    """Answer ``call`` with ``result``: a tool message on the record and in the chat."""
    message = new_message(
        "tool",
        result,
        created_at=int(time.time()),
        tool_call_id=call.id,
        tool_name=call.name,
        tool_args=arguments,
        tool_call_error=error,
    )
    ctx.record.messages.append(message)
    ctx.chat.append(to_chat(message))


def _record_refused(ctx: RunContext, call: ToolCall) -> None:
    record_tool_message(ctx, call, arguments_or_empty(call), limit_message(call.name), error=True)


async def _call_tool(
    ctx: CallingRun, call: ToolCall, tools: Mapping[str, Tool], *, replacing: int | None = None
) -> AsyncGenerator[RunEvent, None]:
    """Make the call; its ``ToolExecution`` is added to the record, or replaces the one at ``replacing``
    (a held call, confirmed: its decision is kept)."""
    record, events, handle = ctx.record, ctx.events, ctx.handle
    created_at = int(time.time())
    arguments = arguments_or_empty(call)
    started = tool_execution(tool_call_id=call.id, tool_name=call.name, tool_args=arguments, created_at=created_at)
    decision = {} if replacing is None else _decision_fields(record.tools[replacing])
    started.update(decision)
    yield record.add(events.tool_call_started(started))
    handle.interruptible = True
    try:
        outcome = await execute_tool_call(call, tools)
    finally:
        handle.interruptible = False
    timing = {"start_time": outcome.start_time, "end_time": outcome.end_time, "duration": outcome.duration}
    done = tool_execution(
        tool_call_id=call.id,
        tool_name=call.name,
        tool_args=arguments,
        created_at=created_at,
        error=outcome.error,
        result=outcome.result,
        metrics=timing,
    )
    done.update(decision)
    if replacing is None:
        record.tools.append(done)
    else:
        record.tools[replacing] = done
    record_tool_message(ctx, call, arguments, outcome.result, error=outcome.error)
    yield record.add(events.tool_call_completed(done, call_summary(call.name, arguments, outcome.duration)))


def _decision_fields(tool: JSON) -> JSON:
    """What a decided call's ``ToolExecution`` says of its confirmation."""
    return {key: tool.get(key) for key in ("requires_confirmation", "confirmed", "confirmation_note")}


def arguments_or_empty(call: ToolCall) -> JSON:
    """The call's arguments, or none when they are not a JSON object."""
    try:
        return parse_arguments(call.arguments)
    except ValueError:
        return {}
