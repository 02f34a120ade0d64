"""Model payloads and failures: chunk reassembly and the error mapping, pure functions, no server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from agentos_runtime.errors import (
    ContextWindowExceededError,
    ModelAuthenticationError,
    ModelProviderError,
    ModelRateLimitError,
)
from agentos_runtime.llm.chunks import ChunkAssembler, completion_from_body, iter_chunks, usage_from
from agentos_runtime.llm.failures import status_error
from agentos_runtime.llm.ports import ToolCall, Usage


def chunk(delta: dict, **extra: object) -> dict:
    return {"id": "chatcmpl-9", "choices": [{"index": 0, "delta": delta, "finish_reason": None}], **extra}


def test_tool_call_fragments_are_joined_by_index_in_index_order() -> None:
    assembler = ChunkAssembler()
    assembler.feed(chunk({"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "mul", "arguments": ""}}]}))
    assembler.feed(chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "add", "arguments": "{"}}]}))
    assembler.feed(chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"x": 2'}}]}))
    assembler.feed(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"a": 1}'}}]}))
    assembler.feed(chunk({"tool_calls": [{"index": 1, "function": {"arguments": "}"}}]}))

    completion = assembler.finish(time_to_first_token=0.1)

    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == [
        ("call_a", "add", '{"a": 1}'),
        ("call_b", "mul", '{"x": 2}'),
    ]
    assert completion.content is None
    assert completion.time_to_first_token == 0.1


def test_a_tool_call_without_an_id_gets_one() -> None:
    assembler = ChunkAssembler()
    assembler.feed(chunk({"tool_calls": [{"function": {"name": "now", "arguments": "{}"}}]}))

    (tool_call,) = assembler.finish(time_to_first_token=None).tool_calls

    assert tool_call.id.startswith("call_") and len(tool_call.id) > 10
    assert tool_call.name == "now"


def test_text_deltas_are_returned_and_joined_and_usage_comes_from_the_last_chunk() -> None:
    assembler = ChunkAssembler()
    assert assembler.feed(chunk({"role": "assistant", "content": ""})) is None
    assert not assembler.started
    assert assembler.feed(chunk({"content": "Hel"})) == "Hel"
    assert assembler.started
    assert assembler.feed(chunk({"content": "lo"})) == "lo"
    assembler.feed({"id": "chatcmpl-9", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}})

    completion = assembler.finish(time_to_first_token=None)

    assert completion.content == "Hello"
    assert completion.usage is not None
    assert (completion.usage.input_tokens, completion.usage.output_tokens, completion.usage.total_tokens) == (9, 2, 11)
    assert completion.provider_data == {"id": "chatcmpl-9"}


def test_usage_details_become_cache_and_reasoning_tokens() -> None:
    usage = usage_from(
        {
            "prompt_tokens": 100,
            "completion_tokens": 40,
            "total_tokens": 140,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 30},
        }
    )

    assert usage is not None
    assert (usage.cache_read_tokens, usage.reasoning_tokens, usage.total_tokens) == (64, 30, 140)
    assert usage_from(None) is None


def test_a_json_body_with_an_error_object_is_a_provider_error() -> None:
    with pytest.raises(ModelProviderError, match="overloaded"):
        completion_from_body({"error": {"message": "The engine is overloaded"}})


async def lines(*items: str) -> AsyncIterator[str]:
    for item in items:
        yield item


async def test_sse_lines_give_json_payloads_until_done() -> None:
    payloads = [
        p
        async for p in iter_chunks(
            lines(
                ": keep-alive",
                "",
                'data: {"a": 1}',
                "event: ignored",
                'data:{"b": 2}',
                "data: [DONE]",
                'data: {"c": 3}',
            )
        )
    ]

    assert payloads == [{"a": 1}, {"b": 2}]


async def test_a_malformed_stream_chunk_is_a_provider_error() -> None:
    with pytest.raises(ModelProviderError, match="malformed"):
        [p async for p in iter_chunks(lines("data: {not json"))]


def test_an_error_chunk_in_the_middle_of_a_stream_is_a_provider_error() -> None:
    assembler = ChunkAssembler()
    assembler.feed(chunk({"content": "partial"}))

    with pytest.raises(ModelProviderError, match="server_error happened"):
        assembler.feed({"error": {"message": "server_error happened"}})


@pytest.mark.parametrize(
    ("status", "message", "code", "error_class", "expected_status"),
    [
        (401, "Incorrect API key provided: sk-secret-123", "invalid_api_key", ModelAuthenticationError, 401),
        (429, "Rate limit reached", None, ModelRateLimitError, 429),
        (400, "too long", "context_length_exceeded", ContextWindowExceededError, 400),
        (413, "Request too large: prompt is too long for this model", None, ContextWindowExceededError, 400),
        (400, "Unknown parameter: 'foo'", None, ModelProviderError, 400),
        (503, "The engine is currently overloaded", None, ModelProviderError, 503),
    ],
)
def test_error_statuses_map_to_one_family_without_the_key(
    status: int, message: str, code: str | None, error_class: type[ModelProviderError], expected_status: int
) -> None:
    error = status_error(status, message, code=code, model_id="m", api_key_env="TEAM_KEY", api_key="sk-secret-123")

    assert type(error) is error_class
    assert error.status_code == expected_status
    assert "sk-secret-123" not in error.detail
    assert error.detail.startswith("model 'm': ")
    if status == 401:
        assert error.detail == "model 'm': the endpoint rejected the API key from TEAM_KEY (401)"


# A model's answer is input like any other: (what the endpoint sent, words of the provider error).
MALFORMED_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"choices": "none"}, "choices is text, not a list"),
    ({"choices": ["text"]}, "choices[0] is text, not an object"),
    ({"choices": [{"message": [1]}]}, "choices[0].message is a list, not an object"),
    ({"choices": [{"message": {"content": ["part"]}}]}, "choices[0].message.content is a list, not text"),
    ({"choices": [{"message": {"content": 42}}]}, "choices[0].message.content is int, not text"),
    ({"choices": [{"message": {"tool_calls": {"id": "c"}}}]}, "choices[0].message.tool_calls is an object, not a list"),
    ({"choices": [{"message": {"tool_calls": [7]}}]}, "choices[0].message.tool_calls[0] is int, not an object"),
    (
        {"choices": [{"message": {"tool_calls": [{"function": {"name": ["x"]}}]}}]},
        "choices[0].message.tool_calls[0].function.name is a list, not text",
    ),
    (
        {"choices": [{"message": {"tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}}]},
        "choices[0].message.tool_calls[0].function.arguments is an object, not text",
    ),
]


@pytest.mark.parametrize(("body", "words"), MALFORMED_BODIES, ids=[words for _, words in MALFORMED_BODIES])
def test_a_body_of_the_wrong_shape_is_a_provider_error_naming_the_part(body: dict[str, Any], words: str) -> None:
    with pytest.raises(ModelProviderError, match="the model endpoint sent a malformed answer: " + re.escape(words)):
        completion_from_body(body)


MALFORMED_CHUNKS: list[tuple[dict[str, Any], str]] = [
    ({"choices": {"0": {}}}, "choices is an object, not a list"),
    ({"choices": [None]}, "choices[0] is null, not an object"),
    ({"choices": [{"delta": "hi"}]}, "choices[0].delta is text, not an object"),
    ({"choices": [{"delta": {"content": {"text": "hi"}}}]}, "choices[0].delta.content is an object, not text"),
    (
        {"choices": [{"delta": {"tool_calls": [{"index": "0"}]}}]},
        "choices[0].delta.tool_calls[0].index is not a number",
    ),
    (
        {"choices": [{"delta": {"tool_calls": [{"index": [0]}]}}]},
        "choices[0].delta.tool_calls[0].index is not a number",
    ),
    (
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": 5}}]}}]},
        "choices[0].delta.tool_calls[0].function.arguments is int, not text",
    ),
]


@pytest.mark.parametrize(("chunk", "words"), MALFORMED_CHUNKS, ids=[words for _, words in MALFORMED_CHUNKS])
def test_a_chunk_of_the_wrong_shape_is_a_provider_error_naming_the_part(chunk: dict[str, Any], words: str) -> None:
    with pytest.raises(ModelProviderError, match="the model endpoint sent a malformed answer: " + re.escape(words)):
        ChunkAssembler().feed(chunk)


def test_text_the_model_sends_is_kept_with_nul_and_lone_surrogates_replaced() -> None:
    body = {
        "id": "chatcmpl\x00",
        "choices": [
            {
                "message": {
                    "content": "a\x00b \ud800 \U0001f600",
                    "tool_calls": [{"id": "c\ud800", "function": {"name": "f\x00", "arguments": '{"q": "\x00"}'}}],
                }
            }
        ],
    }
    completion = completion_from_body(body)
    assert completion.content == "a\ufffdb \ufffd \U0001f600"
    assert completion.tool_calls == [ToolCall(id="c\ufffd", name="f\ufffd", arguments='{"q": "\ufffd"}')]
    assert completion.provider_data == {"id": "chatcmpl\ufffd"}

    assembler = ChunkAssembler()
    assert assembler.feed({"choices": [{"delta": {"content": "x\x00"}}]}) == "x\ufffd"
    assembler.feed({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"name": "g\ud800"}}]}}]})
    finished = assembler.finish(time_to_first_token=None)
    assert finished.content == "x\ufffd" and finished.tool_calls[0].name == "g\ufffd"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, 2**63, "12", True, [3], {"n": 3}, 1.5], ids=repr)
def test_a_token_count_that_cannot_be_trusted_counts_as_zero(value: object) -> None:
    usage = usage_from(
        {"prompt_tokens": value, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": value}}
    )
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens, usage.cache_read_tokens) == (0, 4, 4, 0)


def test_whole_float_counts_and_odd_detail_objects_are_read_as_well_as_they_can_be() -> None:
    usage = usage_from({"prompt_tokens": 7.0, "completion_tokens": 2**63 - 1, "prompt_tokens_details": "n/a"})
    assert usage == Usage(input_tokens=7, output_tokens=2**63 - 1, total_tokens=2**63 - 1)
    assert usage_from(["not", "usage"]) is None


def test_an_error_message_from_the_endpoint_is_cleaned_too() -> None:
    with pytest.raises(ModelProviderError) as caught:
        completion_from_body({"error": {"message": "bad\x00 \ud800"}})
    assert caught.value.detail == "the model endpoint reported an error: bad\ufffd \ufffd"
