"""An endpoint's answer is bounded and never carries the key back: one that never stops (text or
tool-call arguments, streamed or as one JSON body) ends as a provider error once it passes the
limit, read no further; an error the endpoint puts in its answer is shown without the key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from agentos_runtime.config import ModelConfig
from agentos_runtime.errors import ModelProviderError
from agentos_runtime.llm.chunks import MAX_ANSWER_CHARS, ChunkAssembler, completion_from_body
from agentos_runtime.llm.openai import MAX_BODY_BYTES, OpenAIChatModel

from tests.runtime.engine.model_servers import answering

HELLO = [{"role": "user", "content": "hi"}]
KEY = "sk-probe-0123456789abcdef"


def text_chunk(text: str) -> dict[str, object]:
    return {"id": "c", "choices": [{"index": 0, "delta": {"content": text}}]}


def arguments_chunk(arguments: str) -> dict[str, object]:
    call = {"index": 0, "id": "call_1", "function": {"name": "lookup", "arguments": arguments}}
    return {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}


def test_streamed_text_past_the_limit_is_a_provider_error_saying_the_model_is_likely_looping() -> None:
    assembler = ChunkAssembler()
    piece = "x" * 10_000
    for _ in range(MAX_ANSWER_CHARS // len(piece)):
        assembler.feed(text_chunk(piece))

    with pytest.raises(ModelProviderError, match="passed 1,000,000 characters .* likely looping"):
        assembler.feed(text_chunk("x"))


def test_streamed_tool_arguments_count_toward_the_same_limit_as_text() -> None:
    assembler = ChunkAssembler()
    assembler.feed(text_chunk("y" * (MAX_ANSWER_CHARS // 2)))

    with pytest.raises(ModelProviderError, match="passed 1,000,000 characters"):
        assembler.feed(arguments_chunk("z" * (MAX_ANSWER_CHARS // 2 + 1)))


def test_a_json_answer_past_the_limit_is_a_provider_error_and_one_at_it_is_taken() -> None:
    def body(text: str) -> dict[str, object]:
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}

    assert completion_from_body(body("a" * MAX_ANSWER_CHARS)).content == "a" * MAX_ANSWER_CHARS
    with pytest.raises(ModelProviderError, match="passed 1,000,000 characters"):
        completion_from_body(body("a" * (MAX_ANSWER_CHARS + 1)))


async def endless_stream(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
    line = b"data: " + json.dumps(text_chunk("x" * 4000)).encode() + b"\n\n"
    while True:
        writer.write(line * 16)
        await writer.drain()


async def endless_json(writer: asyncio.StreamWriter) -> None:
    writer.write(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"choices": [{"message": {"content": "')
    while True:
        writer.write(b"x" * 65536)
        await writer.drain()


def model(base_url: str) -> OpenAIChatModel:
    return OpenAIChatModel(ModelConfig(id="m", base_url=base_url, max_retries=0, timeout=30), api_key=KEY)


Endpoint = Callable[[asyncio.StreamWriter], Awaitable[None]]


async def failure_of(endpoint: Endpoint, *, stream: bool) -> tuple[ModelProviderError, int]:
    """Ask ``endpoint`` for an answer (streamed or whole) that must fail: the error, and the
    characters of text received before it."""
    received = 0
    async with answering(endpoint) as base_url:
        chat = model(base_url)
        try:
            if stream:
                async for item in chat.stream(HELLO, None):
                    received += len(item) if isinstance(item, str) else 0
            else:
                await chat.complete(HELLO, None)
        except ModelProviderError as error:
            return error, received
        finally:
            await chat.close()
    raise AssertionError("the answer did not fail")


async def test_an_endless_stream_ends_as_a_provider_error_once_past_the_limit() -> None:
    error, received = await failure_of(endless_stream, stream=True)

    assert error.detail.startswith("model 'm': the model endpoint's answer passed 1,000,000 characters")
    assert received <= MAX_ANSWER_CHARS


async def test_an_endless_json_body_is_read_no_further_than_its_limit() -> None:
    error, _ = await failure_of(endless_json, stream=False)

    assert error.detail == (
        f"model 'm': the model endpoint's answer passed {MAX_BODY_BYTES // 2**20} MiB: "
        "it is likely looping; set the model's max_tokens to stop it sooner"
    )


async def error_in_json(writer: asyncio.StreamWriter) -> None:
    body = json.dumps({"error": {"message": f"invalid key {KEY} provided"}}).encode()
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()


async def error_in_stream(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
    writer.write(b"data: " + json.dumps(text_chunk("partial")).encode() + b"\n\n")
    writer.write(b"data: " + json.dumps({"error": {"message": f"quota of key={KEY} spent"}}).encode() + b"\n\n")
    await writer.drain()


async def test_an_error_the_endpoint_puts_in_its_answer_is_shown_without_the_key() -> None:
    completed, _ = await failure_of(error_in_json, stream=False)
    streamed, _ = await failure_of(error_in_stream, stream=True)

    assert completed.detail == "model 'm': the model endpoint reported an error: invalid key *** provided"
    assert streamed.detail == "model 'm': the model endpoint reported an error: quota of key=*** spent"
