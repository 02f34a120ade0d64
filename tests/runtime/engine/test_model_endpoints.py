"""The model adapter on the OpenAI SDK, against endpoints reached the ways real ones are: over
https with a certificate the client is told to trust, on IPv6, one that redirects, one that
needs no key; and a run on each ends the way its user must see it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.config import AgentConfig, ModelConfig
from agentos_runtime.errors import ModelAuthenticationError, ModelConnectionError, ModelProviderError
from agentos_runtime.llm.factory import build_models, close_models
from agentos_runtime.llm.openai import OpenAIChatModel
from agentos_runtime.llm.ports import ChatModel, Completion
from agentos_runtime.runs import Agent, RunRequest
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.engine.fakes import runtime_config
from tests.runtime.engine.model_servers import Certificate, Redirecting, self_signed_certificate, serve, serve_fake
from tests.support.fake_openai import FakeOpenAIServer, Reply

KEY = "sk-test-0123456789abcdef"
HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(certificate: Certificate) -> Iterator[FakeOpenAIServer]:
    with serve_fake(certificate=certificate) as server:
        yield server


@pytest.fixture
def tls_fake(
    tls_server: FakeOpenAIServer, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> FakeOpenAIServer:
    """The https fake, its certificate trusted the standard way (``SSL_CERT_FILE``)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.certfile))
    tls_server.app.reset()
    return tls_server


def model_on(base_url: str, *, api_key: str | None = KEY, **fields: Any) -> OpenAIChatModel:
    config = ModelConfig(id="m", model="gpt-test", base_url=base_url, **{"max_retries": 0, **fields})
    return OpenAIChatModel(config, api_key=api_key)


async def streamed(model: ChatModel) -> tuple[list[str], Completion]:
    items = [item async for item in model.stream(HELLO, None)]
    final = items[-1]
    assert isinstance(final, Completion)
    return [item for item in items[:-1] if isinstance(item, str)], final


def agent_on(model: ChatModel) -> tuple[Agent, InMemoryDatabase]:
    database = InMemoryDatabase(id="db")
    agent = Agent(
        AgentConfig(id="a", name="Agent A"),
        model=model,
        tools=(),
        sessions=database.sessions,
        memories=database.memories,
        registry=None,
        db_id=database.id,
    )
    return agent, database


async def test_an_https_endpoint_answers_json_and_streams(tls_fake: FakeOpenAIServer) -> None:
    tls_fake.script(Reply.say("over tls"), Reply.say("streamed over tls", chunks=3))
    model = model_on(tls_fake.base_url)

    completion = await model.complete(HELLO, None)
    deltas, final = await streamed(model)
    await model.close()

    assert completion.content == "over tls"
    assert deltas == ["stream", "ed ove", "r tls"] and final.content == "streamed over tls"
    assert tls_fake.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_an_https_endpoint_with_an_untrusted_certificate_is_a_connection_error(
    tls_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = self_signed_certificate(tmp_path)  # trusted, but not the one the server shows
    monkeypatch.setenv("SSL_CERT_FILE", str(other.certfile))
    model = model_on(tls_server.base_url)

    with pytest.raises(ModelConnectionError, match="cannot reach the endpoint"):
        await model.complete(HELLO, None)
    await model.close()


async def test_an_https_stream_stalling_after_its_first_chunk_is_a_timeout(tls_fake: FakeOpenAIServer) -> None:
    tls_fake.script(Reply.say("a slow answer", chunks=3, delay=2.0))
    model = model_on(tls_fake.base_url, timeout=0.5)

    started = time.monotonic()
    with pytest.raises(ModelConnectionError) as caught:
        await streamed(model)
    await model.close()

    assert caught.value.detail == "model 'm': the endpoint did not answer in time"
    assert caught.value.status_code == 502
    assert time.monotonic() - started < 5


async def test_a_run_whose_https_stream_stalls_ends_with_a_run_error_saying_so(tls_fake: FakeOpenAIServer) -> None:
    tls_fake.script(Reply.say("a slow answer", chunks=3, delay=2.0))
    model = model_on(tls_fake.base_url, timeout=0.5)
    agent, database = agent_on(model)

    events = [event async for event in agent.run(RunRequest(message="hi", session_id="s1", run_id="r1"))]
    await model.close()

    assert [e.event for e in events][-1] == "RunError"
    error = events[-1].to_dict()
    assert error["content"] == "model 'm': the endpoint did not answer in time"
    assert error["error_id"] == "model_connection_error"
    row = await database.sessions.get_session("s1")
    assert row is not None and row.runs is not None
    assert row.runs[-1]["status"] == "ERROR"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_an_error_naming_it_and_is_not_followed(status: int, fake_openai: FakeOpenAIServer) -> None:
    redirecting = Redirecting(status, fake_openai.base_url + "/chat/completions")
    with serve(redirecting) as port:
        model = model_on(f"http://127.0.0.1:{port}/v1")
        with pytest.raises(ModelProviderError) as completed:
            await model.complete(HELLO, None)
        with pytest.raises(ModelProviderError) as streamed_error:
            await streamed(model)
        await model.close()

    for caught in (completed, streamed_error):
        assert type(caught.value) is ModelProviderError
        assert caught.value.status_code == 502, "a run must not answer its client with the endpoint's redirect"
        assert f"the endpoint answered {status} (a redirect to {fake_openai.base_url}/chat/completions)" in (
            caught.value.detail
        )
        assert "base_url" in caught.value.detail
    assert fake_openai.requests == [], "the redirect was followed"
    assert redirecting.requests == 2, "a redirect is not retried"


async def test_a_run_on_a_redirecting_endpoint_ends_in_error_not_completed_and_empty() -> None:
    with serve(Redirecting(302, "http://127.0.0.1:9/elsewhere")) as port:
        model = model_on(f"http://127.0.0.1:{port}/v1")
        agent, _ = agent_on(model)
        streamed_events = [e.event async for e in agent.run(RunRequest(message="hi", session_id="s1"))]
        output = await agent.complete(RunRequest(message="hi", session_id="s2"))
        await model.close()

    assert streamed_events[-1] == "RunError" and "RunCompleted" not in streamed_events
    assert output["status"] == "ERROR"
    assert "answered 302" in output["content"]


@pytest.mark.parametrize("stream", [False, True])
async def test_an_ipv6_endpoint_is_reached(stream: bool) -> None:
    with serve_fake(host="::1") as server:
        server.script(Reply.say("over ipv6", chunks=2))
        model = model_on(server.base_url)
        if stream:
            _, completion = await streamed(model)
        else:
            completion = await model.complete(HELLO, None)
        await model.close()

    assert server.base_url.startswith("http://[::1]:")
    assert completion.content == "over ipv6"
    assert server.requests[0].headers["host"] == f"[::1]:{server.port}"


@pytest.mark.parametrize("suffix", ["", "/"], ids=["no-trailing-slash", "trailing-slash"])
async def test_requests_go_to_chat_completions_under_the_base_urls_path(
    fake_openai: FakeOpenAIServer, suffix: str
) -> None:
    fake_openai.script(Reply.say("json"), Reply.say("stream", chunks=2))
    model = model_on(f"{fake_openai.base_url}/gateway/openai{suffix}")

    await model.complete(HELLO, None)
    await streamed(model)
    await model.close()

    assert [request.path for request in fake_openai.requests] == ["/v1/gateway/openai/chat/completions"] * 2


async def test_a_default_base_url_with_a_fragment_is_joined_as_the_sdk_joins_it(fake_openai: FakeOpenAIServer) -> None:
    # OPENAI_BASE_URL is not checked as a config's base_url is: a fragment is the client's alone.
    fake_openai.script(Reply.say("json"))
    model = OpenAIChatModel(
        ModelConfig(id="m", model="gpt-test", max_retries=0),
        api_key=KEY,
        default_base_url=f"{fake_openai.base_url}/gateway#part",
    )

    await model.complete(HELLO, None)
    await model.close()

    assert [request.path for request in fake_openai.requests] == ["/v1/gateway/chat/completions"]


async def test_a_local_endpoint_without_a_key_is_called_without_authorization(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("no key needed"), Reply.say("nor here", chunks=2))
    config = runtime_config(models=[{"id": "local", "model": "llama", "base_url": fake_openai.base_url}])
    models = build_models(config, {})  # OPENAI_API_KEY, the default key variable, is unset

    completion = await models["local"].complete(HELLO, None)
    _, final = await streamed(models["local"])
    await close_models(models)

    assert (completion.content, final.content) == ("no key needed", "nor here")
    assert [request.headers.get("authorization") for request in fake_openai.requests] == [None, None]


# A Secret made from a file, or with echo, ends in a newline; sent as is, every request failed.
@pytest.mark.parametrize("value", ["vllm-secret", "  vllm-secret\r\n"], ids=["as-is", "whitespace-dropped"])
async def test_a_local_endpoint_gets_the_key_when_its_variable_is_set(
    fake_openai: FakeOpenAIServer, value: str
) -> None:
    fake_openai.script(Reply.say("keyed"))
    config = runtime_config(models=[{"id": "vllm", "base_url": fake_openai.base_url, "api_key_env": "VLLM_KEY"}])
    models = build_models(config, {"VLLM_KEY": value})

    await models["vllm"].complete(HELLO, None)
    await close_models(models)

    assert fake_openai.requests[0].headers["authorization"] == "Bearer vllm-secret"


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("vllm-\x01secret", "it holds a control character at position 6"),
        ("vllm secret", "it holds a space at position 5"),
        ("vllm-s\u00e9cret", "it holds a character that is not ASCII at position 7"),
        ("vllm-secret\u200b\n", "it holds a character that is not ASCII at position 12"),
    ],
)
async def test_a_key_no_header_can_carry_fails_each_request_naming_the_variable_not_the_key(
    fake_openai: FakeOpenAIServer, key: str, problem: str
) -> None:
    config = runtime_config(models=[{"id": "vllm", "base_url": fake_openai.base_url, "api_key_env": "VLLM_KEY"}])
    models = build_models(config, {"VLLM_KEY": key})
    models["vllm"].prepare()  # the warm-up after start-up: builds nothing, raises nothing

    with pytest.raises(ModelAuthenticationError) as completed:
        await models["vllm"].complete(HELLO, None)
    with pytest.raises(ModelAuthenticationError) as streamed_error:
        await streamed(models["vllm"])
    await close_models(models)

    for caught in (completed, streamed_error):
        assert caught.value.detail == (
            f"model 'vllm': the API key in VLLM_KEY cannot be sent: {problem} (a key is printable ASCII):"
            " check how its Secret or variable was made"
        )
        assert "secret" not in caught.value.detail
    assert fake_openai.requests == []


async def test_openai_without_a_key_fails_each_request_naming_the_variable() -> None:
    # The start-up log's warning for the same case is tested with the start-up lines.
    config = runtime_config(models=[{"id": "main", "model": "gpt-4o-mini", "api_key_env": "TEAM_KEY"}])
    models = build_models(config, {})

    with pytest.raises(ModelAuthenticationError) as completed:
        await models["main"].complete(HELLO, None)
    with pytest.raises(ModelAuthenticationError) as streamed_error:
        await streamed(models["main"])
    await close_models(models)

    for caught in (completed, streamed_error):
        assert caught.value.detail == "model 'main': no API key: set the environment variable TEAM_KEY"
        assert caught.value.status_code == 401


async def test_models_on_one_endpoint_share_one_sdk_client_until_the_last_closes(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.script(Reply.say("first"), Reply.say("second"), Reply.say("third"))
    config = runtime_config(
        models=[
            {"id": "small", "model": "a", "base_url": fake_openai.base_url},
            {"id": "large", "model": "b", "base_url": fake_openai.base_url},
            {"id": "patient", "model": "c", "base_url": fake_openai.base_url, "timeout": 300},
        ]
    )
    models = build_models(config, {"OPENAI_API_KEY": KEY})
    small, large, patient = (models[name] for name in ("small", "large", "patient"))
    assert isinstance(small, OpenAIChatModel) and isinstance(large, OpenAIChatModel)
    assert isinstance(patient, OpenAIChatModel)

    await small.complete(HELLO, None)
    await large.complete(HELLO, None)
    assert small._client is large._client
    assert patient._get_client()._client is small._get_client()._client, "not the same connection pool"
    assert patient._get_client().timeout == 300
    await small.close()
    completion = await patient.complete(HELLO, None)
    await close_models(models)

    assert completion.content == "third"
    assert [body["model"] for body in fake_openai.bodies] == ["a", "b", "c"]


async def test_a_request_that_timed_out_is_retried_within_the_budget(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.stall(10), Reply.say("second try"))
    # 2 s an attempt: the retry must be answered within it too, on a machine however loaded.
    model = model_on(fake_openai.base_url, timeout=2, max_retries=1)

    completion = await model.complete(HELLO, None)
    await model.close()

    assert completion.content == "second try"
    assert len(fake_openai.requests) == 2
    assert [request.headers["x-stainless-retry-count"] for request in fake_openai.requests] == ["0", "1"]
