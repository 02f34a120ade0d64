"""Model payloads and failures: chunk reassembly and the error mapping, pure functions, no server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from agentos_runtime.errors import (
    ContextWindowExceededError,
    ModelAuthenticationError,
    ModelProviderError,
    ModelRateLimitError,
)
from agentos_runtime.llm.chunks import ChunkAssembler, completion_from_body, iter_chunks, usage_from
from agentos_runtime.llm.failures import status_error


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
