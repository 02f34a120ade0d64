"""Chat-completions payloads to ``Completion``: the JSON body, and streamed chunks reassembled.

Pure functions over parsed JSON, so the adapter can feed them raw bytes parsed once with
``json.loads`` instead of the SDK's per-chunk models. Streamed tool calls arrive in fragments
keyed by ``index`` (id and name first, the arguments JSON split over many chunks); they are
joined here in index order.

This is where a model's answer enters the runtime, so it is checked here as any input is: an
answer past ``MAX_ANSWER_CHARS`` is a ``ModelProviderError`` (an endpoint that never stops); a
part of the wrong type (a ``choices`` that is not a list, content that is not text, a tool
call's ``index`` that is not a number) is a ``ModelProviderError`` naming the part, never a
crash; a stream that ends with no chunk carrying a choice (an HTML page, a server speaking
another protocol) or stops before the answer finished (no ``finish_reason``, no ``data: [DONE]``:
the connection was cut) is an error saying so (``stream_end_problem``), never an empty answer
taken as complete; text is kept with NUL and lone surrogates replaced by U+FFFD (``storable.clean_text``),
so an answer is stored alike on every backend and never lost for a stray character; a token
count that is not a whole number from 0 to 2^63-1 counts as 0 rather than poisoning the
metrics.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agentos_runtime.errors import ModelConnectionError, ModelProviderError
from agentos_runtime.llm.ports import Completion, ToolCall, Usage
from agentos_runtime.storable import MAX_COUNT, clean_text, count_or_zero

JSON = dict[str, Any]

_DATA = "data:"
_DONE = "[DONE]"

# The most text and tool-call arguments one answer may carry, in characters. Models stop far
# sooner (a 128k-token answer is about 500,000): an endpoint past this is looping, and the run
# ends with an error rather than hold ever more of it in memory, on the stream and in the save.
MAX_ANSWER_CHARS = 1_000_000


def usage_from(payload: Any) -> Usage | None:
    """Our ``Usage`` from an OpenAI ``usage`` object; ``None`` when the endpoint sent none."""
    if not payload or not isinstance(payload, dict):
        return None
    prompt_details = payload.get("prompt_tokens_details")
    completion_details = payload.get("completion_tokens_details")
    input_tokens = count_or_zero(payload.get("prompt_tokens"))
    output_tokens = count_or_zero(payload.get("completion_tokens"))
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=count_or_zero(payload.get("total_tokens")) or min(input_tokens + output_tokens, MAX_COUNT),
        cache_read_tokens=count_or_zero(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0,
        reasoning_tokens=(
            count_or_zero(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else 0
        ),
    )


def completion_from_body(body: JSON) -> Completion:
    """The ``Completion`` of a non-streamed ``chat.completion`` body."""
    _raise_on_error_payload(body)
    choices = _expect(body.get("choices") or [], list, "choices")
    if not choices:
        raise ModelProviderError("the endpoint answered with no completion: is base_url an OpenAI-compatible endpoint?")
    choice = _expect(choices[0], dict, "choices[0]")
    message = _expect(choice.get("message") or {}, dict, "choices[0].message")
    where = "choices[0].message.tool_calls"
    calls = [
        _tool_call(_expect(call, dict, f"{where}[{position}]"), f"{where}[{position}]")
        for position, call in enumerate(_expect(message.get("tool_calls") or [], list, where))
    ]
    content = _text(message.get("content"), "choices[0].message.content")
    _check_size(len(content or "") + sum(len(call.arguments) for call in calls))
    return Completion(
        content=content,
        tool_calls=calls,
        usage=usage_from(body.get("usage")),
        provider_data=_provider_data(body),
    )


def _check_size(chars: int) -> None:
    if chars > MAX_ANSWER_CHARS:
        raise ModelProviderError(
            f"the model endpoint's answer passed {MAX_ANSWER_CHARS:,} characters of text and tool arguments: "
            "it is likely looping; set the model's max_tokens to stop it sooner"
        )


def _tool_call(call: JSON, where: str) -> ToolCall:
    function = _expect(call.get("function") or {}, dict, f"{where}.function")
    return ToolCall(
        id=_text(call.get("id"), f"{where}.id") or _new_call_id(),
        name=_text(function.get("name"), f"{where}.function.name") or "",
        arguments=_text(function.get("arguments"), f"{where}.function.arguments") or "",
    )


_T = TypeVar("_T")
_KINDS: dict[type, str] = {dict: "an object", list: "a list", str: "text"}


def _expect(value: Any, kind: type[_T], where: str) -> _T:
    """``value`` when it is a ``kind``; else a provider error naming the part of the answer."""
    if isinstance(value, kind):
        return value
    found = "null" if value is None else _KINDS.get(type(value), type(value).__name__)
    raise ModelProviderError(f"the model endpoint sent a malformed answer: {where} is {found}, not {_KINDS[kind]}")


def _text(value: Any, where: str) -> str | None:
    """Text of the answer, cleaned (``storable.clean_text``); ``None`` when absent."""
    return None if value is None else clean_text(_expect(value, str, where))


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ChunkAssembler:
    """Joins ``chat.completion.chunk`` payloads into one ``Completion``.

    ``feed`` returns the text delta a chunk carries (or ``None``) and whether the chunk was the
    first one with content or a tool call, so the caller can time the first token.
    """

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: dict[int, _PartialCall] = {}
        self._usage: Usage | None = None
        self._provider_data: JSON = {}
        self._size = 0
        self.started = False
        """True once a chunk carried content or a tool call."""
        self.chose = False
        """True once a chunk carried a choice (usage-only and error chunks carry none)."""
        self.finish_reason: str | None = None
        """The ``finish_reason`` a choice ended with (``stop``, ``tool_calls``, ``length``...)."""

    def feed(self, chunk: JSON) -> str | None:
        """Take one chunk; return its text delta, if any."""
        if not self._provider_data and chunk.get("id"):
            self._provider_data = _provider_data(chunk)
        usage = chunk.get("usage")
        if usage:
            self._usage = usage_from(usage)
        choices = chunk.get("choices")
        if not choices:
            if "error" in chunk:
                _raise_on_error_payload(chunk)
            return None
        choice = _expect(_expect(choices, list, "choices")[0], dict, "choices[0]")
        self.chose = True
        reason = choice.get("finish_reason")
        if reason:
            self.finish_reason = clean_text(str(reason))
        delta = _expect(choice.get("delta") or {}, dict, "choices[0].delta")
        fragments = delta.get("tool_calls")
        if fragments:
            self.started = True
            self._add_fragments(_expect(fragments, list, "choices[0].delta.tool_calls"))
        text = _text(delta.get("content"), "choices[0].delta.content")
        if text:
            self.started = True
            self._grow(len(text))
            self._text.append(text)
            return text
        return None

    def _grow(self, chars: int) -> None:
        self._size += chars
        _check_size(self._size)

    def _add_fragments(self, fragments: list[Any]) -> None:
        for position, fragment in enumerate(fragments):
            where = f"choices[0].delta.tool_calls[{position}]"
            fragment = _expect(fragment, dict, where)
            index = fragment.get("index", position)
            if not isinstance(index, int) or isinstance(index, bool):
                raise ModelProviderError(f"the model endpoint sent a malformed answer: {where}.index is not a number")
            call = self._calls.get(index)
            if call is None:
                call = self._calls[index] = _PartialCall()
            if fragment.get("id"):
                call.id = _text(fragment["id"], f"{where}.id") or ""
            function = _expect(fragment.get("function") or {}, dict, f"{where}.function")
            if function.get("name"):
                name = _text(function["name"], f"{where}.function.name") or ""
                self._grow(len(name))
                call.name += name
            if function.get("arguments"):
                arguments = _text(function["arguments"], f"{where}.function.arguments") or ""
                self._grow(len(arguments))
                call.arguments.append(arguments)

    def finish(self, *, time_to_first_token: float | None) -> Completion:
        """The whole answer: joined text, tool calls in index order, usage."""
        calls = [
            ToolCall(id=call.id or _new_call_id(), name=call.name, arguments="".join(call.arguments))
            for _, call in sorted(self._calls.items())
        ]
        return Completion(
            content="".join(self._text) if self._text else None,
            tool_calls=calls,
            usage=self._usage,
            provider_data=self._provider_data,
            time_to_first_token=time_to_first_token,
        )


def stream_end_problem(assembler: ChunkAssembler, *, done: bool) -> ModelProviderError | None:
    """What is wrong with a stream that ended here (``done``: it said ``data: [DONE]``), if anything.

    No chunk carried a choice: the endpoint answered, but not with chat-completion chunks (a
    web page, another API), a provider error. Choices came, but none said how the answer
    finished and the stream never said ``[DONE]``: the connection was cut mid-answer, a
    connection error. A ``finish_reason`` on the last choice chunk is what OpenAI, vLLM,
    llama.cpp and Ollama all send; either it or ``[DONE]`` is taken as the end.
    """
    if not assembler.chose:
        return ModelProviderError(
            "the endpoint answered with no completion chunks: is base_url an OpenAI-compatible endpoint?"
        )
    if assembler.finish_reason is None and not done:
        return ModelConnectionError("the endpoint's stream ended before the answer finished")
    return None


class ChunkStream:
    """The JSON payloads of an SSE stream's ``data:`` lines, up to ``data: [DONE]`` (then ``done``).

    Comments, ``event:`` and blank lines are skipped. A payload that is not JSON means the
    endpoint is not speaking the protocol: that is a provider error (502), not a crash. Lines
    after ``[DONE]`` are read and dropped, so the connection ends cleanly and can be reused.
    """

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines
        self.done = False
        """True once the stream said ``data: [DONE]``."""

    async def __aiter__(self) -> AsyncIterator[JSON]:
        async for line in self._lines:
            if self.done or not line.startswith(_DATA):
                continue
            data = line[len(_DATA) :].strip()
            if data == _DONE:
                self.done = True
                continue
            if not data:
                continue
            try:
                payload = json.loads(data)
            except ValueError as error:
                raise ModelProviderError(f"the model endpoint sent a malformed stream chunk: {error}") from error
            except RecursionError:
                raise ModelProviderError(
                    "the model endpoint sent a malformed stream chunk: JSON nested too deeply"
                ) from None
            if isinstance(payload, dict):
                yield payload


def iter_chunks(lines: AsyncIterator[str]) -> ChunkStream:
    """``ChunkStream(lines)``: iterate it for the payloads, then read its ``done``."""
    return ChunkStream(lines)


def _provider_data(payload: JSON) -> JSON:
    """The answer's id and system fingerprint, when they are text (anything else is dropped)."""
    data: JSON = {}
    for key in ("id", "system_fingerprint"):
        value = payload.get(key)
        if value and isinstance(value, str):
            data[key] = clean_text(value)
    return data


def _raise_on_error_payload(payload: JSON) -> None:
    error = payload.get("error")
    if error is None:
        return
    message = error.get("message") if isinstance(error, dict) else error
    raise ModelProviderError(f"the model endpoint reported an error: {clean_text(str(message or 'no message'))}")


def _new_call_id() -> str:
    # Some local servers omit call ids; the tool result must still name the call it answers.
    return f"call_{uuid.uuid4().hex[:24]}"
