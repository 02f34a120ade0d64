"""Input every backend can store, checked before anything is stored or any model is called.

PostgreSQL refuses a NUL character in text and JSON, no backend can encode a lone UTF-16
surrogate (``"\\ud800"`` is valid JSON but not UTF-8), ``NaN`` and ``Infinity`` (which Python's
JSON parser accepts) are not JSON to PostgreSQL, a value nested thousands of levels deep
overflows the recursion of every JSON encoder on the way to a database, and an id longer than
a B-tree index entry cannot be a key. Rather than let one backend store what another refuses,
the API refuses such input on every backend with a 4xx naming the field.

``find_problem`` walks a decoded JSON value without recursion and returns the first problem
with the path to it; the ``check_*`` functions raise FastAPI's 422 list (``loc`` names the
field, as pydantic does) or, for a run form's JSON fields, ``BadRequest``.
``check_request_text`` is the router dependency that checks path and query parameters and
JSON bodies of every protected route.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from agentos_runtime.errors import BadRequest

# Deep enough for any real state or metadata, far below the ~1000 frames at which Python's
# JSON encoders and pydantic give up.
MAX_JSON_DEPTH = 64
# Ids are keys in B-tree indexes: PostgreSQL refuses entries over ~2700 bytes, and 512
# characters stay under that even at 4 bytes per character.
MAX_ID_LENGTH = 512

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
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
    """``text_problem`` for an id, plus its length."""
    if len(text) > MAX_ID_LENGTH:
        return Problem("string_too_long", f"An id may have at most {MAX_ID_LENGTH} characters, got {len(text)}")
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


def validation_error(problem: Problem, loc: Loc, value: Any = None) -> RequestValidationError:
    """FastAPI's 422 list with one entry, for ``problem`` at ``loc``."""
    shown = printable(value) if isinstance(value, str) else None
    entry = {"type": problem.kind, "loc": tuple(printable(str(p)) if isinstance(p, str) else p for p in loc)}
    return RequestValidationError([{**entry, "msg": problem.message, "input": shown}])


def check_json(loc: Loc, value: Any) -> None:
    """Raise a 422 naming the field of ``value`` (at ``loc``) that cannot be stored."""
    problem = find_problem(value)
    if problem is not None:
        raise validation_error(problem, (*loc, *problem.path), problem.text)


def check_text(loc: Loc, value: str | None, *, is_id: bool = False) -> None:
    """Raise a 422 naming ``loc`` when ``value`` cannot be stored (or is too long an id)."""
    if value is None:
        return
    problem = id_problem(value) if is_id else text_problem(value)
    if problem is not None:
        raise validation_error(problem, loc, value)


def check_form_json(name: str, value: Any) -> None:
    """For a run form's JSON field: ``BadRequest`` naming the field and the place inside it."""
    problem = find_problem(value)
    if problem is not None:
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{printable(part)}" for part in problem.path)
        raise BadRequest(f"Invalid {name} parameter: {name}{where}: {problem.message}")


def is_id_name(name: str) -> bool:
    return name.endswith("_id")


def check_parameters(location: str, parameters: Mapping[str, str] | Iterator[tuple[str, str]]) -> None:
    """Every path or query parameter: storable text, ids no longer than ``MAX_ID_LENGTH``."""
    items = parameters.items() if isinstance(parameters, Mapping) else parameters
    for name, value in items:
        check_text((location, name), name)
        check_text((location, name), value, is_id=is_id_name(name))


def check_body(body: Any) -> None:
    """A JSON body: every text storable, ``*_id`` fields at its top level short enough."""
    if isinstance(body, dict):
        for name, value in body.items():
            if isinstance(name, str) and is_id_name(name) and isinstance(value, str):
                check_text(("body", name), value, is_id=True)
    check_json(("body",), body)


async def check_request_text(request: Request) -> None:
    """Refuse, with a 422 naming the field, input no backend can store.

    Runs before the route's own body validation. A JSON body is checked when the route reads
    one (FastAPI has parsed it already, so this costs no second parse); run forms are checked
    where they are read (``run_forms``).
    """
    check_parameters("path", request.path_params)
    check_parameters("query", iter(request.query_params.multi_items()))
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and _is_json(request.headers.get("content-type")):
        body = await _parsed_json(request)
        if body is not None:
            check_body(body)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def _parsed_json(request: Request) -> Any:
    """The request's JSON body, or ``None`` when absent or not valid (the route reports that)."""
    if not await request.body():
        return None
    try:
        return await request.json()
    except (ValueError, RecursionError):
        return None
