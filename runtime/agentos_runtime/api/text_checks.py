"""Input every backend can store, checked before anything is stored or any model is called.

The rules are ``storable``'s (NUL, lone surrogates, NaN and Infinity, nesting, id length): rather
than let one backend store what another refuses, the API refuses such input on every backend
with a 4xx naming the field. The ``check_*`` functions raise FastAPI's 422 list (``loc`` names
the field, as pydantic does) or, for a run form's JSON fields, ``BadRequest``.
``check_request_text`` is the router dependency that checks path and query parameters and
JSON bodies of every protected route.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from agentos_runtime.errors import BadRequest
from agentos_runtime.storable import (
    Loc,
    Problem,
    find_problem,
    id_problem,
    path_text,
    printable,
    text_problem,
)


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
        raise BadRequest(f"Invalid {name} parameter: {name}{path_text(problem.path)}: {problem.message}")


def is_id_name(name: str) -> bool:
    return name.endswith("_id")


def check_parameters(location: str, parameters: Mapping[str, str] | Iterator[tuple[str, str]]) -> None:
    """Every path or query parameter: storable text, ids no longer than ``MAX_ID_LENGTH``."""
    items = parameters.items() if isinstance(parameters, Mapping) else parameters
    for name, value in items:
        check_text((location, name), name)
        check_text((location, name), value, is_id=is_id_name(name))


def check_body(body: Any) -> None:
    """A JSON body: every text storable, the ids of its top level (``*_id``, and each of a
    ``*_ids`` list) valid ids (``storable.id_problem``)."""
    if isinstance(body, dict):
        for name, value in body.items():
            if not isinstance(name, str):
                continue
            if is_id_name(name) and isinstance(value, str):
                check_text(("body", name), value, is_id=True)
            elif name.endswith("_ids") and isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, str):
                        check_text(("body", name, index), item, is_id=True)
    check_json(("body",), body)


async def check_request_parameters(request: Request) -> None:
    """Refuse, with a 422 naming the parameter, path and query parameters no backend can store
    (for a route that checks its body itself: ``/mcp`` answers in JSON-RPC terms)."""
    check_parameters("path", request.path_params)
    check_parameters("query", iter(request.query_params.multi_items()))


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
