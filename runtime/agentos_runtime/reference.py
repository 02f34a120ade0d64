"""The runtime config reference in Markdown, generated from the models that validate it.

``python -m agentos_runtime.reference > docs/runtime-config.md``: every key of the file
``agentos serve --config`` reads (from ``RuntimeConfig``'s JSON schema, with Agno's snake_case
names) and every environment variable of the process (from ``Settings``). A test fails when the
committed file differs, so the reference never drifts from what the runtime accepts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

from agentos_runtime.config import DEFAULT_URL_ENV, ModelConfig, RuntimeConfig
from agentos_runtime.settings import ENVIRONMENT_VARIABLES, Settings

JSON = dict[str, Any]


def build_reference() -> str:
    """Markdown: the file's keys, one table row each, then the environment variables."""
    schema = RuntimeConfig.model_json_schema(by_alias=False)
    definitions: JSON = schema.get("$defs", {})
    lines = [
        "# Runtime config reference",
        "",
        "What `agentos serve --config FILE` reads: the YAML file's keys, then the environment. "
        "Generated from the runtime's models by `python -m agentos_runtime.reference`: do not edit.",
        "",
        "## The config file",
        "",
        _cell(schema.get("description", "")),
        "Unknown keys are errors; every problem is reported with its path (`agents[2].model: ...`). "
        "`key[]` is a key of each item of a list, `key.<name>` a key of each value of a map.",
        "",
        "| key | type | default | constraints | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for path, prop, required in _fields(schema, "", definitions, ()):
        lines.append(
            f"| `{path}` | {_type(prop, definitions)} | {_default(prop, required)} | "
            f"{_constraints(prop)} | {_cell(_description(prop, definitions))} |"
        )
    lines += ["", *_environment()]
    return "\n".join(lines) + "\n"


def _environment() -> list[str]:
    key_default = ModelConfig.model_fields["api_key_env"].default
    named = ", ".join(f"`{variable}` for {kind}" for kind, variable in sorted(DEFAULT_URL_ENV.items()))
    lines = [
        "## The environment",
        "",
        "Variables the file names hold what never goes in it: each model's key (`api_key_env`, "
        f"default `{key_default}`) and each database's URL (`url_env`, default {named}). "
        "As the openai SDK does, a model without `base_url` sends to `OPENAI_BASE_URL` when it is set, "
        "with `OPENAI_ORG_ID` and `OPENAI_PROJECT_ID` as its organization and project headers. "
        "The process's own settings:",
        "",
        "| variable | type | default | constraints | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    properties = Settings.model_json_schema()["properties"]
    for name, field in Settings.model_fields.items():
        prop = properties.get(ENVIRONMENT_VARIABLES[name]) or properties[name]
        lines.append(
            f"| `{ENVIRONMENT_VARIABLES[name]}` | {_type(prop, {})} | {_default(prop, field.is_required())} | "
            f"{_constraints(prop)} | {_cell(field.description or '')} |"
        )
    return lines


def _fields(schema: JSON, path: str, definitions: JSON, seen: tuple[str, ...]) -> Iterator[tuple[str, JSON, bool]]:
    """``(path, property, required)`` for each key of ``schema`` and, depth first, of its values."""
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        here = f"{path}.{name}" if path else name
        yield here, prop, name in required
        yield from _nested(_value(prop), here, definitions, seen)


def _nested(prop: JSON, path: str, definitions: JSON, seen: tuple[str, ...]) -> Iterator[tuple[str, JSON, bool]]:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        if name in seen:  # a recursive type: its keys are listed once, higher up
            return
        yield from _fields(definitions[name], path, definitions, (*seen, name))
    elif prop.get("type") == "array" and "items" in prop:
        yield from _nested(_value(prop["items"]), f"{path}[]", definitions, seen)
    elif isinstance(prop.get("additionalProperties"), dict):
        yield from _nested(_value(prop["additionalProperties"]), f"{path}.<name>", definitions, seen)
    elif "properties" in prop:
        yield from _fields(prop, path, definitions, seen)


def _value(prop: JSON) -> JSON:
    """The property's non-null form: ``X | None`` is documented as ``X`` with its null default."""
    choices = [choice for choice in prop.get("anyOf", ()) if choice.get("type") != "null"]
    return choices[0] if len(choices) == 1 else prop


def _type(prop: JSON, definitions: JSON) -> str:
    choices = [c for c in prop.get("anyOf", ()) if c.get("type") != "null"]
    if choices:
        return " or ".join(_type(choice, definitions) for choice in choices)
    if "$ref" in prop:
        return "object"
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}), definitions)}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map of {_type(prop['additionalProperties'], definitions)}"
    return str(kind)


def _default(prop: JSON, required: bool) -> str:
    if required:
        return "required"
    if "default" in prop:
        return f"`{json.dumps(prop['default'])}`"
    return "`[]`" if _value(prop).get("type") == "array" else "each key's default"


def _constraints(prop: JSON) -> str:
    value = _value(prop)
    parts = []
    if "enum" in value:
        parts.append("one of " + ", ".join(f"`{v}`" for v in value["enum"]))
    if "const" in value:
        parts.append(f"`{value['const']}`")
    for key, label in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
    ):
        if key in value:
            parts.append(f"{label} {value[key]}")
    if "pattern" in value:
        parts.append(f"pattern `{value['pattern']}`")
    return _cell("; ".join(parts))


def _description(prop: JSON, definitions: JSON) -> str:
    """The field's description, else that of its type."""
    if prop.get("description"):
        return str(prop["description"])
    value = _value(prop)
    if "$ref" in value:
        return str(definitions[value["$ref"].rsplit("/", 1)[-1]].get("description", ""))
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    sys.stdout.write(build_reference())
