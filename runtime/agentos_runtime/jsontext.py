"""Compact JSON text (``separators=(",", ":")``, UTF-8 kept readable) for what the runtime writes
most: stored records, JSON answers, stream events, model requests.

orjson writes it, in about a tenth of the standard library's time for a run's record (a run's
storage and answer encoding was a fifth of its CPU on Redis, measured in benchmarks/runtime).
What orjson refuses and the standard library writes (integers past 64 bits, keys that are not
strings, text holding a lone surrogate, nesting past 254 levels, subclasses of ``float`` and
``tuple`` such as numpy's floats and named tuples) is written by the standard library, as
before; what neither writes raises the standard library's error (a ``TypeError`` for a value
that is not JSON, unless ``default`` turns it into one).

Where the two differ, on values that are not JSON: NaN and the infinities, which JSON has not,
are written as ``null`` by either (the standard library would write ``NaN``, which no JSON reader
but Python's takes, and PostgreSQL refuses; ``default``'s results are written as they are), and
a ``UUID`` or an ``Enum`` member is written as its value. Numbers keep their value but not always
their spelling (``1e-07`` is written ``1e-7``).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from typing import Any

import orjson

Default = Callable[[Any], Any]

# Dataclasses and datetimes are not JSON: orjson hands them to ``default`` (or refuses them), as
# the standard library does, rather than writing them its own way.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def dumps_bytes(value: Any, *, default: Default | None = None) -> bytes:
    """``value`` as compact JSON in UTF-8; ``default`` turns what is not JSON into what is.

    Raises ``TypeError`` for a value that is not JSON (without ``default``), and
    ``UnicodeEncodeError`` for text holding a lone surrogate, which UTF-8 cannot hold.
    """
    written = _orjson(value, default)
    return _standard(value, default).encode() if written is None else written


def dumps(value: Any, *, default: Default | None = None) -> str:
    """``value`` as compact JSON text; raises ``TypeError`` for a value that is not JSON."""
    written = _orjson(value, default)
    return _standard(value, default) if written is None else written.decode()


def _orjson(value: Any, default: Default | None) -> bytes | None:
    """``value`` written by orjson, or ``None`` where orjson refuses it."""
    try:
        return orjson.dumps(value, default=_only_not_json(default), option=_OPTIONS)
    except orjson.JSONEncodeError:
        return None


@functools.lru_cache(maxsize=32)
def _only_not_json(default: Default | None) -> Default | None:
    """``default`` for what is not JSON; a subclass of ``float`` or ``tuple`` (which orjson hands
    to it too) is refused, so the standard library writes it as the number or array it is.
    Made once per ``default`` (callers pass the same few functions)."""
    if default is None:
        return None

    def call(value: Any) -> Any:
        if isinstance(value, float | tuple):
            raise TypeError(f"{type(value).__name__}: written by the standard library")
        return default(value)

    return call


def _standard(value: Any, default: Default | None) -> str:
    try:
        finite = _finite(value)
    except RecursionError:  # a cycle, or nesting deeper than the interpreter goes: the standard library's error
        finite = value
    return json.dumps(finite, ensure_ascii=False, separators=(",", ":"), default=default)


def _finite(value: Any) -> Any:
    """``value`` with NaN and the infinities in it (not in what ``default`` gives) as ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
