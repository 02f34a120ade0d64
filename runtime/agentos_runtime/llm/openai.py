"""The OpenAI-compatible chat model: OpenAI, vLLM, llama.cpp, Ollama behind one adapter.

The SDK's ``AsyncOpenAI`` keeps what it does well: base URL, auth header, timeout, retries
(429 honouring ``Retry-After``, 5xx, connection errors; never 401) and typed status errors,
which ``llm.failures`` maps to ours. What it costs per request is skipped: requests go through its documented raw ``client.post(...,
cast_to=Response)`` (no parameter transformation, about 0.7 ms a request) and answers are
parsed once with ``json.loads`` by ``llm.chunks`` instead of into pydantic models per chunk.
The SDK import costs about 0.4 s, so it happens on first use (or in ``prepare()``), never at
import.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from agentos_runtime.config.llm import ModelConfig
from agentos_runtime.errors import ModelProviderError
from agentos_runtime.llm.chunks import ChunkAssembler, completion_from_body, iter_chunks
from agentos_runtime.llm.failures import missing_key_error, provider_error
from agentos_runtime.llm.ports import Completion, Message, ToolSchema

if TYPE_CHECKING:
    import openai

_PATH = "/chat/completions"

# Sent as the bearer token to endpoints configured without a key variable (``api_key_env:
# null``); passing it explicitly also stops the SDK from reading ``OPENAI_API_KEY`` on its own.
_NO_KEY = "not-needed"


class OpenAIChatModel:
    """A ``ChatModel`` on any OpenAI chat-completions endpoint (Agno's ``OpenAIChat``)."""

    name = "OpenAIChat"
    provider = "OpenAI"
    provider_name = "OpenAI Chat"

    def __init__(self, config: ModelConfig, *, api_key: str | None, client: openai.AsyncOpenAI | None = None) -> None:
        """``api_key`` is the value of ``config.api_key_env`` (``None`` when unset); ``client``
        replaces the one built from the config (tests, shared connection pools)."""
        self.id = config.id
        self.model = config.model_name
        self._config = config
        self._api_key = api_key or None
        self._client = client
        self._owns_client = client is None
        self._building = threading.Lock()
        self._sampling = {
            key: value
            for key, value in (
                ("temperature", config.temperature),
                ("max_tokens", config.max_tokens),
                ("top_p", config.top_p),
            )
            if value is not None
        }

    def prepare(self) -> None:
        """Import the SDK and build the client now rather than on the first request.

        Safe to call from a worker thread at start-up. Does not raise for a missing key: that
        is reported by the first request, so one unconfigured model does not stop the server.
        """
        if self._client is None and (self._api_key or self._config.api_key_env is None):
            self._get_client()

    def _get_client(self) -> openai.AsyncOpenAI:
        client = self._client
        if client is not None:
            return client
        if self._config.api_key_env is not None and not self._api_key:
            raise missing_key_error(model_id=self.id, api_key_env=self._config.api_key_env)
        with self._building:  # ``prepare`` may be building it in a worker thread right now
            if self._client is None:
                import openai

                self._client = openai.AsyncOpenAI(
                    api_key=self._api_key or _NO_KEY,
                    base_url=self._config.base_url,
                    timeout=self._config.timeout,
                    max_retries=self._config.max_retries,
                )
            return self._client

    def build_params(self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None) -> dict[str, Any]:
        """The request body (without the stream flags)."""
        params: dict[str, Any] = {"model": self.model, "messages": list(messages), **self._sampling}
        if tools:
            params["tools"] = list(tools)
        return params

    async def complete(self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None) -> Completion:
        client = self._get_client()
        params = self.build_params(messages, tools)
        import httpx2  # loaded with the SDK by ``_get_client``

        try:
            response = await client.post(_PATH, cast_to=httpx2.Response, body=params)
            body = response.content
        except Exception as error:
            self._raise_translated(error)
            raise
        try:
            payload = json.loads(body)
        except ValueError as error:
            raise self._translate_body(error) from error
        if not isinstance(payload, dict):
            raise self._translate_body(TypeError("not a JSON object"))
        return completion_from_body(payload)

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None
    ) -> AsyncIterator[str | Completion]:
        client = self._get_client()
        params = self.build_params(messages, tools)
        params["stream"] = True
        params["stream_options"] = {"include_usage": True}
        import httpx2  # loaded with the SDK by ``_get_client``

        assembler = ChunkAssembler()
        first_token: float | None = None
        started = time.perf_counter()
        try:
            response = await client.post(_PATH, cast_to=httpx2.Response, body=params, stream=True)
            try:
                async for chunk in iter_chunks(response.aiter_lines()):
                    text = assembler.feed(chunk)
                    if first_token is None and assembler.started:
                        first_token = time.perf_counter() - started
                    if text is not None:
                        yield text
            finally:
                await response.aclose()
        except Exception as error:
            self._raise_translated(error)
            raise
        yield assembler.finish(time_to_first_token=first_token)

    async def close(self) -> None:
        """Close the client this model built (a client passed in belongs to the caller)."""
        if self._client is not None and self._owns_client:
            await self._client.close()

    def _raise_translated(self, error: Exception) -> None:
        """Raise our error for an SDK or transport failure; return for anything else."""
        translated = provider_error(
            error, model_id=self.id, api_key_env=self._config.api_key_env, api_key=self._api_key
        )
        if translated is not None:
            raise translated from error

    def _translate_body(self, error: Exception) -> ModelProviderError:
        return ModelProviderError(f"model '{self.id}': the endpoint answered with a body that is not JSON: {error}")
