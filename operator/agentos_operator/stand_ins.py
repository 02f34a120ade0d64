"""Valid stand-ins for required fields a resource leaves out, so that checking goes on past them. Pure.

``agentos validate`` and the InvalidSpec message report every problem of a resource at once
(``agentos_runtime.config.checking.every_problem``). A required field left out inside a list
item (a workflow step's ``name``) would otherwise hide the references and rules of the whole
resource: setting aside what holds it makes its declaration invalid in turn. So such a field
gets a stand-in, a value its schema (the CRD's, generated from the spec models) accepts
whatever else is written: only plain text, numbers, booleans and empty lists or objects, never
a pattern or format to guess. What the stand-in's field then reports is left out.
"""

from __future__ import annotations

import functools
from typing import Any

from agentos_operator.crd import build_schema

Path = tuple[str | int, ...]
STAND_IN_TEXT = "stand-in"


@functools.cache
def _schema() -> dict[str, Any]:
    return build_schema()


def stand_in(path: Path) -> tuple[Any] | None:
    """A value the resource's schema accepts at ``path``, as ``(value,)``, or None when none is sure."""
    node = schema_at(_schema(), path)
    return None if node is None else stand_in_of(node)


def schema_at(schema: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """The schema of the field at ``path`` (mapping keys and list indexes), or None if it names none."""
    node: Any = schema
    for part in path:
        if isinstance(part, int):
            node = node.get("items")
        else:
            properties = node.get("properties") or {}
            node = properties.get(part, node.get("additionalProperties"))
        if not isinstance(node, dict):
            return None
    found: dict[str, Any] = node
    return found


def stand_in_of(node: dict[str, Any]) -> tuple[Any] | None:
    """A value ``node`` (a structural schema) accepts, or None when it takes more than a plain one."""
    if node.get("enum"):
        return (node["enum"][0],)
    kind = node.get("type")
    if kind == "string" and "pattern" not in node and "format" not in node:
        low, high = node.get("minLength", 0), node.get("maxLength")
        for text in (STAND_IN_TEXT.ljust(low, "-"), "x" * max(low, 1)):
            if high is None or len(text) <= high:
                return (text,)
        return None
    if kind in ("integer", "number") and "exclusiveMinimum" not in node and "exclusiveMaximum" not in node:
        low = node.get("minimum", 0)
        return (low,) if node.get("maximum", low) >= low else None
    if kind == "boolean":
        return (False,)
    if kind == "array" and not node.get("minItems"):
        return ([],)
    if kind == "object" and not node.get("required") and not node.get("minProperties"):
        return ({},)
    return None
