"""The base class of every configuration model.

Field names are snake_case (the runtime file keeps Agno's key names); every field also has a
camelCase alias, which is how the same models appear in the ``AgentOSConfig`` custom resource.
Which spelling is accepted is chosen per call: ``by_name`` for the runtime file, ``by_alias``
for the custom resource, so neither document accepts the other's spelling by accident.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# Identifiers become Kubernetes names, env var suffixes and URL path segments: keep them to
# DNS-label characters (RFC 1123, at most 63 characters).
ID_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ID_MAX_LENGTH = 63


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
