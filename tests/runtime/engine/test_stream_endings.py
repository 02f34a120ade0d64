"""A stream is an answer only if it carried one and finished: an endpoint that is not speaking
chat-completion chunks (an HTML page, only empty choices) or a connection cut mid-answer is an
error saying so, never an empty answer taken as complete. Before, each ended as a completed run
with no content."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from agentos_runtime.config import ModelConfig
from agentos_runtime.errors import ModelConnectionError, ModelProviderError
from agentos_runtime.llm.chunks import ChunkAssembler, completion_from_body, iter_chunks, stream_end_problem
from agentos_runtime.llm.openai import OpenAIChatModel
from agentos_runtime.llm.ports import Completion

from tests.runtime.engine.model_servers import answering

HELLO = [{"role": "user", "content": "hi"}]
SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"
NOT_OPENAI = "model 'm': the endpoint answered with no completion chunks: is base_url an OpenAI-compatible endpoint?"
CUT = "model 'm': the endpoint's stream ended before the answer finished"


def choice(delta: dict[str, object], finish_reason: str | None = None) -> dict[str, object]:
    return {"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


USAGE_ONLY = {"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


def sse(*payloads: object, done: bool = True) -> Callable[[asyncio.StreamWriter], Awaitable[None]]:
    """An endpoint streaming ``payloads`` as ``data:`` lines (then ``[DONE]`` if ``done``) and closing."""

    async def send(writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD)
        for payload in payloads:
            writer.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        if done:
            writer.write(b"data: [DONE]\n\n")
        await writer.drain()

    return send


async def html_page(writer: asyncio.StreamWriter) -> None:
    page = b"<html><body>Welcome to nginx!</body></html>"
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: %d\r\n\r\n" % len(page) + page)
    await writer.drain()


async def streamed(send: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> tuple[list[str], Completion]:
    """The text deltas and the completion the model's stream gave."""
    async with answering(send) as base_url:
        chat = OpenAIChatModel(ModelConfig(id="m", base_url=base_url, max_retries=0, timeout=30), api_key=None)
        try:
            items = [item async for item in chat.stream(HELLO, None)]
        finally:
            await chat.close()
    *texts, completion = items
    assert isinstance(completion, Completion) and all(isinstance(text, str) for text in texts)
    return [str(text) for text in texts], completion


@pytest.mark.parametrize(
    "send",
    [html_page, sse(done=True), sse(choice({}) | {"choices": []}, USAGE_ONLY), sse(USAGE_ONLY, done=False)],
    ids=["html-page", "only-done", "only-empty-choices", "usage-only-then-closed"],
)
async def test_a_stream_with_no_completion_chunk_is_a_provider_error_asking_whether_base_url_is_openai_compatible(
    send: Callable[[asyncio.StreamWriter], Awaitable[None]],
) -> None:
    with pytest.raises(ModelProviderError) as raised:
        await streamed(send)
    assert raised.value.detail == NOT_OPENAI
    assert raised.value.model_id == "m"


async def test_a_stream_cut_before_any_finish_reason_or_done_is_a_connection_error_after_the_text_it_gave() -> None:
    texts: list[str] = []
    with pytest.raises(ModelConnectionError) as raised:
        async with answering(sse(choice({"content": "Hel"}), choice({"content": "lo"}), done=False)) as base_url:
            chat = OpenAIChatModel(ModelConfig(id="m", base_url=base_url, max_retries=0), api_key=None)
            try:
                async for item in chat.stream(HELLO, None):
                    texts.append(str(item))
            finally:
                await chat.close()
    assert raised.value.detail == CUT
    assert texts == ["Hel", "lo"]


async def test_a_finish_reason_then_usage_then_done_is_the_standard_ending_and_completes() -> None:
    texts, completion = await streamed(sse(choice({"content": "Hi"}), choice({}, "stop"), USAGE_ONLY))

    assert (texts, completion.content) == (["Hi"], "Hi")
    assert completion.usage is not None and completion.usage.output_tokens == 2


@pytest.mark.parametrize(
    "send",
    [sse(choice({"content": "Hi"}), choice({}, "stop"), done=False), sse(choice({"content": "Hi"}), done=True)],
    ids=["finish-reason-without-done", "done-without-finish-reason"],
)
async def test_either_a_finish_reason_or_done_is_taken_as_the_end(
    send: Callable[[asyncio.StreamWriter], Awaitable[None]],
) -> None:
    texts, completion = await streamed(send)

    assert (texts, completion.content) == (["Hi"], "Hi")


def test_the_end_of_a_stream_is_judged_by_its_choices_finish_reason_and_done() -> None:
    nothing = ChunkAssembler()
    nothing.feed(USAGE_ONLY)
    unfinished = ChunkAssembler()
    unfinished.feed(choice({"content": "x"}))
    finished = ChunkAssembler()
    finished.feed(choice({"content": "x"}, "length"))

    assert isinstance(stream_end_problem(nothing, done=True), ModelProviderError)
    assert isinstance(stream_end_problem(unfinished, done=False), ModelConnectionError)
    assert stream_end_problem(unfinished, done=True) is None
    assert stream_end_problem(finished, done=False) is None
    assert finished.finish_reason == "length"


async def test_the_chunk_stream_tells_whether_it_said_done() -> None:
    async def lines(*items: str):  # type: ignore[no-untyped-def]
        for item in items:
            yield item

    said = iter_chunks(lines('data: {"a": 1}', "data: [DONE]"))
    unsaid = iter_chunks(lines('data: {"a": 1}'))

    assert [p async for p in said] == [{"a": 1}] == [p async for p in unsaid]
    assert (said.done, unsaid.done) == (True, False)


def test_a_json_answer_with_no_choice_is_a_provider_error_too() -> None:
    with pytest.raises(ModelProviderError, match="no completion: is base_url an OpenAI-compatible endpoint"):
        completion_from_body({"id": "x", "object": "list", "data": []})
