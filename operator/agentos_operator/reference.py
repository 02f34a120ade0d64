"""The AgentOSConfig reference in Markdown, generated from the CRD's own schema.

``python -m agentos_operator.reference > docs/reference.md``; a test fails when the committed
file differs, so the reference never drifts from the schema users are validated against.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from agentos_operator.crd import build_crd


def build_reference() -> str:
    """Markdown: one table row per field of spec and status, with type, constraints and description."""
    crd = build_crd()
    version = crd["spec"]["versions"][0]
    root = version["schema"]["openAPIV3Schema"]
    lines = [
        "# AgentOSConfig reference",
        "",
        f"`{crd['spec']['group']}/{version['name']}`, kind `{crd['spec']['names']['kind']}`, "
        f"short names {', '.join(f'`{n}`' for n in crd['spec']['names']['shortNames'])}. "
        "Generated from the CRD schema by `python -m agentos_operator.reference`: do not edit.",
        "",
    ]
    for section in ("spec", "status"):
        schema = root["properties"][section]
        lines += [f"## `{section}`", "", schema.get("description", ""), ""]
        lines += _rules(schema, section)
        lines += ["| field | type | constraints | description |", "| --- | --- | --- | --- |"]
        lines += [
            f"| `{path}` | {_type(prop)} | {_constraints(prop)} | {_cell(prop.get('description', ''))} |"
            for path, prop in _fields(schema, section)
        ]
        lines.append("")
    return "\n".join(lines)


def _fields(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, prop in sorted(schema.get("properties", {}).items()):
        here = f"{path}.{name}"
        yield here, prop
        if prop.get("type") == "array" and "items" in prop:
            yield from _fields(prop["items"], f"{here}[]")
        else:
            yield from _fields(prop, here)
        extra = prop.get("additionalProperties")
        if isinstance(extra, dict):
            yield from _fields(extra, f"{here}.<key>")


def _rules(schema: dict[str, Any], path: str) -> list[str]:
    rules = list(_collect_rules(schema, path))
    if not rules:
        return []
    lines = ["Rules checked at `kubectl apply` time (CEL) and by `agentos validate`:", ""]
    lines += [f"- `{where}`: {_cell(message)}" for where, message in rules]
    return [*lines, ""]


def _collect_rules(schema: dict[str, Any], path: str) -> Iterator[tuple[str, str]]:
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule["message"]
    for name, prop in sorted(schema.get("properties", {}).items()):
        target = prop["items"] if prop.get("type") == "array" and "items" in prop else prop
        yield from _collect_rules(target, f"{path}.{name}" + ("[]" if target is not prop else ""))


def _type(prop: dict[str, Any]) -> str:
    kind = str(prop.get("type", "any"))
    if kind == "array":
        return f"array of {_type(prop.get('items', {}))}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map of {_type(prop['additionalProperties'])}"
    return kind


def _constraints(prop: dict[str, Any]) -> str:
    parts = []
    if "enum" in prop:
        parts.append("one of " + ", ".join(f"`{v}`" for v in prop["enum"]))
    for key, label in (("minimum", "≥"), ("maximum", "≤"), ("minLength", "min length"), ("maxLength", "max length")):
        if key in prop:
            parts.append(f"{label} {prop[key]}")
    for key, label in (("minItems", "min items"), ("maxItems", "max items")):
        if key in prop:
            parts.append(f"{label} {prop[key]}")
    if "pattern" in prop:
        parts.append(f"pattern `{prop['pattern']}`")
    if prop.get("x-kubernetes-preserve-unknown-fields"):
        parts.append("free-form")
    return _cell("; ".join(parts))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    sys.stdout.write(build_reference())
