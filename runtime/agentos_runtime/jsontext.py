"""Compact JSON text (``separators=(",", ":")``, UTF-8 kept readable) for what the runtime writes
most: stored records, JSON answers, stream events, model requests.

orjson writes it, in about a tenth of the standard library's time for a run's record (a run's
storage and answer encoding was a fifth of its CPU on Redis, measured in benchmarks/runtime).
What orjson refuses and the standard library writes (integers past 64 bits, keys that are not
strings, text holding a lone surrogate, nesting past 254 levels) is written by the standard
library, exactly as before; what neither writes raises the standard library's error (a
``TypeError`` for a value that is not JSON, unless ``default`` turns it into one).

Where the two differ, on values that are not JSON: NaN and the infinities are written as
``null`` (the standard library writes ``NaN``, which no JSON reader but Python's takes, and
PostgreSQL refuses), and a ``UUID`` or an ``Enum`` member as its value. Numbers keep their value
but not always their spelling (``1e-07`` is written ``1e-7``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

# Dataclasses and datetimes are not JSON: orjson hands them to ``default`` (or refuses them), as
# the standard library does, rather than writing them its own way.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def dumps_bytes(value: Any, *, default: Callable[[Any], Any] | None = None) -> bytes:
    """``value`` as compact JSON in UTF-8; ``default`` turns what is not JSON into what is.

    Raises ``TypeError`` for a value that is not JSON (without ``default``), and
    ``UnicodeEncodeError`` for text holding a lone surrogate, which UTF-8 cannot hold.
    """
    try:
        return orjson.dumps(value, default=default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return _standard(value, default).encode()


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None) -> str:
    """``value`` as compact JSON text; raises ``TypeError`` for a value that is not JSON."""
    try:
        return orjson.dumps(value, default=default, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return _standard(value, default)


def _standard(value: Any, default: Callable[[Any], Any] | None) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)
