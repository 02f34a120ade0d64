"""The OpenAI-compatible chat model: OpenAI, vLLM, llama.cpp, Ollama behind one adapter.

Requests go through the OpenAI SDK's ``AsyncOpenAI`` (``llm.clients``: one client per
endpoint), which signs them, applies the base URL, the timeout and its retries with back-off,
and raises its error types, mapped by ``llm.failures`` onto the runtime's. The body is posted
as JSON text through the SDK's ``post`` and the answer taken raw (``httpx2.Response``): the
JSON body, or the stream's lines, parsed once each with ``json.loads`` by ``llm.chunks``
rather than into the SDK's per-chunk models.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agentos_runtime import jsontext
from agentos_runtime.config.llm import ModelConfig
from agentos_runtime.errors import ModelConnectionError, ModelProviderError
from agentos_runtime.llm.chunks import ChunkAssembler, completion_from_body, iter_chunks, stream_end_problem
from agentos_runtime.llm.clients import Endpoint, SharedClients
from agentos_runtime.llm.failures import answer_error, missing_key_error, sdk_error, unusable_key_error
from agentos_runtime.llm.keys import key_problem
from agentos_runtime.llm.ports import Completion, Message, ToolSchema

if TYPE_CHECKING:
    import httpx2
    import openai

_PATH = "/chat/completions"
# Where requests go when the config names no base URL (nor does ``OPENAI_BASE_URL``).
OPENAI_BASE_URL = "https://api.openai.com/v1"
# The longest the SDK waits before a retry: an answer's ``Retry-After``, honoured up to two minutes.
RETRY_WAIT_SECONDS = 120.0
# The largest JSON answer read: ``MAX_ANSWER_CHARS`` of text escaped as JSON, with room to spare.
MAX_BODY_BYTES = 16 * 1024 * 1024


def needs_key(base_url: str) -> bool:
    """Whether an endpoint is OpenAI's own, which answers nothing without a key.

    Any other host (vLLM, Ollama, llama.cpp, a gateway) is called without ``Authorization``
    when its key variable is unset: local servers usually need none.
    """
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "openai.com" or host.endswith(".openai.com")


def answer_deadline(timeout: float, max_retries: int) -> float:
    """Seconds a JSON answer may take in all: twice ``timeout`` for each attempt (the SDK's own
    timeout fails one that has not begun to answer after one), the SDK's longest wait before each retry."""
    return 2 * timeout * (max_retries + 1) + RETRY_WAIT_SECONDS * max_retries


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
        clients: SharedClients | None = None,
        default_base_url: str = OPENAI_BASE_URL,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """``api_key`` is the value of ``config.api_key_env`` (``None`` when unset); ``clients``
        are the process's SDK clients, shared between models (a private set by default);
        ``client`` is an ``httpx2`` client to send through (its owner closes it);
        ``default_base_url`` applies when the config names none; ``headers`` go with every
        request (organization, project)."""
        self.id = config.id
        self.model = config.model_name
        self._config = config
        self._api_key = api_key or None
        self._base_url = config.base_url or default_base_url
        self._clients = clients if clients is not None else SharedClients(http_client=client)
        self._endpoint = Endpoint(self._base_url, self._api_key, tuple(sorted((headers or {}).items())))
        self._client: openai.AsyncOpenAI | None = None
        self._url = _PATH
        self._building = threading.Lock()
        # A keyless request omits ``Authorization`` (the SDK sends its header unless told not to).
        self._request_options: openai.RequestOptions = {}
        self._sampling = {
            key: value
            for key, value in (
                ("temperature", config.temperature),
                ("max_tokens", config.max_tokens),
                ("top_p", config.top_p),
            )
            if value is not None
        }

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def api_key_env(self) -> str | None:
        """The variable the key is read from (``None``: the endpoint takes none)."""
        return self._config.api_key_env

    @property
    def key_missing(self) -> bool:
        """No key, and the endpoint is one that needs it (OpenAI's)."""
        return self._api_key is None and self._config.api_key_env is not None and needs_key(self._base_url)

    def prepare(self) -> None:
        """Build the SDK client now (importing the SDK), not on the first request.

        Safe to call from a worker thread at start-up. Does not raise for a missing key: that
        is reported by the first request, so one unconfigured model does not stop the server.
        """
        if not self.key_missing and key_problem(self._api_key) is None:
            self._get_client()

    def _get_client(self) -> openai.AsyncOpenAI:
        client = self._client
        if client is not None:
            return client
        if self.key_missing:
            assert self._config.api_key_env is not None  # key_missing says so
            raise missing_key_error(model_id=self.id, api_key_env=self._config.api_key_env)
        problem = key_problem(self._api_key)
        if problem is not None:
            raise unusable_key_error(model_id=self.id, api_key_env=self._config.api_key_env, problem=problem)
        with self._building:  # ``prepare`` may be building it in a worker thread right now
            if self._client is None:
                if self._api_key is None:
                    from openai import omit

                    self._request_options = {"headers": {"Authorization": omit}}
                client = self._clients.acquire(
                    self._endpoint, timeout=self._config.timeout, max_retries=self._config.max_retries
                )
                # The endpoint's whole URL, joined as the SDK joins a path to its base URL, once
                # rather than for every request.
                base = client.base_url
                self._url = str(base.copy_with(raw_path=base.raw_path + _PATH.lstrip("/").encode()))
                self._client = client
            return self._client

    def build_params(self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None) -> dict[str, Any]:
        """The request body (without the stream flags)."""
        params: dict[str, Any] = {"model": self.model, "messages": list(messages), **self._sampling}
        if tools:
            params["tools"] = list(tools)
        return params

    async def _post(self, params: dict[str, Any], *, stream: bool) -> httpx2.Response:
        """The SDK's raw answer (``cast_to=httpx2.Response``): its body unread when ``stream``."""
        import httpx2
        import openai

        client = self._get_client()
        content = jsontext.dumps_bytes(params)
        answer = await client.post(
            self._url,
            cast_to=httpx2.Response,
            content=content,
            options=self._request_options,
            stream=stream,
            stream_cls=openai.AsyncStream,  # unused: an ``httpx2.Response`` is returned as is
        )
        assert isinstance(answer, httpx2.Response)
        return answer

    async def complete(self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None) -> Completion:
        # The SDK's timeout bounds each wait (to connect, between two reads): an endpoint that
        # keeps sending a byte now and then would hold a JSON answer forever. ``answer_deadline``
        # bounds the whole answer, retries included.
        seconds = answer_deadline(self._config.timeout, self._config.max_retries)
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                answer = await self._post(self.build_params(messages, tools), stream=True)
                try:
                    body = await _read_bounded(answer, MAX_BODY_BYTES)
                finally:
                    await answer.aclose()
        except Exception as error:
            if deadline.expired():
                raise ModelConnectionError(
                    f"model '{self.id}': the endpoint did not finish its answer within {seconds:g}s", model_id=self.id
                ) from error
            self._raise_translated(error)
            raise
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as error:
            raise self._translate_body(error) from error
        if not isinstance(payload, dict):
            raise self._translate_body(TypeError("not a JSON object"))
        try:
            return completion_from_body(payload)
        except ModelProviderError as error:
            raise answer_error(error, model_id=self.id, api_key=self._api_key) from None

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None
    ) -> AsyncIterator[str | Completion]:
        params = self.build_params(messages, tools)
        params["stream"] = True
        params["stream_options"] = {"include_usage": True}
        assembler = ChunkAssembler()
        first_token: float | None = None
        started = time.perf_counter()
        try:
            answer = await self._post(params, stream=True)
            try:
                chunks = iter_chunks(answer.aiter_lines())
                async for chunk in chunks:
                    text = assembler.feed(chunk)
                    if first_token is None and assembler.started:
                        first_token = time.perf_counter() - started
                    if text is not None:
                        yield text
            finally:
                await answer.aclose()
            problem = stream_end_problem(assembler, done=chunks.done)
            if problem is not None:
                raise problem
        except Exception as error:
            self._raise_translated(error)
            raise
        yield assembler.finish(time_to_first_token=first_token)

    async def close(self) -> None:
        """Give the SDK client back; the last model on an endpoint closes its connections."""
        if self._client is not None:
            self._client = None
            await self._clients.release(self._endpoint)

    def _raise_translated(self, error: Exception) -> None:
        """Raise our error for an SDK or transport error, or for what the answer said; return for anything else."""
        if isinstance(error, ModelProviderError) and error.model_id is None:  # from ``llm.chunks``
            raise answer_error(error, model_id=self.id, api_key=self._api_key) from None
        translated = sdk_error(error, model_id=self.id, api_key_env=self._config.api_key_env, api_key=self._api_key)
        if translated is not None:
            raise translated from error

    def _translate_body(self, error: Exception) -> ModelProviderError:
        problem = "JSON nested too deeply to read" if isinstance(error, RecursionError) else error
        return ModelProviderError(f"model '{self.id}': the endpoint answered with a body that is not JSON: {problem}")


async def _read_bounded(answer: httpx2.Response, limit: int) -> bytes:
    """The answer's body, refused past ``limit`` bytes (read no further)."""
    parts: list[bytes] = []
    size = 0
    async for part in answer.aiter_bytes():
        size += len(part)
        if size > limit:
            raise ModelProviderError(
                f"the model endpoint's answer passed {limit // (1024 * 1024)} MiB: "
                "it is likely looping; set the model's max_tokens to stop it sooner"
            )
        parts.append(part)
    return b"".join(parts)
