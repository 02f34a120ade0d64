"""The runtime config reference: committed in step with the models, and naming every key and variable."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from agentos_runtime.config import RuntimeConfig
from agentos_runtime.reference import build_reference
from agentos_runtime.settings import ENVIRONMENT_VARIABLES
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "runtime-config.md"


def rows(text: str) -> dict[str, list[str]]:
    """Table rows by their first cell (a key path or a variable), each as its list of cells."""
    found = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells and cells[0].startswith("`"):
            found[cells[0].strip("`")] = cells[1:]
    return found


def nested_models(annotation: Any, suffix: str = "") -> list[tuple[type[BaseModel], str]]:
    """The pydantic models a field's annotation holds, each with how its keys hang below the field."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, suffix)]
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin is list:
        return nested_models(arguments[0], suffix + "[]")
    if origin is dict:
        return nested_models(arguments[1], suffix + ".<name>")
    if origin in (Union, types.UnionType):
        return [found for argument in arguments for found in nested_models(argument, suffix)]
    return []


def key_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key a config file can hold, written as the reference writes it, found from the models."""
    paths = []
    for name, field in model.model_fields.items():
        paths.append(prefix + name)
        for nested, suffix in nested_models(field.annotation):
            paths += key_paths(nested, f"{prefix}{name}{suffix}.")
    return paths


def test_the_committed_runtime_reference_matches_the_models() -> None:
    committed = REFERENCE.read_text(encoding="utf-8")
    assert committed == build_reference(), "docs/runtime-config.md is stale: run scripts/generate.sh"


def test_every_key_of_the_config_file_has_a_documented_row() -> None:
    documented = rows(build_reference())
    expected = key_paths(RuntimeConfig)
    assert "agents[].tools" in expected and "workflows[].steps[].parallel[].agent" in expected
    assert [path for path in expected if path not in documented] == []
    assert [path for path in expected if not documented[path][-1]] == [], "a key without a description"


def test_every_environment_variable_of_the_process_has_a_documented_row() -> None:
    documented = rows(build_reference())
    for variable in ENVIRONMENT_VARIABLES.values():
        assert documented[variable][-1], f"{variable} has no description"


def test_the_readme_links_the_runtime_reference() -> None:
    assert "(docs/runtime-config.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
