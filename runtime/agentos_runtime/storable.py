"""Text and JSON every storage backend can hold: the rules, and the cleaning for text we did not write. Pure.

PostgreSQL refuses a NUL character in text and JSON, no backend can encode a lone UTF-16
surrogate (``"\\ud800"`` is valid JSON but not UTF-8), ``NaN`` and ``Infinity`` (which Python's
JSON parser accepts) are not JSON to PostgreSQL, a value nested thousands of levels deep
overflows the recursion of every JSON encoder on the way to a database (and pydantic's, on the
way back out), and an id longer than a B-tree index entry cannot be a key.

Two uses, one set of rules. What a client sends is checked (``find_problem``) and refused with
a 4xx naming the field (``api.text_checks``), as are the arguments a model passes to a tool
(``tools.executing``), which the model can then correct. Text a model answers or a tool returns
is kept, cleaned (``clean_text``: NUL and lone surrogates become U+FFFD, as the knowledge stores
do for documents), so an answer is never lost for a stray character and every backend stores it
the same.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Deep enough for any real state or metadata, far below where pydantic's serializer (about 250
# levels, measured) and Python's JSON encoders (about 1000) give up.
MAX_JSON_DEPTH = 64
# The largest count a BIGINT column (and a 64-bit integer anywhere) holds.
MAX_COUNT = 2**63 - 1
# Agno's Redis layout keeps a table's indexes at ``<prefix>:<table>:index:...`` and each session's
# run ids at ``<prefix>:runs:by_session:<id>``, beside the records at ``<prefix>:<table>:<id>``: a
# record whose id began so would take an index's key (one user could then break every write of
# another), so no id may, on any backend.
RESERVED_ID_PREFIXES = ("index:", "by_session:")
# Ids are keys in B-tree indexes: PostgreSQL refuses entries over ~2700 bytes, and 512
# characters stay under that even at 4 bytes per character.
MAX_ID_LENGTH = 512
# The most ids one request may name (a bulk delete): within one statement's parameters on every
# backend (PostgreSQL takes 65,535, SQLite builds may take 32,766), and a bounded amount of work.
MAX_IDS_PER_REQUEST = 1000

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A Python string's surrogates are always lone (a pair would have been decoded as one character).
_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """Why a value cannot be stored, and where in it (keys and list positions)."""

    kind: str
    message: str
    path: Loc = ()
    text: str | None = None
    """The text at fault, when it is a string."""


def text_problem(text: str) -> Problem | None:
    """A NUL or a lone surrogate in ``text``, else ``None``."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return Problem("string_nul", "Text may not contain a NUL character (\\u0000)")
    return Problem(
        "string_surrogate",
        f"Text may not contain a lone surrogate (\\u{ord(found.group()):04x}): send valid UTF-8 text",
    )


def id_problem(text: str) -> Problem | None:
    """``text_problem`` for an id, plus its length and the prefixes no id may take."""
    if len(text) > MAX_ID_LENGTH:
        return Problem("string_too_long", f"An id may have at most {MAX_ID_LENGTH} characters, got {len(text)}")
    if text.startswith(RESERVED_ID_PREFIXES):
        return Problem(
            "string_reserved",
            f"An id may not begin with {' or '.join(repr(p) for p in RESERVED_ID_PREFIXES)}:"
            " the Redis layout keeps its indexes under those names",
        )
    return text_problem(text)


def find_problem(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Problem | None:
    """The first unstorable text (key or value) or non-finite number in a decoded JSON value, or
    nesting too deep."""
    stack: list[tuple[Any, Loc]] = [(value, ())]
    while stack:
        current, path = stack.pop()
        if isinstance(current, str):
            problem = text_problem(current)
            if problem is not None:
                return Problem(problem.kind, problem.message, path, current)
            continue
        if isinstance(current, float) and not math.isfinite(current):
            return Problem("number_not_finite", "Numbers must be finite: NaN and Infinity are not JSON", path)
        if not isinstance(current, dict | list):
            continue
        if len(path) >= max_depth:
            return Problem("json_too_deep", f"JSON may be nested at most {max_depth} levels deep", path)
        for key, item in _children(current):
            if isinstance(key, str):
                problem = text_problem(key)
                if problem is not None:
                    return Problem(problem.kind, f"Key: {problem.message}", (*path, key), key)
            stack.append((item, (*path, key)))
    return None


def _children(value: dict[Any, Any] | list[Any]) -> Iterator[tuple[str | int, Any]]:
    if isinstance(value, dict):
        yield from value.items()
    else:
        yield from enumerate(value)


def printable(text: str) -> str:
    """``text`` with NUL and lone surrogates escaped, safe to put in a UTF-8 answer."""
    return _UNSTORABLE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def one_line(text: object) -> str:
    """``text`` for a log line or a terminal: every character that is not printable (a newline
    that would forge a line of its own, an escape sequence that rewrites the terminal, a lone
    surrogate a UTF-8 stream cannot carry) is shown escaped, as Python writes it (``\\n``,
    ``\\x1b``, ``\\udcff``). Unchanged, and fast, when already printable."""
    shown = str(text)
    if shown.isprintable():
        return shown
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in shown)


def path_text(path: Loc) -> str:
    """A ``Problem``'s path as text to follow a field's name: ``.tags[1]``, keys ``printable``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{printable(part)}" for part in path)


def clean_text(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD (unchanged, and fast, when clean)."""
    if text.isascii():
        return text.replace("\x00", REPLACEMENT) if "\x00" in text else text
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub(REPLACEMENT, text)
    return text


def clean_json(value: Any) -> Any:
    """``value`` with every string (keys too) cleaned; containers copied, scalars kept."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(key)): clean_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(item) for item in value]
    return value


def count_or_zero(value: object) -> int:
    """``value`` as a count: a whole number from 0 to ``MAX_COUNT`` (a float only when whole),
    else 0. For counts we did not make (a model's token usage, a stored run's metrics): one that
    cannot be trusted is not counted, rather than failing every sum it would be part of."""
    if isinstance(value, float) and value.is_integer():  # NaN and the infinities are not
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    return 0
