"""The fake OpenAI server itself, as the official SDK sees it."""

from __future__ import annotations

import openai
import pytest

from tests.support.fake_openai import (
    BENCHMARK_CHUNKS,
    BENCHMARK_TEXT,
    FakeOpenAI,
    FakeOpenAIServer,
    FakeToolCall,
    Reply,
    serve_fake_openai,
)


def client_for(server: FakeOpenAIServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="sk-fake", base_url=server.base_url, max_retries=0)


async def test_models_are_listed(fake_openai: FakeOpenAIServer) -> None:
    async with client_for(fake_openai) as client:
        models = await client.models.list()

    assert [model.id for model in models.data] == ["fake-model"]


async def test_the_sdk_reassembles_a_scripted_streamed_tool_call(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.call(FakeToolCall("lookup", '{"q": "kopf operators"}', id="call_7"), fragments=4))
    async with client_for(fake_openai) as client:
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]

    fragments = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert len(fragments) == 5
    assert "".join(f.function.arguments or "" for f in fragments) == '{"q": "kopf operators"}'
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 15


async def test_every_request_is_recorded_in_order(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("a"), Reply.say("b"))
    async with client_for(fake_openai) as client:
        for question in ("first", "second"):
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": question}])

    assert [body["messages"][0]["content"] for body in fake_openai.bodies] == ["first", "second"]


async def test_an_unscripted_request_is_a_server_error(fake_openai: FakeOpenAIServer) -> None:
    async with client_for(fake_openai) as client:
        with pytest.raises(openai.InternalServerError, match="no scripted reply left"):
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])


async def test_benchmark_mode_streams_a_fixed_twenty_chunk_answer_and_records_nothing() -> None:
    app = FakeOpenAI.benchmark()
    with serve_fake_openai(app) as server:
        async with client_for(server) as client:
            for _ in range(2):
                stream = await client.chat.completions.create(
                    model="m",
                    messages=[{"role": "user", "content": "x"}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
                text = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
                assert len(text) == BENCHMARK_CHUNKS
                assert "".join(text) == BENCHMARK_TEXT
            answer = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])

    assert answer.choices[0].message.content == BENCHMARK_TEXT
    assert app.requests == []
