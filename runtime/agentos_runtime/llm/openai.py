"""The OpenAI-compatible chat model: OpenAI, vLLM, llama.cpp, Ollama behind one adapter.

Requests go to the endpoint's ``/chat/completions`` through ``endpoint.Endpoint``, which keeps
the OpenAI SDK's configuration semantics (key, base URL, timeout, retries with backoff, error
texts) without the SDK (see ``endpoint`` for why). Answers are parsed once with ``json.loads``
by ``llm.chunks``, never into per-chunk models. The HTTP library is imported on first use (or
in ``prepare()``, in a worker thread after start-up), never at import.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentos_runtime.config.llm import ModelConfig
from agentos_runtime.errors import ModelProviderError
from agentos_runtime.llm.chunks import ChunkAssembler, completion_from_body, iter_chunks
from agentos_runtime.llm.failures import missing_key_error, status_error, transport_error
from agentos_runtime.llm.ports import Completion, Message, ToolSchema

if TYPE_CHECKING:
    import httpx2

    from agentos_runtime.llm.endpoint import Endpoint

_PATH = "/chat/completions"
# Where requests go when the config names no base URL (nor does ``OPENAI_BASE_URL``).
OPENAI_BASE_URL = "https://api.openai.com/v1"

# Sent as the bearer token to endpoints configured without a key variable (``api_key_env:
# null``), as the SDK needs some key.
_NO_KEY = "not-needed"


class OpenAIChatModel:
    """A ``ChatModel`` on any OpenAI chat-completions endpoint (Agno's ``OpenAIChat``)."""

    name = "OpenAIChat"
    provider = "OpenAI"
    provider_name = "OpenAI Chat"

    def __init__(
        self,
        config: ModelConfig,
        *,
        api_key: str | None,
        client: httpx2.AsyncClient | None = None,
        default_base_url: str = OPENAI_BASE_URL,
        headers: Mapping[str, str] | None = None,
        proxied: bool = False,
    ) -> None:
        """``api_key`` is the value of ``config.api_key_env`` (``None`` when unset); ``client`` is
        an ``httpx2`` client to share (its owner closes it); ``default_base_url`` applies when the
        config names none; ``headers`` go with every request (organization, project);
        ``proxied``: the environment names a proxy for plain-HTTP requests."""
        self.id = config.id
        self.model = config.model_name
        self._config = config
        self._api_key = api_key or None
        self._client = client
        self._base_url = config.base_url or default_base_url
        self._headers = dict(headers or {})
        self._proxied = proxied
        self._endpoint: Endpoint | None = None
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
        """Build the endpoint's client now (importing ``httpx2`` if it needs it), not on the first request.

        Safe to call from a worker thread at start-up. Does not raise for a missing key: that
        is reported by the first request, so one unconfigured model does not stop the server.
        """
        if self._endpoint is None and (self._api_key or self._config.api_key_env is None):
            self._get_endpoint()

    def _get_endpoint(self) -> Endpoint:
        endpoint = self._endpoint
        if endpoint is not None:
            return endpoint
        if self._config.api_key_env is not None and not self._api_key:
            raise missing_key_error(model_id=self.id, api_key_env=self._config.api_key_env)
        with self._building:  # ``prepare`` may be building it in a worker thread right now
            if self._endpoint is None:
                from agentos_runtime.llm.endpoint import Endpoint

                self._endpoint = Endpoint(
                    base_url=self._base_url,
                    api_key=self._api_key or _NO_KEY,
                    timeout=self._config.timeout,
                    max_retries=self._config.max_retries,
                    headers=self._headers,
                    client=self._client,
                    proxied=self._proxied,
                )
            return self._endpoint

    def build_params(self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None) -> dict[str, Any]:
        """The request body (without the stream flags)."""
        params: dict[str, Any] = {"model": self.model, "messages": list(messages), **self._sampling}
        if tools:
            params["tools"] = list(tools)
        return params

    async def complete(self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None) -> Completion:
        endpoint = self._get_endpoint()
        try:
            body = await (await endpoint.post(_PATH, self.build_params(messages, tools))).read()
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
        endpoint = self._get_endpoint()
        params = self.build_params(messages, tools)
        params["stream"] = True
        params["stream_options"] = {"include_usage": True}
        assembler = ChunkAssembler()
        first_token: float | None = None
        started = time.perf_counter()
        try:
            answer = await endpoint.post(_PATH, params)
            try:
                async for chunk in iter_chunks(answer.lines()):
                    text = assembler.feed(chunk)
                    if first_token is None and assembler.started:
                        first_token = time.perf_counter() - started
                    if text is not None:
                        yield text
            finally:
                await answer.aclose()
        except Exception as error:
            self._raise_translated(error)
            raise
        yield assembler.finish(time_to_first_token=first_token)

    async def close(self) -> None:
        """Close the client this model built (a client passed in belongs to the caller)."""
        if self._endpoint is not None:
            await self._endpoint.close()

    def _raise_translated(self, error: Exception) -> None:
        """Raise our error for an error answer or a transport failure; return for anything else."""
        from agentos_runtime.llm.endpoint import StatusFailure

        if isinstance(error, StatusFailure):
            raise status_error(
                error.status,
                error.message,
                code=error.code,
                model_id=self.id,
                api_key_env=self._config.api_key_env,
                api_key=self._api_key,
            ) from error
        translated = transport_error(error, model_id=self.id, api_key=self._api_key)
        if translated is not None:
            raise translated from error

    def _translate_body(self, error: Exception) -> ModelProviderError:
        return ModelProviderError(f"model '{self.id}': the endpoint answered with a body that is not JSON: {error}")
