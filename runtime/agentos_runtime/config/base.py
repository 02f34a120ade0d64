"""The base class of every configuration model.

Field names are snake_case (the runtime file keeps Agno's key names); every field also has a
camelCase alias, which is how the same models appear in the ``AgentOSConfig`` custom resource.
Which spelling is accepted is chosen per call: ``by_name`` for the runtime file, ``by_alias``
for the custom resource, so neither document accepts the other's spelling by accident.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from agentos_runtime import storable

# Identifiers become Kubernetes names, env var suffixes and URL path segments: keep them to
# DNS-label characters (RFC 1123, at most 63 characters).
ID_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ID_MAX_LENGTH = 63
# Table names: unquoted SQL identifiers in every dialect.
TABLE_NAME_PATTERN = r"^[a-z_][a-z0-9_]*$"


class Schema(BaseModel):
    """Strict, camelCase-aliased base model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        frozen=True,
        # `.nan` and `.inf` are YAML numbers but no setting's value (JSON, and so a Kubernetes
        # resource, cannot even carry them): "a finite number", not "less than or equal to 2".
        allow_inf_nan=False,
    )

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """No NUL or lone surrogate in any text of the field (keys too), no NaN or infinity in its
        free-form values: UTF-8 cannot carry a lone surrogate (every answer naming the setting
        would fail), PostgreSQL refuses NUL, and JSON has no NaN (an agent's ``metadata`` or
        ``session_state`` reaches answers and sessions as JSON). A YAML ``"\\ud800"``, ``"\\0"``
        or ``.nan``, or a JSON ``\\u0000``, is how they get in."""
        problem = storable.find_problem(value) if isinstance(value, str | dict | list | float) else None
        if problem is not None:
            where = f"at {storable.path_text(problem.path).lstrip('.')}: " if problem.path else ""
            fix = ": remove it" if problem.kind.startswith("string_") else ""
            message = f"{where}{problem.message.removesuffix(': send valid UTF-8 text')}{fix}"
            raise PydanticCustomError("unstorable_text", "{message}", {"message": message})
        return value
