"""When a content whose processing failed is processed again, on its own. Pure.

In Kubernetes the embeddings endpoint (an Ollama or TEI Service, a sidecar) or a source's web
server often becomes ready after the runtime, so the configured sources loaded at start fail
for a reason that passes. Such a failure is *transient* (``AgentOSError.transient``: the
endpoint unreachable or timing out, a 5xx, a 429, the database down) and the content is
processed again after a delay that doubles from ``FIRST_RETRY_SECONDS`` up to
``MAX_RETRY_SECONDS``, jittered (replicas that started together do not call together), for as
long as the runtime runs; its ``status_message`` says when the next attempt is. A *permanent*
failure (a key refused, another 4xx, a document that cannot be read, an answer of the wrong
shape) waits for a change: a refresh, an edit of the source, a restart. Only a content whose
origin can be read again is retried (a configured source, a URL); an upload's bytes are gone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from agentos_runtime.errors import AgentOSError

FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 300.0


def is_transient(error: BaseException) -> bool:
    """Whether processing that failed with ``error`` may succeed later unchanged. Anything
    but one of our errors (a file that cannot be read, a bug) is permanent."""
    return isinstance(error, AgentOSError) and error.transient


def retry_delay(attempt: int, *, jitter: float) -> float:
    """Seconds before retry number ``attempt`` (1 for the first): ``FIRST_RETRY_SECONDS``
    doubled per attempt up to ``MAX_RETRY_SECONDS``, then scaled to between half and all of it
    by ``jitter`` (0 to 1)."""
    doubled = FIRST_RETRY_SECONDS * 2.0 ** min(max(attempt, 1) - 1, 32)
    return min(doubled, MAX_RETRY_SECONDS) * (0.5 + min(max(jitter, 0.0), 1.0) / 2)


def next_retry(error: BaseException, *, resumable: bool, attempt: int, jitter: float) -> float | None:
    """The delay before retry number ``attempt`` of a content that failed with ``error``, or
    ``None`` when it is not retried (a permanent failure, or an origin that cannot be read
    again)."""
    if not resumable or not is_transient(error):
        return None
    return retry_delay(attempt, jitter=jitter)


def retry_note(attempt: int, at: float) -> str:
    """What a failed content's ``status_message`` adds when retry number ``attempt`` is due at
    ``at`` (epoch seconds)."""
    when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f" (a temporary failure: retry {attempt} at {when})"
