"""Embeddings from any OpenAI-compatible ``/embeddings`` endpoint: OpenAI, vLLM, TEI, Ollama, llama.cpp.

Requests go through the OpenAI SDK's ``embeddings.create`` on the process's shared
``AsyncOpenAI`` clients (``llm.clients``: one per endpoint, chat models and embedders alike),
which signs them, retries rate limits, connection errors and 5xx answers with back-off, and
asks for base64 vectors (decoding plain float lists too, from servers that ignore the
request). Failures become the chat models' errors (``llm.failures``): 401 is never retried
and no message carries the key. Texts are sent ``batch_size`` at a time; every answer is
checked (one vector per text, in ``index`` order, each of the configured length, every value a
finite number, not all zeros) before anything is returned, so a wrong model or a broken server
fails the document (or the search) with a ``ModelProviderError`` naming the model, instead of
filling the base with vectors that no search can compare.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentos_runtime.config.knowledge import EmbedderConfig, EmbedderFields
from agentos_runtime.errors import BadRequest, ModelProviderError
from agentos_runtime.llm.clients import Endpoint, SharedClients
from agentos_runtime.llm.factory import openai_headers
from agentos_runtime.llm.failures import missing_key_error, sdk_error, unusable_key_error
from agentos_runtime.llm.keys import key_from, key_problem
from agentos_runtime.llm.openai import OPENAI_BASE_URL, needs_key

if TYPE_CHECKING:
    import openai

# The largest magnitude a 32-bit float holds: both stores keep vectors as 32-bit floats.
_FLOAT32_MAX = 3.4028234663852886e38
# Characters of a refused value repeated in a message.
_VALUE_SHOWN = 40

# Models that take the ``dimensions`` parameter (OpenAI's text-embedding-3 family, also when a
# gateway names it ``openai/text-embedding-3-small``); other servers refuse it or ignore it.
_SHORTENABLE_MODEL = re.compile(r"(?:^|/)text-embedding-3", re.IGNORECASE)


@dataclass(frozen=True)
class EmbeddingCall:
    """One embeddings request, for metrics: texts sent, tokens counted by the endpoint (``None``
    when it says nothing), seconds from sending to the checked answer, whether it failed."""

    texts: int
    tokens: int | None
    seconds: float
    failed: bool = False


EmbeddingObserver = Callable[[EmbeddingCall], None]


def sends_dimensions(model: str) -> bool:
    """Whether requests for ``model`` carry ``dimensions`` (only models known to accept it)."""
    return _SHORTENABLE_MODEL.search(model) is not None


def vector_problem(vector: Any) -> str | None:
    """What makes ``vector`` (from an endpoint's answer) unusable for a cosine search, or
    ``None``: not a list, a value that is not a finite number a 32-bit float holds (NaN,
    infinity, a string, null; JSON's true and false read as 1 and 0), or only zeros (its cosine distance to anything is undefined,
    so no search would ever find its chunk)."""
    if not isinstance(vector, list):
        return f"a vector that is not a list of numbers ({type(vector).__name__})"
    if _plainly_usable(vector):
        return None
    for position, value in enumerate(vector):
        # NaN compares false with everything, so the bound refuses it along with infinities.
        if not isinstance(value, int | float) or not abs(value) <= _FLOAT32_MAX:
            return (
                f"a vector holding a value that is not a finite number at position {position} "
                f"({repr(value)[:_VALUE_SHOWN]})"
            )
    if not any(vector):
        return "a vector of zeros only, which no cosine search can compare"
    return None


def _plainly_usable(vector: list[Any]) -> bool:
    """The common case at C speed (a search or a batch of 1536-value vectors must not pay a
    Python loop per value): numbers only, within a 32-bit float's range, not all zeros."""
    try:
        total, low, high = math.fsum(vector), min(vector), max(vector)
    except (TypeError, ValueError, OverflowError):  # a string or null; an empty list; a sum past 1e308
        return False
    # NaN compares false with everything, so it fails the bounds; a NaN hidden from min and max
    # by its place in the list still makes the sum NaN.
    return math.isfinite(total) and -_FLOAT32_MAX <= low and high <= _FLOAT32_MAX and (low != 0 or high != 0)


class OpenAIEmbedder:
    """A ``ports.Embedder`` on an OpenAI-compatible embeddings endpoint (Agno's ``OpenAIEmbedder``)."""

    def __init__(
        self,
        config: EmbedderFields,
        api_key: str | None,
        *,
        api_key_env: str | None = None,
        clients: SharedClients | None = None,
        default_base_url: str = OPENAI_BASE_URL,
        headers: Mapping[str, str] | None = None,
        observe: EmbeddingObserver | None = None,
    ) -> None:
        """``api_key`` is the value of ``api_key_env`` (``None`` when unset: the endpoint is
        called without ``Authorization`` unless it is OpenAI's, where each call then fails
        naming the variable); ``clients`` are the process's shared SDK clients (a private set by
        default); ``default_base_url`` applies when the config names none; ``headers`` go with
        every request (organization, project); ``observe`` is told of every request."""
        self.model = config.model
        self._config = config
        self._api_key = api_key or None
        self._api_key_env = api_key_env
        self._base_url = config.base_url or default_base_url
        self._clients = clients if clients is not None else SharedClients()
        self._endpoint = Endpoint(self._base_url, self._api_key, tuple(sorted((headers or {}).items())))
        self._observe = observe
        self._client: openai.AsyncOpenAI | None = None
        self._building = threading.Lock()
        self._extra_headers: dict[str, Any] = {}
        self._parameters: dict[str, Any] = {"dimensions": config.dimensions} if sends_dimensions(config.model) else {}

    @property
    def dimensions(self) -> int:
        return self._config.dimensions

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def key_missing(self) -> bool:
        """No key, and the endpoint is one that needs it (OpenAI's)."""
        return self._api_key is None and self._api_key_env is not None and needs_key(self._base_url)

    def prepare(self) -> None:
        """Build the SDK client now (importing the SDK), not on the first call; safe in a
        worker thread. A missing key is reported by the first call, not here."""
        if not self.key_missing and key_problem(self._api_key) is None:
            self._get_client()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order, ``batch_size`` texts per request.

        Raises ``ModelAuthenticationError`` (no key, or the key refused), ``ModelRateLimitError``
        and ``ModelConnectionError`` (after the retries), ``ModelProviderError`` (any other
        failure, or an answer with missing, unordered or wrongly sized vectors); ``BadRequest``
        for an empty text, before any request."""
        if not texts:
            return []
        if not all(texts):
            # Endpoints refuse an empty input with a message that names no text; say which.
            raise BadRequest(f"model '{self.model}': cannot embed an empty text (text {list(texts).index('')})")
        client = self._get_client()
        size = self._config.batch_size
        vectors: list[list[float]] = []
        for start in range(0, len(texts), size):
            vectors.extend(await self._embed_batch(client, list(texts[start : start + size])))
        return vectors

    async def close(self) -> None:
        """Give the SDK client back; the last user of an endpoint closes its connections."""
        if self._client is not None:
            self._client = None
            await self._clients.release(self._endpoint)

    def _get_client(self) -> openai.AsyncOpenAI:
        client = self._client
        if client is not None:
            return client
        if self.key_missing:
            assert self._api_key_env is not None  # key_missing says so
            raise missing_key_error(model_id=self.model, api_key_env=self._api_key_env)
        problem = key_problem(self._api_key)
        if problem is not None:
            raise unusable_key_error(model_id=self.model, api_key_env=self._api_key_env, problem=problem)
        with self._building:  # ``prepare`` may be building it in a worker thread right now
            if self._client is None:
                if self._api_key is None:
                    from openai import omit

                    self._extra_headers = {"Authorization": omit}
                self._client = self._clients.acquire(
                    self._endpoint, timeout=self._config.timeout, max_retries=self._config.max_retries
                )
            return self._client

    async def _embed_batch(self, client: openai.AsyncOpenAI, batch: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            response = await client.embeddings.create(
                model=self.model, input=batch, extra_headers=self._extra_headers or None, **self._parameters
            )
            vectors = self._checked(response, len(batch))
        except Exception as error:
            self._report(len(batch), None, started, failed=True)
            translated = self._translated(error)
            if translated is None:
                raise
            raise translated from error
        usage = getattr(response, "usage", None)
        self._report(len(batch), getattr(usage, "prompt_tokens", None), started)
        return vectors

    def _checked(self, response: Any, expected: int) -> list[list[float]]:
        """The answer's vectors in input order, after checking their number, indexes, lengths
        and values (``vector_problem``)."""
        where = f"model '{self.model}'"
        data = list(getattr(response, "data", None) or [])
        if len(data) != expected:
            raise ModelProviderError(
                f"{where}: the endpoint answered {len(data)} vectors for {expected} texts", model_id=self.model
            )
        data.sort(key=lambda item: item.index)
        if [item.index for item in data] != list(range(expected)):
            raise ModelProviderError(
                f"{where}: the endpoint answered vectors whose indexes are not 0 to {expected - 1}", model_id=self.model
            )
        vectors: list[list[float]] = [item.embedding for item in data]
        for vector in vectors:
            problem = vector_problem(vector)
            if problem is not None:
                raise ModelProviderError(f"{where}: the endpoint answered {problem}", model_id=self.model)
            if len(vector) != self._config.dimensions:
                raise ModelProviderError(
                    f"{where}: the endpoint returned vectors of {len(vector)} dimensions where "
                    f"{self._config.dimensions} are configured: set embedder.dimensions to the model's "
                    "(a base that holds chunks keeps its dimensions: use a new table for another model)",
                    model_id=self.model,
                )
        return vectors

    def _translated(self, error: Exception) -> ModelProviderError | None:
        """Our error for an SDK failure or an answer of the wrong shape; ``None`` for one of
        ours already, or a bug."""
        if isinstance(error, ModelProviderError):
            return None
        translated = sdk_error(error, model_id=self.model, api_key_env=self._api_key_env, api_key=self._api_key)
        if translated is not None:
            return translated
        import openai

        if isinstance(error, (openai.APIError, ValueError, AttributeError, TypeError)):
            # The SDK could not read the answer as an embeddings list (not JSON, no ``data``, an
            # HTML page read as text, items without ``index``).
            return ModelProviderError(
                f"model '{self.model}': the endpoint's answer is not a list of embeddings ({type(error).__name__})",
                model_id=self.model,
            )
        return None

    def _report(self, texts: int, tokens: int | None, started: float, *, failed: bool = False) -> None:
        if self._observe is not None:
            self._observe(EmbeddingCall(texts, tokens, time.perf_counter() - started, failed))


def build_embedder(
    config: EmbedderConfig,
    environ: Mapping[str, str],
    *,
    clients: SharedClients | None = None,
    observe: EmbeddingObserver | None = None,
) -> OpenAIEmbedder:
    """The embedder a knowledge base's config declares, its key read from ``environ``; nothing
    connects yet. The base URL defaults to ``OPENAI_BASE_URL``, then OpenAI's; organization and
    project headers come from ``OPENAI_ORG_ID`` and ``OPENAI_PROJECT_ID``, as for chat models."""
    api_key = key_from(environ, config.api_key_env)
    return OpenAIEmbedder(
        config,
        api_key or None,
        api_key_env=config.api_key_env,
        clients=clients,
        default_base_url=environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL,
        headers=openai_headers(environ),
        observe=observe,
    )
