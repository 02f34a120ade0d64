"""Chat-completions payloads to ``Completion``: the JSON body, and streamed chunks reassembled.

Pure functions over parsed JSON, so the adapter can feed them raw bytes parsed once with
``json.loads`` instead of the SDK's per-chunk models. Streamed tool calls arrive in fragments
keyed by ``index`` (id and name first, the arguments JSON split over many chunks); they are
joined here in index order.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agentos_runtime.errors import ModelProviderError
from agentos_runtime.llm.ports import Completion, ToolCall, Usage

JSON = dict[str, Any]

_DATA = "data:"
_DONE = "[DONE]"


def usage_from(payload: JSON | None) -> Usage | None:
    """Our ``Usage`` from an OpenAI ``usage`` object; ``None`` when the endpoint sent none."""
    if not payload:
        return None
    prompt_details = payload.get("prompt_tokens_details") or {}
    completion_details = payload.get("completion_tokens_details") or {}
    input_tokens = payload.get("prompt_tokens") or 0
    output_tokens = payload.get("completion_tokens") or 0
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=payload.get("total_tokens") or input_tokens + output_tokens,
        cache_read_tokens=prompt_details.get("cached_tokens") or 0,
        reasoning_tokens=completion_details.get("reasoning_tokens") or 0,
    )


def completion_from_body(body: JSON) -> Completion:
    """The ``Completion`` of a non-streamed ``chat.completion`` body."""
    _raise_on_error_payload(body)
    choices = body.get("choices") or []
    message = (choices[0].get("message") if choices else None) or {}
    calls = [
        ToolCall(
            id=call.get("id") or _new_call_id(),
            name=(call.get("function") or {}).get("name") or "",
            arguments=(call.get("function") or {}).get("arguments") or "",
        )
        for call in message.get("tool_calls") or []
    ]
    return Completion(
        content=message.get("content"),
        tool_calls=calls,
        usage=usage_from(body.get("usage")),
        provider_data=_provider_data(body),
    )


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
        self.started = False
        """True once a chunk carried content or a tool call."""

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
        delta = choices[0].get("delta") or {}
        fragments = delta.get("tool_calls")
        if fragments:
            self.started = True
            self._add_fragments(fragments)
        text = delta.get("content")
        if text:
            self.started = True
            self._text.append(text)
            return str(text)
        return None

    def _add_fragments(self, fragments: list[JSON]) -> None:
        for position, fragment in enumerate(fragments):
            index = fragment.get("index", position)
            call = self._calls.get(index)
            if call is None:
                call = self._calls[index] = _PartialCall()
            if fragment.get("id"):
                call.id = fragment["id"]
            function = fragment.get("function") or {}
            if function.get("name"):
                call.name += function["name"]
            if function.get("arguments"):
                call.arguments.append(function["arguments"])

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


async def iter_chunks(lines: AsyncIterator[str]) -> AsyncIterator[JSON]:
    """The JSON payloads of an SSE stream's ``data:`` lines, up to ``data: [DONE]``.

    Comments, ``event:`` and blank lines are skipped. A payload that is not JSON means the
    endpoint is not speaking the protocol: that is a provider error (502), not a crash. Lines
    after ``[DONE]`` are read and dropped, so the connection ends cleanly and can be reused.
    """
    done = False
    async for line in lines:
        if done or not line.startswith(_DATA):
            continue
        data = line[len(_DATA) :].strip()
        if data == _DONE:
            done = True
            continue
        if not data:
            continue
        try:
            payload = json.loads(data)
        except ValueError as error:
            raise ModelProviderError(f"the model endpoint sent a malformed stream chunk: {error}") from error
        if isinstance(payload, dict):
            yield payload


def _provider_data(payload: JSON) -> JSON:
    data: JSON = {}
    if payload.get("id"):
        data["id"] = payload["id"]
    if payload.get("system_fingerprint"):
        data["system_fingerprint"] = payload["system_fingerprint"]
    return data


def _raise_on_error_payload(payload: JSON) -> None:
    error = payload.get("error")
    if error is None:
        return
    message = error.get("message") if isinstance(error, dict) else str(error)
    raise ModelProviderError(f"the model endpoint reported an error: {message or 'no message'}")


def _new_call_id() -> str:
    # Some local servers omit call ids; the tool result must still name the call it answers.
    return f"call_{uuid.uuid4().hex[:24]}"
