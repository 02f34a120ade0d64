"""Configuration problems: one typed error carrying every problem with its field path.

Both the runtime (loading its file) and the operator (validating a custom resource) report
problems the same way, so a user sees ``agents[2].model: unknown model 'gpt-5'`` from
``agentos validate``, from the runtime's start-up and in the resource's ``Ready`` condition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pydantic

from agentos_runtime.config.base import ID_PATTERN

Path = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """Render ``("agents", 2, "model")`` as ``agents[2].model``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a configuration, at one field path."""

    path: Path
    message: str

    def __str__(self) -> str:
        where = format_path(self.path)
        return f"{where}: {self.message}" if where else self.message


class ConfigError(ValueError):
    """A configuration has one or more problems; ``problems`` lists them all, in order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid configuration")


# What to say of an id instead of quoting its pattern.
ID_HINT = "not a valid id: lowercase letters, digits and '-', not starting or ending with '-'"

# Pydantic's messages are good but generic; these say what to do instead.
_HINTS = {
    "extra_forbidden": "unknown field: remove it or check its spelling",
    "missing": "required field is missing",
}


def problems_from_validation_error(error: pydantic.ValidationError, *, prefix: Path = ()) -> list[Problem]:
    """Turn a pydantic error into problems, one per failed field, with readable messages."""
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not _is_union_tag(p))
        message = _HINTS.get(item["type"], item["msg"])
        if item["type"] == "string_pattern_mismatch" and item.get("ctx", {}).get("pattern") == ID_PATTERN:
            message = ID_HINT
        if item["type"] == "value_error":
            # ``ValueError`` raised in our validators: drop pydantic's "Value error, " prefix.
            message = str(item.get("ctx", {}).get("error", item["msg"]))
        problems.append(Problem(path=prefix + loc, message=message))
    return problems


def _is_union_tag(part: str | int) -> bool:
    # pydantic inserts the member type name (e.g. "str", "function-after[...]") into locs of
    # union members; those are not field names a user could find in their file.
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool"})
