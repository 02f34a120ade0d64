"""Form bodies written byte by byte, as a client that does not encode its text as UTF-8 sends them.

A client library encodes every text field as UTF-8 (and escapes an urlencoded one): these build
the bodies it would not, with bytes of any charset, a charset declared for one part or for the
whole form, and raw (unescaped) urlencoded bytes. Each returns the keyword arguments of an
``httpx`` request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes

BOUNDARY = "agentos-test-boundary"


@dataclass(frozen=True)
class Part:
    """One part of a multipart form: a text field, or a file when it has a ``filename``."""

    name: str | bytes
    value: bytes
    content_type: str | None = None
    filename: bytes | None = None


def _bytes(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else text


def multipart(*parts: Part, charset: str | None = None) -> dict[str, Any]:
    """A ``multipart/form-data`` body of ``parts``, declaring ``charset`` for the form when given."""
    body = b""
    for part in parts:
        disposition = b'form-data; name="' + _bytes(part.name) + b'"'
        if part.filename is not None:
            disposition += b'; filename="' + part.filename + b'"'
        body += f"--{BOUNDARY}\r\n".encode() + b"Content-Disposition: " + disposition + b"\r\n"
        if part.content_type is not None:
            body += f"Content-Type: {part.content_type}\r\n".encode()
        body += b"\r\n" + part.value + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    content_type = f"multipart/form-data; boundary={BOUNDARY}" + (f"; charset={charset}" if charset else "")
    return {"content": body, "headers": {"content-type": content_type}}


def urlencoded(
    *pairs: tuple[str | bytes, str | bytes], escaped: bool = True, charset: str | None = None
) -> dict[str, Any]:
    """An ``application/x-www-form-urlencoded`` body: each byte that is not ASCII ``%XX``-escaped
    (as a browser sends it), or, not ``escaped``, left as it is (as ``curl -d`` sends it)."""

    def written(text: str | bytes) -> bytes:
        raw = _bytes(text)
        return quote_from_bytes(raw).encode() if escaped else raw

    body = b"&".join(written(name) + b"=" + written(value) for name, value in pairs)
    content_type = "application/x-www-form-urlencoded" + (f"; charset={charset}" if charset else "")
    return {"content": body, "headers": {"content-type": content_type}}


# How a form is sent: multipart, urlencoded with escapes, or urlencoded with raw bytes.
FORM_KINDS = ("multipart", "urlencoded", "urlencoded-unescaped")


def form(kind: str, *pairs: tuple[str | bytes, str | bytes]) -> dict[str, Any]:
    """``pairs`` sent as a form of ``kind`` (one of ``FORM_KINDS``)."""
    if kind == "multipart":
        return multipart(*(Part(name, _bytes(value)) for name, value in pairs))
    return urlencoded(*pairs, escaped=kind == "urlencoded")
