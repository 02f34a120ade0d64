"""The OpenAI-compatible embedder against the local fake server: batches, order, checks, errors, keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from agentos_runtime.config.knowledge import EmbedderConfig, EmbedderFields
from agentos_runtime.errors import (
    BadRequest,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelProviderError,
    ModelRateLimitError,
)
from agentos_runtime.knowledge.embedding import EmbeddingCall, OpenAIEmbedder, build_embedder, sends_dimensions
from agentos_runtime.llm.clients import SharedClients

from tests.runtime.knowledge.broken_embeddings import (
    BrokenServer,
    base64_vector,
    broken_embeddings,
    broken_embeddings_server,
    raw_vector,
)
from tests.support.fake_embeddings import fake_embedding
from tests.support.fake_openai import EmbeddingReply, FakeOpenAIServer, serve_fake_openai

__all__ = ["broken_embeddings", "broken_embeddings_server"]

KEY = "sk-test-embed-0123456789"
TEXTS = ["vacation policy", "expense reports", "on-call rota", "laptop refresh", "parental leave"]
# Sent on every retry: answered in a millisecond instead of the SDK's half-second back-off.
FAST_RETRY = {"retry-after-ms": "1"}


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeOpenAIServer]:
    with serve_fake_openai() as server:
        yield server


@pytest.fixture
def fake_openai(model_server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    """The module's fake server, with no scripted answer and no recorded request."""
    model_server.app.reset()
    yield model_server
    model_server.app.reset()


def embedder_for(
    server: FakeOpenAIServer, *, api_key: str | None = KEY, observe: Any = None, **fields: Any
) -> OpenAIEmbedder:
    settings = {"model": "text-embedding-3-small", "dimensions": 64, "max_retries": 0, **fields}
    config = EmbedderFields(base_url=server.base_url, **settings)
    return OpenAIEmbedder(config, api_key, api_key_env="EMBED_KEY", observe=observe)


def expected(texts: list[str], dimensions: int = 64) -> list[Any]:
    # Vectors travel as base64 float32: equal to the fake's float64 values to float32 precision.
    return [pytest.approx(fake_embedding(text, dimensions), rel=1e-6, abs=1e-7) for text in texts]


async def test_each_text_gets_its_vector_in_order(fake_openai: FakeOpenAIServer) -> None:
    embedder = embedder_for(fake_openai)

    vectors = await embedder.embed(TEXTS[:2])

    assert vectors == expected(TEXTS[:2])
    request = fake_openai.embedding_requests[0]
    assert request.path == "/v1/embeddings"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body == {
        "model": "text-embedding-3-small",
        "input": TEXTS[:2],
        "dimensions": 64,
        "encoding_format": "base64",
    }
    assert fake_openai.requests == [], "embeddings are recorded apart from chat requests"
    await embedder.close()


async def test_texts_are_sent_batch_size_at_a_time(fake_openai: FakeOpenAIServer) -> None:
    embedder = embedder_for(fake_openai, batch_size=2)

    vectors = await embedder.embed(TEXTS)

    assert vectors == expected(TEXTS)
    assert [r.body["input"] for r in fake_openai.embedding_requests] == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:5]]
    await embedder.close()


async def test_vectors_are_put_back_in_index_order(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_embeddings(EmbeddingReply.reversed())
    embedder = embedder_for(fake_openai)

    assert await embedder.embed(TEXTS) == expected(TEXTS)
    await embedder.close()


async def test_no_texts_make_no_request(fake_openai: FakeOpenAIServer) -> None:
    embedder = embedder_for(fake_openai)

    assert await embedder.embed([]) == []
    assert fake_openai.embedding_requests == []


async def test_dimensions_go_only_to_models_that_take_them(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.app.embedding_dimensions = 48
    embedder = embedder_for(fake_openai, model="nomic-embed-text", dimensions=48)

    assert await embedder.embed(["hello"]) == expected(["hello"], 48)
    assert "dimensions" not in fake_openai.embedding_requests[0].body
    assert sends_dimensions("text-embedding-3-large")
    assert sends_dimensions("openai/text-embedding-3-small")
    assert not sends_dimensions("text-embedding-ada-002")
    await embedder.close()


async def test_vectors_of_another_length_fail_naming_the_model_and_both_lengths(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.script_embeddings(EmbeddingReply.wrong_length(768))
    embedder = embedder_for(fake_openai)

    with pytest.raises(ModelProviderError) as caught:
        await embedder.embed(["hello"])

    assert caught.value.detail.startswith(
        "model 'text-embedding-3-small': the endpoint returned vectors of 768 dimensions where 64 are configured"
    )
    await embedder.close()


async def test_an_answer_missing_vectors_fails(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_embeddings(EmbeddingReply.short(1))
    embedder = embedder_for(fake_openai)

    with pytest.raises(ModelProviderError) as caught:
        await embedder.embed(TEXTS[:3])

    assert caught.value.detail == "model 'text-embedding-3-small': the endpoint answered 1 vectors for 3 texts"
    await embedder.close()


@pytest.mark.parametrize(
    ("vector", "problem"),
    [
        (raw_vector("NaN"), "a vector holding a value that is not a finite number at position 63 (nan)"),
        (raw_vector("Infinity"), "a vector holding a value that is not a finite number at position 63 (inf)"),
        (raw_vector("1e400"), "a vector holding a value that is not a finite number at position 63 (inf)"),
        (raw_vector("1e39"), "a vector holding a value that is not a finite number at position 63 (1e+39)"),
        (raw_vector('"0.5"'), "a vector holding a value that is not a finite number at position 63 ('0.5')"),
        (raw_vector("null"), "a vector holding a value that is not a finite number at position 63 (None)"),
        (base64_vector(float("nan")), "a vector holding a value that is not a finite number at position 63 (nan)"),
        ("[" + ",".join(["0"] * 64) + "]", "a vector of zeros only, which no cosine search can compare"),
    ],
    ids=["nan", "infinity", "beyond-float", "beyond-float32", "string", "null", "base64-nan", "zeros"],
)
async def test_a_vector_no_search_can_compare_fails_naming_the_model_and_the_value(
    broken_embeddings: BrokenServer, vector: str, problem: str
) -> None:
    broken_embeddings.app.vector = vector
    embedder = OpenAIEmbedder(EmbedderFields(base_url=broken_embeddings.base_url, dimensions=64, max_retries=0), None)

    with pytest.raises(ModelProviderError) as caught:
        await embedder.embed(["hello", "world"])

    assert caught.value.detail == f"model 'text-embedding-3-small': the endpoint answered {problem}"
    await embedder.close()


async def test_an_html_page_answered_with_200_is_a_provider_error_not_a_crash(broken_embeddings: BrokenServer) -> None:
    broken_embeddings.app.html = "<html><body>Welcome to the proxy</body></html>"
    embedder = OpenAIEmbedder(EmbedderFields(base_url=broken_embeddings.base_url, dimensions=64, max_retries=0), None)

    with pytest.raises(ModelProviderError) as caught:
        await embedder.embed(["hello"])

    assert caught.value.detail == (
        "model 'text-embedding-3-small': the endpoint's answer is not a list of embeddings (AttributeError)"
    )
    await embedder.close()


async def test_a_refused_key_is_never_retried_and_never_shown(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_embeddings(
        EmbeddingReply.fail(401, f"Incorrect API key provided: {KEY}", code="invalid_api_key", headers=FAST_RETRY)
    )
    embedder = embedder_for(fake_openai, max_retries=3)

    with pytest.raises(ModelAuthenticationError) as caught:
        await embedder.embed(["hello"])

    assert len(fake_openai.embedding_requests) == 1
    assert caught.value.status_code == 401
    assert (
        caught.value.detail == "model 'text-embedding-3-small': the endpoint rejected the API key from EMBED_KEY (401)"
    )
    await embedder.close()


async def test_a_rate_limit_is_retried_up_to_max_retries_then_raised(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_embeddings(
        *[EmbeddingReply.fail(429, "Slow down", type="rate_limit_error", headers=FAST_RETRY)] * 3
    )
    embedder = embedder_for(fake_openai, max_retries=2)

    with pytest.raises(ModelRateLimitError) as caught:
        await embedder.embed(["hello"])

    assert len(fake_openai.embedding_requests) == 3
    assert caught.value.status_code == 429
    await embedder.close()


async def test_server_errors_are_retried_and_a_later_answer_is_used(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_embeddings(
        EmbeddingReply.fail(500, "Oops", type="server_error", headers=FAST_RETRY),
        EmbeddingReply.fail(503, "Overloaded", type="server_error", headers=FAST_RETRY),
    )
    embedder = embedder_for(fake_openai, max_retries=2)

    assert await embedder.embed(["hello"]) == expected(["hello"])
    assert len(fake_openai.embedding_requests) == 3
    await embedder.close()


async def test_a_server_error_after_the_retries_keeps_its_status_without_the_key(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_embeddings(
        *[EmbeddingReply.fail(500, f"upstream said {KEY} is odd", type="server_error", headers=FAST_RETRY)] * 2
    )
    embedder = embedder_for(fake_openai, max_retries=1)

    with pytest.raises(ModelProviderError) as caught:
        await embedder.embed(["hello"])

    assert caught.value.status_code == 500
    assert KEY not in caught.value.detail
    assert (
        caught.value.detail
        == "model 'text-embedding-3-small': the endpoint answered 500: Error code: 500 - upstream said *** is odd"
    )
    await embedder.close()


async def test_an_endpoint_that_does_not_answer_in_time_is_a_connection_error(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_embeddings(EmbeddingReply.stall(30))
    embedder = embedder_for(fake_openai, timeout=0.3)

    with pytest.raises(ModelConnectionError) as caught:
        await embedder.embed(["hello"])

    assert caught.value.detail == "model 'text-embedding-3-small': the endpoint did not answer in time"
    await embedder.close()


async def test_a_request_the_endpoint_refuses_is_a_provider_error_with_its_status(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.script_embeddings(EmbeddingReply.fail(400, "This model's maximum context length is 8192 tokens"))
    embedder = embedder_for(fake_openai)

    with pytest.raises(ModelProviderError) as caught:
        await embedder.embed(["a very long text"])

    assert caught.value.status_code == 400
    assert "maximum context length is 8192 tokens" in caught.value.detail
    await embedder.close()


async def test_an_empty_text_is_refused_before_any_request(fake_openai: FakeOpenAIServer) -> None:
    embedder = embedder_for(fake_openai)

    with pytest.raises(BadRequest) as caught:
        await embedder.embed(["fine", ""])

    assert caught.value.detail == "model 'text-embedding-3-small': cannot embed an empty text (text 1)"
    assert fake_openai.embedding_requests == []


async def test_the_fake_server_refuses_empty_inputs_as_openai_does(fake_openai: FakeOpenAIServer) -> None:
    import openai

    client = openai.AsyncOpenAI(api_key=KEY, base_url=fake_openai.base_url, max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.embeddings.create(model="any-model", input=["fine", ""])
    await client.close()

    assert "an input cannot be an empty string" in caught.value.message


async def test_an_unreachable_endpoint_is_a_connection_error() -> None:
    config = EmbedderFields(base_url="http://127.0.0.1:9/v1", dimensions=8, max_retries=0)
    embedder = OpenAIEmbedder(config, KEY, api_key_env="EMBED_KEY")

    with pytest.raises(ModelConnectionError) as caught:
        await embedder.embed(["hello"])

    assert caught.value.detail.startswith("model 'text-embedding-3-small': cannot reach the endpoint")
    assert KEY not in caught.value.detail
    await embedder.close()


async def test_a_local_endpoint_without_a_key_gets_no_authorization_header(fake_openai: FakeOpenAIServer) -> None:
    embedder = embedder_for(fake_openai, api_key=None)

    await embedder.embed(["hello"])

    assert "authorization" not in fake_openai.embedding_requests[0].headers
    await embedder.close()


async def test_openai_without_a_key_fails_naming_the_variable() -> None:
    embedder = OpenAIEmbedder(EmbedderFields(), None, api_key_env="OPENAI_API_KEY")

    assert embedder.key_missing
    with pytest.raises(ModelAuthenticationError) as caught:
        await embedder.embed(["hello"])

    assert caught.value.detail == (
        "model 'text-embedding-3-small': no API key: set the environment variable OPENAI_API_KEY"
    )


async def test_an_embedders_key_is_read_as_a_models_is_trailing_newline_dropped_control_characters_named(
    fake_openai: FakeOpenAIServer,
) -> None:
    environ = {"KB_KEY": "sk-kb\n", "BAD_KEY": "sk-\x7fkb", "OPENAI_BASE_URL": fake_openai.base_url}
    embedder = build_embedder(EmbedderConfig(dimensions=16, api_key_env="KB_KEY"), environ)
    broken = build_embedder(EmbedderConfig(dimensions=16, api_key_env="BAD_KEY"), environ)
    broken.prepare()

    await embedder.embed(["hello"])
    with pytest.raises(ModelAuthenticationError) as caught:
        await broken.embed(["hello"])
    await embedder.close()
    await broken.close()

    assert fake_openai.embedding_requests[0].headers["authorization"] == "Bearer sk-kb"
    assert caught.value.detail.startswith(
        "model 'text-embedding-3-small': the API key in BAD_KEY cannot be sent: it holds a control character at"
        " position 4"
    )
    assert len(fake_openai.embedding_requests) == 1


async def test_build_embedder_reads_the_key_base_url_and_headers_from_the_environment(
    fake_openai: FakeOpenAIServer,
) -> None:
    environ = {"KB_KEY": "sk-kb", "OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_ORG_ID": "org-1"}
    embedder = build_embedder(EmbedderConfig(dimensions=16, api_key_env="KB_KEY"), environ)

    assert embedder.dimensions == 16
    assert await embedder.embed(["hello"]) == expected(["hello"], 16)
    headers = fake_openai.embedding_requests[0].headers
    assert headers["authorization"] == "Bearer sk-kb"
    assert headers["openai-organization"] == "org-1"
    await embedder.close()


async def test_every_request_is_reported_with_texts_tokens_and_failure(fake_openai: FakeOpenAIServer) -> None:
    calls: list[EmbeddingCall] = []
    fake_openai.script_embeddings(EmbeddingReply(), EmbeddingReply.fail(400, "bad", headers=FAST_RETRY))
    embedder = embedder_for(fake_openai, batch_size=2, observe=calls.append)

    with pytest.raises(ModelProviderError):
        await embedder.embed(["one two", "three", "four five six"])

    assert [(c.texts, c.tokens, c.failed) for c in calls] == [(2, 3, False), (1, None, True)]
    assert all(c.seconds >= 0 for c in calls)
    await embedder.close()


async def test_embedders_on_one_endpoint_share_a_client_until_the_last_closes(fake_openai: FakeOpenAIServer) -> None:
    clients = SharedClients()
    config = EmbedderFields(base_url=fake_openai.base_url, dimensions=8)
    first = OpenAIEmbedder(config, KEY, clients=clients)
    second = OpenAIEmbedder(config, KEY, clients=clients)
    await first.embed(["a"])
    await second.embed(["b"])

    await first.close()

    assert await second.embed(["c"]) == expected(["c"], 8)
    await second.close()
    assert len(fake_openai.embedding_requests) == 3


async def test_the_fake_server_answers_plain_floats_to_clients_that_ask_for_them(
    fake_openai: FakeOpenAIServer,
) -> None:
    import openai

    client = openai.AsyncOpenAI(api_key=KEY, base_url=fake_openai.base_url, max_retries=0)
    response = await client.embeddings.create(model="any-model", input="plain floats", encoding_format="float")
    await client.close()

    assert response.data[0].embedding == fake_embedding("plain floats", 1536)
    assert response.usage.prompt_tokens == 2
    assert fake_openai.embedding_requests[0].body["input"] == "plain floats"
