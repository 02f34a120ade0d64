"""A whole ``AgentOSConfig`` object, checked: what render and the reconciler work from.

``parse_resource`` is the one gate a resource passes before anything is rendered: the envelope
(apiVersion, kind, metadata.name), the spec's fields (by their camelCase names only) and every
cross-reference. Problems carry resource paths (``spec.agents[2].model``), all reported at once
where one problem does not hide the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic
from agentos_runtime.config import (
    ConfigError,
    Problem,
    RuntimeConfigFields,
    check_references,
    problems_from_validation_error,
)
from agentos_runtime.config.base import ID_PATTERN

from agentos_operator import GROUP, KIND, VERSION
from agentos_operator import spec as spec_models
from agentos_operator.spec import AgentOSConfigSpec

API_VERSION = f"{GROUP}/{VERSION}"

# The name becomes a Service name (an RFC 1035 label) and prefixes child names, the longest
# being "<name>-security-key" (13 more characters), which must stay a 63-character label value.
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
NAME_MAX_LENGTH = 50
_NAME = re.compile(NAME_PATTERN)

# Spec fields (camelCase) that only shape the Deployment and its neighbours, not the runtime config.
_DEPLOYMENT_ONLY_FIELDS = frozenset(
    field.alias or name
    for name, field in AgentOSConfigSpec.model_fields.items()
    if name not in RuntimeConfigFields.model_fields and name not in ("models", "databases")
)

# Pydantic reports a pattern mismatch by quoting the regex; say what is expected instead.
_PATTERN_HINTS = {
    spec_models.QUANTITY_PATTERN: "not a Kubernetes quantity: use e.g. 500m, 1, 256Mi or 1Gi",
    ID_PATTERN: "not a valid id: lowercase letters, digits and '-', not starting or ending with '-'",
    spec_models.NAME_PATTERN: "not a valid Kubernetes name: lowercase letters, digits, '-' and '.'",
    spec_models.SECRET_KEY_PATTERN: "not a valid Secret key: letters, digits, '-', '_' and '.'",
}


@dataclass(frozen=True)
class AgentOSResource:
    """A valid ``AgentOSConfig``: identity from its metadata and the parsed spec."""

    name: str
    namespace: str
    uid: str | None
    generation: int | None
    spec: AgentOSConfigSpec


def parse_resource(body: Mapping[str, Any]) -> AgentOSResource:
    """Check a whole resource; raise ``ConfigError`` listing every problem found.

    A missing namespace means ``default`` (as ``kubectl apply`` would), so files without one
    can be validated and rendered offline.
    """
    problems = _envelope_problems(body)
    spec: AgentOSConfigSpec | None = None
    raw_spec = body.get("spec") if isinstance(body, Mapping) else None
    if raw_spec is None:
        problems.append(Problem(("spec",), "required field is missing"))
    elif not isinstance(raw_spec, Mapping):
        problems.append(Problem(("spec",), f"must be a mapping, not {type(raw_spec).__name__}"))
    else:
        try:
            spec = AgentOSConfigSpec.model_validate(raw_spec, by_alias=True, by_name=False)
        except pydantic.ValidationError as error:
            problems.extend(_with_hints(problems_from_validation_error(error, prefix=("spec",))))
            problems.extend(_reference_problems_despite(error, raw_spec))
        else:
            problems.extend(check_references(spec, camel_case=True, prefix=("spec",)))
    if problems or spec is None:
        raise ConfigError(problems)
    metadata = body["metadata"]
    return AgentOSResource(
        name=metadata["name"],
        namespace=metadata.get("namespace") or "default",
        uid=metadata.get("uid"),
        generation=metadata.get("generation"),
        spec=spec,
    )


def validate_resource(body: Mapping[str, Any]) -> list[Problem]:
    """The problems ``parse_resource`` would raise; empty when the resource is valid."""
    try:
        parse_resource(body)
    except ConfigError as error:
        return list(error.problems)
    return []


def _reference_problems_despite(error: pydantic.ValidationError, raw_spec: Mapping[str, Any]) -> list[Problem]:
    """Reference problems too, when every field error is in a deployment-only field (replicas, resources...).

    Those fields take no part in references, so the spec without them is checked; one wrong
    replica count then does not hide an unknown model.
    """
    locations = [item["loc"] for item in error.errors()]
    failed = {str(loc[0]) for loc in locations if loc}
    if not all(locations) or not failed <= _DEPLOYMENT_ONLY_FIELDS:
        return []
    rest = {key: value for key, value in raw_spec.items() if key not in failed}
    try:
        spec = AgentOSConfigSpec.model_validate(rest, by_alias=True, by_name=False)
    except pydantic.ValidationError:
        return []  # already reported above
    return check_references(spec, camel_case=True, prefix=("spec",))


def _with_hints(problems: list[Problem]) -> list[Problem]:
    hinted = []
    for problem in problems:
        hint = next((h for pattern, h in _PATTERN_HINTS.items() if f"pattern '{pattern}'" in problem.message), None)
        hinted.append(Problem(problem.path, hint) if hint else problem)
    return hinted


def _envelope_problems(body: Mapping[str, Any]) -> list[Problem]:
    if not isinstance(body, Mapping):
        return [Problem((), f"a resource must be a mapping, not {type(body).__name__}")]
    problems = []
    if body.get("apiVersion") != API_VERSION:
        problems.append(Problem(("apiVersion",), f"must be '{API_VERSION}', not {body.get('apiVersion')!r}"))
    if body.get("kind") != KIND:
        problems.append(Problem(("kind",), f"must be '{KIND}', not {body.get('kind')!r}"))
    metadata = body.get("metadata")
    if not isinstance(metadata, Mapping):
        return [*problems, Problem(("metadata",), "required mapping is missing: give at least metadata.name")]
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        problems.append(Problem(("metadata", "name"), "required field is missing"))
    elif len(name) > NAME_MAX_LENGTH or not _NAME.match(name):
        problems.append(
            Problem(
                ("metadata", "name"),
                f"'{name}' is not a valid name: lowercase letters, digits and '-', starting with a letter,"
                f" at most {NAME_MAX_LENGTH} characters",
            )
        )
    namespace = metadata.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        problems.append(Problem(("metadata", "namespace"), "must be a string"))
    for field, kind in (("uid", str), ("generation", int)):
        value = metadata.get(field)
        if value is not None and not isinstance(value, kind):
            problems.append(Problem(("metadata", field), f"must be a {kind.__name__}"))
    return problems
