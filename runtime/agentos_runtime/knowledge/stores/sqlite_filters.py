"""Search filters on chunk metadata as SQLite SQL, matching PostgreSQL's ``jsonb @>``: pure.

Scalars and lists of scalars are compared in SQL (JSON type and value, ``json_each`` for
lists); nested objects and keys a JSON path cannot quote go through ``json_contains``,
registered on the connection as ``agentos_json_contains``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from agentos_runtime.knowledge.stores.checking import decode_json, json_contains

JSON_CONTAINS = "agentos_json_contains"
_SIMPLE_KEY = re.compile(r'^[^"\\]*$')


def json_contains_sql(document: str | None, pattern: str) -> int:
    """``JSON_CONTAINS`` as SQLite calls it: JSON texts in, 1 or 0 out."""
    return int(json_contains(decode_json(document), json.loads(pattern)))


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


class _Params(dict[str, Any]):
    """A clause's named parameters (``:filter_0``, ...): ``add`` gives a value its placeholder."""

    def add(self, value: Any) -> str:
        name = f"filter_{len(self)}"
        self[name] = value
        return f":{name}"


def _scalar_match(kind: str, value_sql: str, wanted: Any, params: _Params) -> str:
    """SQL true when a JSON value (its ``json_type`` in ``kind``, SQL value in ``value_sql``)
    equals the scalar ``wanted`` as ``jsonb`` compares them (``true`` is not ``1``)."""
    if wanted is None:
        return f"{kind} = 'null'"
    if isinstance(wanted, bool):
        return f"{kind} = {params.add('true' if wanted else 'false')}"
    if isinstance(wanted, int | float):
        return f"{kind} IN ('integer', 'real') AND {value_sql} = {params.add(wanted)}"
    return f"{kind} = 'text' AND {value_sql} = {params.add(str(wanted))}"


def filter_clause(filters: Mapping[str, Any], alias: str) -> tuple[str, dict[str, Any]]:
    """SQL keeping chunks whose ``meta_data`` contains ``filters`` (PostgreSQL's ``@>``), and its
    named parameters (``filter_0``, ...). Scalars and lists of scalars are compared in SQL;
    nested objects and unusual keys go through the ``jsonb @>`` twin registered on the
    connection."""
    column = f"{alias}.meta_data"
    clauses: list[str] = []
    params = _Params()
    for key, value in filters.items():
        # A JSON path as an SQL literal (no ``"`` or ``\\`` in a simple key; quotes doubled).
        path = "'$.\"" + key.replace("'", "''") + "\"'"
        if _SIMPLE_KEY.match(key) and _is_scalar(value):
            clauses.append(
                _scalar_match(f"json_type({column}, {path})", f"json_extract({column}, {path})", value, params)
            )
        elif _SIMPLE_KEY.match(key) and isinstance(value, list) and all(_is_scalar(item) for item in value):
            clauses.append(f"json_type({column}, {path}) = 'array'")
            for item in value:
                sql = _scalar_match("item.type", "item.value", item, params)
                clauses.append(f"EXISTS (SELECT 1 FROM json_each({column}, {path}) AS item WHERE {sql})")
        else:
            clauses.append(f"{JSON_CONTAINS}({column}, {params.add(json.dumps({key: value}))})")
    return " AND ".join(clauses) or "1", dict(params)
