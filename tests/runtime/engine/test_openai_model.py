"""The OpenAI-compatible adapter against the local fake server: answers, streams, errors."""

from __future__ import annotations

import time
from typing import Any

import pytest
from agentos_runtime.config import ModelConfig
from agentos_runtime.errors import (
    ContextWindowExceededError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelProviderError,
    ModelRateLimitError,
)
from agentos_runtime.llm.factory import build_models
from agentos_runtime.llm.openai import OpenAIChatModel
from agentos_runtime.llm.ports import Completion, ToolCall

from tests.runtime.engine.fakes import runtime_config
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

KEY = "sk-test-0123456789abcdef"
HELLO = [{"role": "user", "content": "hi"}]
ADD_TOOL = {
    "type": "function",
    "function": {"name": "add", "description": "Add.", "parameters": {"type": "object", "properties": {}}},
}


def model_for(server: FakeOpenAIServer, **fields: Any) -> OpenAIChatModel:
    config = ModelConfig(id="m", model="gpt-test", base_url=server.base_url, **{"max_retries": 0, **fields})
    return OpenAIChatModel(config, api_key=KEY)


async def collect(model: OpenAIChatModel, tools: list[Any] | None = None) -> tuple[list[str], Completion]:
    deltas: list[str] = []
    final: Completion | None = None
    async for item in model.stream(HELLO, tools):
        if isinstance(item, Completion):
            final = item
        else:
            assert final is None, "text after the final completion"
            deltas.append(item)
    assert final is not None
    return deltas, final


async def test_complete_returns_the_answer_usage_and_provider_id(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("Hello there", usage=(12, 3)))
    model = model_for(fake_openai, temperature=0.2, max_tokens=50, top_p=0.9)

    completion = await model.complete(HELLO, None)

    assert completion.content == "Hello there"
    assert completion.tool_calls == []
    assert (completion.usage.input_tokens, completion.usage.output_tokens, completion.usage.total_tokens) == (12, 3, 15)
    assert completion.provider_data == {"id": "chatcmpl-fake"}
    request = fake_openai.requests[0]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body == {
        "model": "gpt-test",
        "messages": HELLO,
        "temperature": 0.2,
        "max_tokens": 50,
        "top_p": 0.9,
    }
    await model.close()


async def test_stream_yields_each_delta_then_one_completion_with_usage(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("one two three four", chunks=4, usage=(7, 4)))
    model = model_for(fake_openai)

    deltas, final = await collect(model)

    assert deltas == ["one t", "wo th", "ree ", "four"]
    assert final.content == "one two three four"
    assert final.usage is not None and final.usage.total_tokens == 11
    assert final.time_to_first_token is not None and final.time_to_first_token > 0
    body = fake_openai.bodies[0]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    await model.close()


async def test_stream_reassembles_tool_call_arguments_sent_in_fragments(fake_openai: FakeOpenAIServer) -> None:
    first = FakeToolCall("add", '{"a": 2, "b": 3}', id="call_a")
    second = FakeToolCall("add", '{"a": 10, "b": -4}', id="call_b")
    fake_openai.script(Reply.call(first, second, fragments=5))
    model = model_for(fake_openai)

    deltas, final = await collect(model, [ADD_TOOL])

    assert deltas == []
    assert final.tool_calls == [
        ToolCall(id="call_a", name="add", arguments='{"a": 2, "b": 3}'),
        ToolCall(id="call_b", name="add", arguments='{"a": 10, "b": -4}'),
    ]
    assert fake_openai.bodies[0]["tools"] == [ADD_TOOL]
    await model.close()


async def test_complete_returns_tool_calls_of_a_json_answer(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.call(FakeToolCall("add", '{"a": 1}', id="call_x")))
    model = model_for(fake_openai)

    completion = await model.complete(HELLO, [ADD_TOOL])

    assert completion.content is None
    assert completion.tool_calls == [ToolCall(id="call_x", name="add", arguments='{"a": 1}')]
    await model.close()


async def test_rate_limit_is_retried_then_succeeds(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(
        Reply.fail(429, "Rate limit reached", type="rate_limit_error", headers={"Retry-After": "0.2"}),
        Reply.say("after the wait"),
    )
    model = model_for(fake_openai, max_retries=2)

    started = time.monotonic()
    completion = await model.complete(HELLO, None)

    assert completion.content == "after the wait"
    assert len(fake_openai.requests) == 2
    assert 0.2 <= time.monotonic() - started < 3, "the retry did not wait as Retry-After asked"
    await model.close()


async def test_rate_limit_past_the_retries_is_a_rate_limit_error(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.fail(429, "Rate limit reached", type="rate_limit_error"))
    model = model_for(fake_openai)

    with pytest.raises(ModelRateLimitError) as caught:
        await model.complete(HELLO, None)

    assert caught.value.status_code == 429
    assert caught.value.error_type == "model_provider_error"
    assert "Rate limit reached" in caught.value.detail
    await model.close()


async def test_authentication_failure_is_not_retried_and_never_shows_the_key(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(*[Reply.fail(401, f"Incorrect API key provided: {KEY}", code="invalid_api_key")] * 3)
    model = model_for(fake_openai, max_retries=2)

    with pytest.raises(ModelAuthenticationError) as caught:
        await model.complete(HELLO, None)

    assert len(fake_openai.requests) == 1
    assert caught.value.status_code == 401
    assert "OPENAI_API_KEY" in caught.value.detail
    assert KEY not in caught.value.detail and KEY[:12] not in str(caught.value)
    await model.close()


@pytest.mark.parametrize(
    ("reply", "error_class", "status"),
    [
        (Reply.fail(500, "The server had an error", type="server_error"), ModelProviderError, 500),
        (Reply.fail(404, "The model does not exist", code="model_not_found"), ModelProviderError, 404),
        (
            Reply.fail(400, "This model's maximum context length is 8192 tokens", code="context_length_exceeded"),
            ContextWindowExceededError,
            400,
        ),
        (
            Reply.fail(400, "This model's maximum context length is 4096 tokens. However, you requested 5000"),
            ContextWindowExceededError,
            400,
        ),
        (Reply.fail(400, "Invalid value for 'temperature'"), ModelProviderError, 400),
    ],
)
async def test_error_statuses_map_to_one_error_family(
    fake_openai: FakeOpenAIServer, reply: Reply, error_class: type[ModelProviderError], status: int
) -> None:
    fake_openai.script(reply, reply)
    model = model_for(fake_openai)

    with pytest.raises(error_class) as streamed:
        await collect(model)
    with pytest.raises(error_class) as completed:
        await model.complete(HELLO, None)

    assert type(streamed.value) is error_class and type(completed.value) is error_class
    assert streamed.value.status_code == status and completed.value.status_code == status
    assert streamed.value.model_id == "m"
    await model.close()


async def test_a_hanging_endpoint_fails_quickly_as_a_connection_error(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.stall(30))
    model = model_for(fake_openai, timeout=0.3)

    started = time.monotonic()
    with pytest.raises(ModelConnectionError) as caught:
        await model.complete(HELLO, None)

    assert time.monotonic() - started < 3
    assert caught.value.status_code == 502
    await model.close()


async def test_a_stream_stalling_between_chunks_fails_as_a_connection_error(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("slow answer here", chunks=3, delay=1.0))
    model = model_for(fake_openai, timeout=0.3)

    started = time.monotonic()
    with pytest.raises(ModelConnectionError):
        await collect(model)

    assert time.monotonic() - started < 3
    await model.close()


async def test_a_closed_port_is_a_connection_error() -> None:
    config = ModelConfig(id="m", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    model = OpenAIChatModel(config, api_key=KEY)

    with pytest.raises(ModelConnectionError) as caught:
        await model.complete(HELLO, None)

    assert "cannot reach" in caught.value.detail
    await model.close()


async def test_a_missing_key_for_openai_names_the_variable_and_sends_nothing() -> None:
    # No network here: a request that went out would fail as a connection error instead.
    config = ModelConfig(id="m", api_key_env="TEAM_OPENAI_KEY")
    model = OpenAIChatModel(config, api_key=None)

    with pytest.raises(ModelAuthenticationError) as caught:
        await model.complete(HELLO, None)
    with pytest.raises(ModelAuthenticationError):
        await collect(model)

    assert "TEAM_OPENAI_KEY" in caught.value.detail
    assert model._client is None


async def test_an_endpoint_without_a_key_variable_needs_no_key(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("local model"))
    config = ModelConfig(id="m", model="llama", base_url=fake_openai.base_url, api_key_env=None)
    model = OpenAIChatModel(config, api_key=None)

    completion = await model.complete(HELLO, None)

    assert completion.content == "local model"
    assert "authorization" not in fake_openai.requests[0].headers
    await model.close()


async def test_provider_messages_have_the_key_removed(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.fail(500, f"upstream rejected request signed with {KEY}", type="server_error"))
    model = model_for(fake_openai)

    with pytest.raises(ModelProviderError) as caught:
        await model.complete(HELLO, None)

    assert KEY not in caught.value.detail
    assert "***" in caught.value.detail
    await model.close()


async def test_a_client_passed_in_is_used_and_left_open_for_its_owner(fake_openai: FakeOpenAIServer) -> None:
    import httpx2

    fake_openai.script(Reply.say("via the shared client"))
    shared = httpx2.AsyncClient(headers={"X-Team": "platform"})
    config = ModelConfig(id="m", base_url=fake_openai.base_url, max_retries=0)
    model = OpenAIChatModel(config, api_key=KEY, client=shared)

    completion = await model.complete(HELLO, None)
    await model.close()

    assert completion.content == "via the shared client"
    assert fake_openai.requests[0].headers["x-team"] == "platform"
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert not shared.is_closed
    await shared.aclose()


async def test_server_errors_and_dropped_connections_are_retried_with_backoff(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(
        Reply.fail(503, "Overloaded", type="server_error", headers={"retry-after-ms": "10"}),
        Reply.fail(500, "Oops", type="server_error", headers={"retry-after": "0.05"}),
        Reply.say("third time lucky"),
    )
    model = model_for(fake_openai, max_retries=2)

    completion = await model.complete(HELLO, None)

    assert completion.content == "third time lucky"
    assert len(fake_openai.requests) == 3
    await model.close()


async def test_an_endpoint_saying_not_to_retry_is_not_retried(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.fail(500, "Do not bother", type="server_error", headers={"x-should-retry": "false"}))
    model = model_for(fake_openai, max_retries=2)

    with pytest.raises(ModelProviderError, match="Error code: 500 - Do not bother"):
        await model.complete(HELLO, None)

    assert len(fake_openai.requests) == 1
    await model.close()


async def test_the_base_url_defaults_to_openai_and_the_organization_header_is_sent(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.script(Reply.say("from the default endpoint"))
    config = runtime_config(models=[{"id": "main", "api_key_env": "TEAM_KEY"}])
    environ = {"TEAM_KEY": KEY, "OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_ORG_ID": "org-platform"}
    model = build_models(config, environ)["main"]

    completion = await model.complete(HELLO, None)
    await model.close()

    assert completion.content == "from the default endpoint"
    assert fake_openai.requests[0].headers["openai-organization"] == "org-platform"
    assert "openai-project" not in fake_openai.requests[0].headers
    assert OpenAIChatModel(ModelConfig(id="m"), api_key=KEY)._base_url == "https://api.openai.com/v1"
