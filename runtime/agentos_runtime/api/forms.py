"""Form bodies read as the text the client sent, or refused with a 400 naming the field.

A form's text fields (run messages, ids, knowledge names and texts) reach the routes as
``str``; the bytes they came as are read strictly in their charset: the one a multipart part
declares (``Content-Type: text/plain; charset=...``), else the one the form declares
(``multipart/form-data; charset=...``, ``application/x-www-form-urlencoded; charset=...``),
else UTF-8. Bytes that charset cannot read, or a charset that is no text encoding, are
answered 400 ``{"detail": "field 'message' is not valid UTF-8: send text encoded as
UTF-8"}`` before the route runs, so no model is called and nothing is stored. Starlette's own
parsers read a multipart field its charset cannot read as latin-1 (and ignore a part's charset),
an urlencoded body's bytes as latin-1 and its escapes like ``%FF`` as U+FFFD: text turned
silently into other text. Field names and a file's name are read the same way, in the form's
charset; a file's bytes are the route's to read and are not looked at.

Every router of the API is built with ``route_class=FormRoute``: its routes read their form,
whether FastAPI reads it for ``Form(...)`` parameters or the route calls ``request.form()``,
through ``FormRequest``, which parses with ``TextMultiPartParser`` and ``TextFormParser``.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncGenerator, Callable, Coroutine
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import Request, Response
from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import QuerystringParser, parse_options_header
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser, MultipartPart

from agentos_runtime.charsets import charset_codec

FIX = "send text encoded as UTF-8"
MULTIPART = b"multipart/form-data"
URLENCODED = b"application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Charset:
    """The charset text is read in: Python's codec, and the label the client declared (none: UTF-8)."""

    codec: str
    declared: str | None = None

    def read(self, data: bytes | bytearray, what: str) -> str:
        """``data`` as text; ``MultiPartException`` saying that ``what`` is not valid otherwise."""
        try:
            text = data.decode(self.codec)
            if self.codec != UTF_8.codec:
                # utf-7 can yield lone surrogates, which no UTF-8 text holds: such text is not valid.
                text.encode(UTF_8.codec)
        except UnicodeError:
            raise MultiPartException(self._not_valid(what)) from None
        return text

    def _not_valid(self, what: str) -> str:
        if self.codec == UTF_8.codec:
            return f"{what} is not valid UTF-8: {FIX}"
        return (
            f"{what} is not valid {self.declared}, the charset declared for it: {FIX} (declaring utf-8 or no charset)"
        )


UTF_8 = Charset(codecs.lookup("utf-8").name)


# The longest charset label quoted back in a refusal.
LABEL_SHOWN_CHARS = 40


def declared_charset(content_type: str | bytes | None, *, default: Charset, declarer: str) -> Charset:
    """The charset a ``Content-Type`` value declares, else ``default``; ``MultiPartException``
    naming ``declarer`` for one that is not a charset read here."""
    _, params = parse_options_header(content_type)
    label = next((value for key, value in params.items() if key.lower() == b"charset"), None)
    if label is None:
        return default
    name = label.decode("latin-1")
    shown = name if len(name) <= LABEL_SHOWN_CHARS else f"{name[:LABEL_SHOWN_CHARS]}..."
    refused = MultiPartException(f"{declarer} declares charset '{shown}', which is not a charset read here: {FIX}")
    codec = charset_codec(name)
    if codec is None:
        raise refused
    return Charset(codec, name)


def _field(name: str) -> str:
    return f"field '{name}'"


class TextMultiPartParser(MultiPartParser):
    """A multipart form whose text fields, field names and file names are read strictly."""

    def __init__(
        self,
        headers: Headers,
        stream: AsyncGenerator[bytes, None],
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> None:
        super().__init__(headers, stream, max_files=max_files, max_fields=max_fields, max_part_size=max_part_size)
        self.form_charset = declared_charset(headers.get("content-type"), default=UTF_8, declarer="the form")

    def on_headers_finished(self) -> None:
        super().on_headers_finished()  # counts the part against the limits, opens a file's spool
        part = self._current_part
        _, options = parse_options_header(part.content_disposition)
        part.field_name = self.form_charset.read(options[b"name"], "a field name")
        if part.file is not None and b"filename" in options:
            part.file.filename = self.form_charset.read(
                options[b"filename"], f"the file name of {_field(part.field_name)}"
            )

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is not None:
            super().on_part_end()
            return
        text = self._part_charset(part).read(part.data, _field(part.field_name))
        self.items.append((part.field_name, text))

    def _part_charset(self, part: MultipartPart) -> Charset:
        for name, value in part.item_headers:
            if name == b"content-type":
                return declared_charset(value, default=self.form_charset, declarer=_field(part.field_name))
        return self.form_charset


class TextFormParser:
    """An urlencoded form, its names and values (their bytes and ``%`` escapes) read strictly:
    python-multipart's querystring parser splits it, at most ``max_fields`` fields of at most
    ``max_part_size`` bytes each (name and value, as sent). Starlette's own ``FormParser``
    reads them loosely, and how it keeps a field being read changed between its releases."""

    def __init__(
        self,
        headers: Headers,
        stream: AsyncGenerator[bytes, None],
        *,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> None:
        self.stream = stream
        self.max_fields = max_fields
        self.max_part_size = max_part_size
        self.form_charset = declared_charset(headers.get("content-type"), default=UTF_8, declarer="the form")
        self._name = bytearray()
        self._value = bytearray()
        self._items: list[tuple[str, str | UploadFile]] = []

    async def parse(self) -> FormData:
        parser = QuerystringParser(
            {
                "on_field_start": self._on_field_start,
                "on_field_name": self._on_field_name,
                "on_field_data": self._on_field_data,
                "on_field_end": self._on_field_end,
            }
        )
        async for chunk in self.stream:
            parser.write(chunk)
        parser.finalize()
        return FormData(self._items)

    def _on_field_start(self) -> None:
        self._name = bytearray()
        self._value = bytearray()

    def _on_field_name(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]
        self._check_size()

    def _on_field_data(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]
        self._check_size()

    def _check_size(self) -> None:
        if len(self._name) + len(self._value) > self.max_part_size:
            raise MultiPartException(f"Field exceeded maximum size of {int(self.max_part_size / 1024)}KB.")

    def _on_field_end(self) -> None:
        if len(self._items) >= self.max_fields:
            raise MultiPartException(f"Too many fields. Maximum number of fields is {self.max_fields}.")
        name = self.form_charset.read(_unescaped(self._name), "a field name")
        value = self.form_charset.read(_unescaped(self._value), _field(name))
        self._items.append((name, value))


def _unescaped(data: bytearray) -> bytes:
    """An urlencoded name or value's bytes: ``+`` a space, ``%XX`` the byte it stands for."""
    return unquote_to_bytes(bytes(data).replace(b"+", b" "))


class FormRequest(Request):
    """A request whose form is parsed by ``TextMultiPartParser`` or ``TextFormParser``: a text
    field that is not valid in its charset is a 400 naming it."""

    async def _get_form(
        self,
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> FormData:
        if self._form is not None:
            return self._form
        media_type, _ = parse_options_header(self.headers.get("content-type"))
        if media_type not in (MULTIPART, URLENCODED):
            self._form = FormData()
            return self._form
        try:
            async with aclosing(self.stream()) as stream:
                parser: TextMultiPartParser | TextFormParser
                if media_type == MULTIPART:
                    parser = TextMultiPartParser(
                        self.headers, stream, max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
                    )
                else:
                    parser = TextFormParser(self.headers, stream, max_fields=max_fields, max_part_size=max_part_size)
                self._form = await parser.parse()
        except MultiPartException as error:
            raise HTTPException(status_code=400, detail=error.message) from None
        except FormParserError:  # what Starlette's multipart parser lets through (before its 1.10)
            raise HTTPException(status_code=400, detail="Invalid multipart data.") from None
        return self._form


_BEFORE_BODY = "_agentos_before_body"

Check = Callable[[Request], Coroutine[Any, Any, Any]]


def before_body(check: Check) -> Check:
    """Mark a route dependency taking only the request (authentication) to run before FastAPI
    reads the body too: a caller that may not call the route hears so (401, 403), not what is
    wrong with a body it should not have sent (422). It still runs as a dependency after, and
    may keep what it found on the request's scope so that is cheap."""
    setattr(check, _BEFORE_BODY, True)
    return check


class FormRoute(APIRoute):
    """An API route whose request, handed to FastAPI and to the endpoint, is a ``FormRequest``;
    its dependencies marked ``before_body`` run before the body is read."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        first = [
            dependency.dependency
            for dependency in _included_dependencies(self)
            if dependency.dependency is not None and getattr(dependency.dependency, _BEFORE_BODY, False)
        ]

        async def handle_with_text_forms(request: Request) -> Response:
            form_request = FormRequest(request.scope, request.receive, request._send)
            for check in first:
                await check(form_request)
            return await handle(form_request)

        return handle_with_text_forms


def _included_dependencies(route: APIRoute) -> list[Any]:
    """The dependencies of ``route`` as included in the app: its router's (``include_router``)
    and its own. FastAPI builds the handler of a route included through a router while its
    context variable holds that inclusion (as ``APIRoute.get_route_handler`` reads it); a route
    added directly has them all already."""
    context_var = getattr(fastapi_routing, "_effective_route_context_var", None)
    context = context_var.get() if context_var is not None else None
    if context is not None and getattr(context, "original_route", None) is route:
        return list(getattr(context, "dependencies", None) or ())
    return list(route.dependencies)
