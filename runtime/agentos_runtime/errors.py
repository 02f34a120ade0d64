"""The runtime's errors: one root, subclasses only where a caller decides differently.

Tree::

    AgentOSError (status_code, detail)
    ├── NotFound                 404: an unknown agent, session, run or memory
    ├── BadRequest               400: input the API cannot act on
    ├── Conflict                 409
    ├── StorageUnavailable       503: the database cannot be reached; nothing was written (transient)
    ├── UnreadableRecord         500: a stored record is damaged; the detail names it
    └── ModelProviderError      status of the provider failure, stable ``error_type``/``error_id``
        ├── ModelRateLimitError          429, retried with backoff (transient)
        ├── ModelAuthenticationError     401, never retried
        ├── ModelConnectionError         502: connection refused, timeout (transient)
        └── ContextWindowExceededError   400: the prompt does not fit the model

Apart from the tree, ``DescribedFailure`` marks an error whose message says all there is to say
(a refused URL, an expression that is not arithmetic, an MCP server's refusal): where it is
caught and logged, one line, no traceback. Tools raise its subclass ``ToolFailed``.

HTTP mapping happens once, in ``api/errors.py``: ``{"detail": ...}`` with ``status_code``.
A detail may quote what we did not write (an endpoint's error message, a client's id), and it
is answered, logged and stored with a failed run: its NUL characters and lone surrogates become
U+FFFD (``storable.clean_text``), so no backend refuses to store it and no answer fails to encode.
"""

from __future__ import annotations

from agentos_runtime.storable import clean_text


class DescribedFailure(Exception):
    """A failure foreseen and described in its message: logged in one line, never with a traceback."""


class AgentOSError(Exception):
    """Root of every error the runtime raises on purpose."""

    status_code: int = 500
    transient: bool = False
    """Whether the same request may succeed later unchanged (an endpoint unreachable, timing out,
    answering 5xx): what background work retries (``knowledge.retrying``)."""

    def __init__(self, detail: str, *, status_code: int | None = None, transient: bool | None = None) -> None:
        detail = clean_text(detail)
        super().__init__(detail)
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code
        if transient is not None:
            self.transient = transient


class NotFound(AgentOSError):
    status_code = 404


class BadRequest(AgentOSError):
    status_code = 400


class Conflict(AgentOSError):
    status_code = 409


class Busy(AgentOSError):
    """The server holds all it takes of this kind of work for now: 503 with ``Retry-After``."""

    status_code = 503

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class StorageUnavailable(AgentOSError):
    """The database could not be reached or refused the operation; the write did not happen."""

    status_code = 503
    transient = True


class UnreadableRecord(AgentOSError):
    """A stored record the runtime cannot read (damaged around it): a fault of the stored data,
    not of the request nor of the database's availability, so 500 with a detail saying which
    record of which database and what to do, never a traceback. Listings leave such a record out."""

    status_code = 500

    def __init__(self, *, db_id: str, kind: str, record_id: str, reason: str) -> None:
        super().__init__(
            f"stored {kind} '{record_id}' in database '{db_id}' cannot be read ({reason}): delete it or restore it"
        )
        self.kind = kind
        self.record_id = record_id


class ModelProviderError(AgentOSError):
    """A model endpoint failed. ``error_type`` is Agno's event field, ``error_id`` its stable id."""

    status_code = 502
    error_type = "model_provider_error"
    error_id = "model_provider_error"

    def __init__(
        self,
        detail: str,
        *,
        status_code: int | None = None,
        model_id: str | None = None,
        transient: bool | None = None,
    ) -> None:
        super().__init__(detail, status_code=status_code, transient=transient)
        self.model_id = model_id


class ModelRateLimitError(ModelProviderError):
    status_code = 429
    transient = True
    error_id = "model_rate_limit_error"


class ModelAuthenticationError(ModelProviderError):
    status_code = 401
    error_id = "model_authentication_error"


class ModelConnectionError(ModelProviderError):
    status_code = 502
    transient = True
    error_id = "model_connection_error"


class ContextWindowExceededError(ModelProviderError):
    status_code = 400
    error_id = "context_window_exceeded"
