"""HTTP mapping of errors, in one place: every error body is ``{"detail": ...}`` as in Agno.

``AgentOSError`` subclasses carry their status (``NotFound`` 404, ``StorageUnavailable``
503, ...), so routes raise domain errors and never build error responses themselves.
Validation errors keep FastAPI's 422 list, which Agno's clients expect. Anything else is a
bug: it is logged once with its traceback and answered with a fixed 500 text, because an
exception message may carry a URL or a key that must not reach the caller.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentos_runtime.errors import AgentOSError, ModelProviderError

logger = logging.getLogger("agentos_runtime.api")


async def handle_agentos_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AgentOSError)
    body: dict[str, str] = {"detail": error.detail}
    if isinstance(error, ModelProviderError):
        body["error_type"] = error.error_type
        body["error_id"] = error.error_id
    if error.status_code >= 500:
        logger.warning("%s %s answered %d: %s", request.method, request.url.path, error.status_code, error.detail)
    return JSONResponse(body, status_code=error.status_code)


async def handle_unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


async def handle_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code >= 500:
        logger.warning("%s %s answered %d: %s", request.method, request.url.path, error.status_code, error.detail)
    return JSONResponse({"detail": str(error.detail)}, status_code=error.status_code, headers=error.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AgentOSError, handle_agentos_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(Exception, handle_unexpected_error)
