"""An API key as the environment holds it: surrounding whitespace dropped, what a header cannot carry named.

A key made into a Kubernetes Secret from a file, or with ``echo``, often ends with a newline.
Sent as is, every request failed inside the HTTP client with "Forbidden control character
detected in headers" (a traceback, and a message that says nothing of the key); a non-ASCII
character failed with a ``UnicodeEncodeError``. Surrounding whitespace is never part of a key
(HTTP drops it from header values anyway), so it is removed; any other character a header
cannot carry makes each request of that model fail with a message naming the variable and the
position, never the value.
"""

from __future__ import annotations

from collections.abc import Mapping


def key_from(environ: Mapping[str, str], name: str | None) -> str | None:
    """The key in the variable ``name`` without surrounding whitespace; ``None`` when unset or blank."""
    value = environ.get(name) if name else None
    return (value.strip() or None) if value else None


def key_problem(key: str | None) -> str | None:
    """Why ``key`` cannot go in an ``Authorization`` header (printable ASCII only), or ``None``."""
    for position, character in enumerate(key or "", start=1):
        if not "!" <= character <= "~":
            if character == " ":
                kind = "a space"
            elif character.isascii():
                kind = "a control character"
            else:
                kind = "a character that is not ASCII"
            return f"it holds {kind} at position {position}"
    return None
