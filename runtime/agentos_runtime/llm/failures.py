"""Model endpoint failures (error answers, transport errors) to the runtime's one provider-error family.

Callers decide on the class alone: ``ModelRateLimitError`` (429, retried by the client before
it reaches here), ``ModelAuthenticationError`` (401, never retried), ``ModelConnectionError``
(502: refused, reset, timed out), ``ContextWindowExceededError`` (400) and plain
``ModelProviderError`` carrying the endpoint's status. Messages name the model and, for keys,
the environment variable; they never contain the key itself: a 401 body is not repeated (OpenAI
echoes a masked key there) and any other message has the key replaced.
"""

from __future__ import annotations

import re

from agentos_runtime.errors import (
    ContextWindowExceededError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelProviderError,
    ModelRateLimitError,
)

# How OpenAI-compatible servers say a prompt is too long when they send no error code
# (vLLM, llama.cpp, Ollama and OpenAI's own older messages).
_CONTEXT_PATTERNS = re.compile(
    r"context[_ ]length|maximum context|context window|too many tokens|prompt is too long|exceeds the context",
    re.IGNORECASE,
)
# Longest provider message repeated to the user; bodies can be whole HTML error pages.
_MESSAGE_MAX = 500


def transport_error(error: BaseException, *, model_id: str, api_key: str | None) -> ModelConnectionError | None:
    """Our error for a transport failure (``TransportFailure``: refused, reset, timed out).

    ``None`` for anything else: an unknown failure is a bug to surface unchanged, not to rename.
    """
    from agentos_runtime.llm.http11 import TransportFailure

    where = f"model '{model_id}'"
    if not isinstance(error, TransportFailure):
        return None
    if error.timed_out:
        return ModelConnectionError(f"{where}: the endpoint did not answer in time", model_id=model_id)
    return ModelConnectionError(f"{where}: cannot reach the endpoint: {_clean(str(error), api_key)}", model_id=model_id)


def missing_key_error(*, model_id: str, api_key_env: str) -> ModelAuthenticationError:
    """The error for a model whose key variable is unset or empty (the value is never shown)."""
    return ModelAuthenticationError(
        f"model '{model_id}': no API key: set the environment variable {api_key_env}", model_id=model_id
    )


def status_error(
    status: int, message: str, *, code: str | None, model_id: str, api_key_env: str | None, api_key: str | None
) -> ModelProviderError:
    """Our error for an error status the endpoint answered (with its ``error.message``/``code``).

    Independent of the SDK, so any transport reading the status itself maps it the same way.
    """
    where = f"model '{model_id}'"
    if status == 401:
        source = f" from {api_key_env}" if api_key_env else ""
        return ModelAuthenticationError(f"{where}: the endpoint rejected the API key{source} (401)", model_id=model_id)
    message = _clean(message, api_key)
    if status == 429:
        return ModelRateLimitError(f"{where}: rate limited by the endpoint (429): {message}", model_id=model_id)
    if code == "context_length_exceeded" or (status in (400, 413) and _CONTEXT_PATTERNS.search(message)):
        return ContextWindowExceededError(
            f"{where}: the prompt does not fit the model's context window: {message}", model_id=model_id
        )
    return ModelProviderError(
        f"{where}: the endpoint answered {status}: {message}", status_code=status, model_id=model_id
    )


def _clean(message: str, api_key: str | None) -> str:
    if api_key:
        message = message.replace(api_key, "***")
    if len(message) > _MESSAGE_MAX:
        message = message[:_MESSAGE_MAX] + "..."
    return message
