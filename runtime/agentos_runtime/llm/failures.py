"""Model endpoint failures (the OpenAI SDK's errors, a broken stream) to the runtime's provider-error family.

Callers decide on the class alone: ``ModelRateLimitError`` (429, after the SDK's own retries),
``ModelAuthenticationError`` (401, never retried), ``ModelConnectionError`` (502: refused,
reset, timed out, cut off mid-answer, an answer that is not HTTP),
``ContextWindowExceededError`` (400) and plain ``ModelProviderError`` carrying the endpoint's
status (502 for an answer that is no error status a client could act on, such as a redirect).
Messages name the model and, for keys, the environment variable; they never contain the key
itself: a 401 body is not repeated (OpenAI echoes a masked key there) and any other message has
the key replaced.

The SDK's error classes are only looked up when an error has happened, so importing this
module loads no HTTP library.
"""

from __future__ import annotations

import re
import ssl
import sys
from typing import Any

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


def missing_key_error(*, model_id: str, api_key_env: str) -> ModelAuthenticationError:
    """The error for a model whose key variable is unset or empty (the value is never shown)."""
    return ModelAuthenticationError(
        f"model '{model_id}': no API key: set the environment variable {api_key_env}", model_id=model_id
    )


def unusable_key_error(*, model_id: str, api_key_env: str | None, problem: str) -> ModelAuthenticationError:
    """The error for a key no HTTP header can carry (``llm.keys``); the value is never shown."""
    return ModelAuthenticationError(
        f"model '{model_id}': the API key in {api_key_env or 'its variable'} cannot be sent: {problem}"
        " (a key is printable ASCII): check how its Secret or variable was made",
        model_id=model_id,
    )


def status_error(
    status: int,
    message: str,
    *,
    code: str | None,
    model_id: str,
    api_key_env: str | None,
    api_key: str | None,
    location: str | None = None,
) -> ModelProviderError:
    """Our error for a status the endpoint answered instead of a completion (with its
    ``error.message``/``code``; ``location`` is a redirect's target)."""
    where = f"model '{model_id}'"
    if status == 401:
        source = f" from {api_key_env}" if api_key_env else ""
        return ModelAuthenticationError(f"{where}: the endpoint rejected the API key{source} (401)", model_id=model_id)
    message = _clean(message, api_key)
    if status < 400:
        # A redirect (the SDK's client follows none): the request went to the wrong URL. The
        # status is not the run's: a client of the runtime must not be redirected by it.
        target = f" to {_clean(location, api_key)}" if location else ""
        return ModelProviderError(
            f"{where}: the endpoint answered {status} (a redirect{target}) instead of a completion: "
            "set the model's base_url to the URL that serves it",
            model_id=model_id,
        )
    if status == 429:
        return ModelRateLimitError(f"{where}: rate limited by the endpoint (429): {message}", model_id=model_id)
    if code == "context_length_exceeded" or (status in (400, 413) and _CONTEXT_PATTERNS.search(message)):
        return ContextWindowExceededError(
            f"{where}: the prompt does not fit the model's context window: {message}", model_id=model_id
        )
    # A server error or a request timeout may pass; any other 4xx needs a change of the request.
    return ModelProviderError(
        f"{where}: the endpoint answered {status}: {message}",
        status_code=status,
        model_id=model_id,
        transient=status >= 500 or status == 408,
    )


def sdk_error(
    error: BaseException, *, model_id: str, api_key_env: str | None, api_key: str | None
) -> ModelProviderError | None:
    """Our error for what the OpenAI SDK raised, or for a transport failure while an answer is
    read (a stream stalling or cut off after its first chunk).

    ``None`` for anything else: an unknown failure is a bug to surface unchanged, not to rename.
    """
    openai = sys.modules.get("openai")
    httpx2 = sys.modules.get("httpx2")
    anyio = sys.modules.get("anyio")
    where = f"model '{model_id}'"
    if openai is not None and isinstance(error, openai.APIStatusError):
        response = error.response
        return status_error(
            error.status_code,
            error.message,
            code=str(error.code) if error.code is not None else None,
            model_id=model_id,
            api_key_env=api_key_env,
            api_key=api_key,
            location=response.headers.get("location"),
        )
    aiohttp = sys.modules.get("aiohttp")
    if _timed_out(error, openai, httpx2, aiohttp):
        return ModelConnectionError(f"{where}: the endpoint did not answer in time", model_id=model_id)
    if openai is not None and isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error
        return ModelConnectionError(
            f"{where}: cannot reach the endpoint: {_describe(cause, api_key)}", model_id=model_id
        )
    broken = (httpx2.TransportError,) if httpx2 is not None else ()
    broken += (anyio.EndOfStream, anyio.BrokenResourceError) if anyio is not None else ()
    if isinstance(error, (*broken, ssl.SSLError)):
        return ModelConnectionError(
            f"{where}: the connection to the endpoint broke off during the answer: {_describe(error, api_key)}",
            model_id=model_id,
        )
    if aiohttp is not None and isinstance(error, aiohttp.ClientError):
        # What the SDK's aiohttp transport passes on unmapped: an answer that is not HTTP
        # (a bad status line, a header past aiohttp's limit), before or during the answer.
        message = error.message if isinstance(error, aiohttp.ClientResponseError) else ""
        return ModelConnectionError(
            f"{where}: the endpoint's answer could not be read: {_describe(message or error, api_key)}",
            model_id=model_id,
        )
    return None


def answer_error(error: ModelProviderError, *, model_id: str, api_key: str | None) -> ModelProviderError:
    """``error``, raised while an answer was read (``llm.chunks``), naming the model and without
    the key: an endpoint may quote the key it was sent in an error it puts in the answer."""
    return type(error)(
        f"model '{model_id}': {_clean(error.detail, api_key)}", model_id=model_id, transient=error.transient
    )


def _timed_out(error: BaseException, openai: Any, httpx2: Any, aiohttp: Any) -> bool:
    """Whether ``error`` is a timeout, and began as one: the SDK's aiohttp transport reports
    every failure to connect (refused, reset, an untrusted certificate) as a connect timeout,
    raised from aiohttp's own error, which is a ``TimeoutError`` only for a real timeout."""
    reported = (openai is not None and isinstance(error, openai.APITimeoutError)) or (
        httpx2 is not None and isinstance(error, httpx2.TimeoutException)
    )
    if not reported or aiohttp is None:
        return reported
    link: BaseException | None = error
    seen: set[int] = set()
    while link is not None and id(link) not in seen:
        if isinstance(link, aiohttp.ClientError):
            return isinstance(link, TimeoutError)
        seen.add(id(link))
        link = link.__cause__
    return True


def _describe(error: BaseException | str, api_key: str | None) -> str:
    """The error's text on one line (aiohttp's span several), or its type when it has none."""
    return _clean(" ".join(str(error).split()) or type(error).__name__, api_key)


def _clean(message: str, api_key: str | None) -> str:
    if api_key:
        message = message.replace(api_key, "***")
    if len(message) > _MESSAGE_MAX:
        message = message[:_MESSAGE_MAX] + "..."
    return message
