"""HTTP mapping of errors, in one place: every error body is ``{"detail": ...}`` as in Agno.

``AgentOSError`` subclasses carry their status (``NotFound`` 404, ``StorageUnavailable``
503, ...), so routes raise domain errors and never build error responses themselves.
Validation errors keep FastAPI's 422 list, which Agno's clients expect, with two of its
entries made readable (``readable_validation_errors``): a form's text field sent as a file, and
a file field sent as text. Anything else is a
bug: it is logged once with its traceback and answered with a fixed 500 text, because an
exception message may carry a URL or a key that must not reach the caller.

That 500 is sent by ``AnswerUnexpectedErrors``, inside the app, rather than by Starlette's
outermost error middleware: that one re-raises after answering, and the server then drops the
keep-alive connection without saying ``Connection: close``, so a client's next request on it
is reset. Answered here, the error ends with the response and the connection stays usable.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentos_runtime.errors import AgentOSError, Busy, ModelProviderError, StorageUnavailable
from agentos_runtime.storable import MAX_JSON_DEPTH
from agentos_runtime.storage.urls import redact

logger = logging.getLogger("agentos_runtime.api")


async def handle_agentos_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AgentOSError)
    # Storage errors are written without URLs; stripping credentials again costs nothing.
    detail = redact(error.detail) if isinstance(error, StorageUnavailable) else error.detail
    body: dict[str, str] = {"detail": detail}
    if isinstance(error, ModelProviderError):
        body["error_type"] = error.error_type
        body["error_id"] = error.error_id
    if error.status_code >= 500:
        logger.warning("%s %s answered %d: %s", request.method, request.url.path, error.status_code, error.detail)
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, Busy) else None
    return JSONResponse(body, status_code=error.status_code, headers=headers)


INTERNAL_ERROR = "Internal server error"
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def handle_unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return JSONResponse({"detail": INTERNAL_ERROR}, status_code=500)


class AnswerUnexpectedErrors:
    """An exception no handler took becomes 500 ``{"detail": "Internal server error"}``; a
    client that disconnects before its body arrived, or while a route that watches for it works
    (``ClientDisconnect``), gets nothing and is no error.

    Once a response has started (a stream failing midway) nothing can be answered any more:
    the error is re-raised and the server closes the connection, as the response is cut short.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            # The client went away before it was answered: nobody to answer, nothing failed.
            logger.debug("%s %s: the client went away before it was answered", scope["method"], scope["path"])
        except Exception as error:
            if started:
                raise
            logger.error("%s %s failed", scope["method"], scope["path"], exc_info=error)
            response = JSONResponse({"detail": INTERNAL_ERROR}, status_code=500)
            await response(scope, receive, send)


async def handle_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code >= 500:
        logger.warning("%s %s answered %d: %s", request.method, request.url.path, error.status_code, error.detail)
    detail = body_parsing_detail(error.__cause__) or str(error.detail)
    headers = error.headers
    if error.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return JSONResponse({"detail": detail}, status_code=error.status_code, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (Starlette names only those of the
    first route that matched the path, and a path often has one route per method). Each method
    is tried against the routes as the router would: the answer holds for nested routers too."""
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def body_parsing_detail(cause: BaseException | None) -> str | None:
    """Why a body could not be parsed, for the causes FastAPI answers with a bare 400."""
    if isinstance(cause, RecursionError):
        return f"Invalid JSON body: nested too deeply (at most {MAX_JSON_DEPTH} levels)"
    if isinstance(cause, UnicodeDecodeError):
        return "Invalid JSON body: not UTF-8 text"
    return None


def install_error_handlers(app: FastAPI) -> None:
    """The handlers, and ``AnswerUnexpectedErrors`` (innermost of the middleware added so far)."""
    app.add_middleware(AnswerUnexpectedErrors)
    app.add_exception_handler(AgentOSError, handle_agentos_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(Exception, handle_unexpected_error)


async def handle_validation_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422, its entries made readable by ``readable_validation_errors``."""
    assert isinstance(error, RequestValidationError)
    readable = RequestValidationError(readable_validation_errors(error.errors()), body=error.body)
    return await request_validation_exception_handler(request, readable)


# pydantic's message for a file field of a form that received text.
_EXPECTED_FILE = "Value error, Expected UploadFile"


def readable_validation_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's validation errors, with a form's text field sent as a file answered by its file
    name and what to send instead (not the upload object's attributes, temporary file and all),
    and a file field sent as text by what to send instead (not a Python class name)."""
    readable = []
    for entry in errors:
        field = str(entry["loc"][-1]) if entry.get("loc") else "the field"
        value = entry.get("input")
        if isinstance(value, UploadFile):
            msg = f"Input should be text, not a file: send {field} as a plain form field"
            entry = {"type": entry["type"], "loc": entry["loc"], "msg": msg, "input": value.filename}
        elif str(entry.get("msg", "")).startswith(_EXPECTED_FILE):
            msg = f"Input should be a file, not text: send {field} as a file part (with a filename)"
            entry = {"type": entry["type"], "loc": entry["loc"], "msg": msg, "input": value}
        readable.append(dict(entry))
    return readable
