"""Reading the generated CRD's schema as the API server would, for tests without a cluster.

``json_schema`` turns the structural schema into plain JSON Schema (unknown fields rejected,
as `kubectl apply --validate=strict` does); ``cel_violations`` walks a resource beside the
schema and evaluates every ``x-kubernetes-validations`` rule with cel-python.
"""

from collections.abc import Iterator
from typing import Any

import celpy

Schema = dict[str, Any]


def json_schema(node: Schema, *, root: bool = True) -> Schema:
    out: Schema = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: json_schema(child, root=False) for name, child in value.items()}
            if root and "metadata" in value:
                # The API server checks the object's metadata itself: the schema's only restricts name.
                out[key]["metadata"].pop("additionalProperties", None)
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = json_schema(value, root=False)
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            continue
        else:
            out[key] = value
    for bound in ("Minimum", "Maximum"):
        if node.get(f"exclusive{bound}") is True:
            out[f"exclusive{bound}"] = out.pop(bound.lower())
    if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def cel_violations(schema: Schema, value: Any) -> list[str]:
    """The message of every CEL rule that does not hold for ``value``."""
    return list(_walk(schema, value))


def _walk(schema: Schema, value: Any) -> Iterator[str]:
    for rule in schema.get("x-kubernetes-validations", []):
        if not _holds(rule["rule"], value):
            yield rule["message"]
    if isinstance(value, dict):
        for name, child in value.items():
            child_schema = schema.get("properties", {}).get(name) or schema.get("additionalProperties")
            if isinstance(child_schema, dict):
                yield from _walk(child_schema, child)
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            yield from _walk(schema["items"], item)


_PROGRAMS: dict[str, Any] = {}


def _holds(rule: str, value: Any) -> bool:
    if rule not in _PROGRAMS:
        environment = celpy.Environment()
        _PROGRAMS[rule] = environment.program(environment.compile(rule))
    result = _PROGRAMS[rule].evaluate({"self": celpy.json_to_cel(value)})
    assert isinstance(result, celpy.celtypes.BoolType), f"rule {rule!r} gave {result!r}, not a bool"
    return bool(result)
