"""A whole ``AgentOSConfig`` object, checked: what render and the reconciler work from.

``parse_resource`` is the one gate a resource passes before anything is rendered: the envelope
(apiVersion, kind, metadata.name), the spec's fields (by their camelCase names only), every
cross-reference, and then every check the runtime makes at its start of the config rendered
for it (``render.runtime_checks``: tool names, tool settings), so nothing the runtime refuses
gets as far as a pod. Problems carry resource paths (``spec.agents[2].model``), all reported at once
where one problem does not hide the others.
"""

from __future__ import annotations

import json
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
# A namespace's name is a DNS label (RFC 1123), as the API server checks it.
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NAMESPACE_MAX_LENGTH = 63


def namespace_problem(namespace: str) -> str:
    """Pure: why ``namespace`` is no valid namespace name, or "" when it is one."""
    if len(namespace) <= NAMESPACE_MAX_LENGTH and _NAMESPACE.fullmatch(namespace):
        return ""
    return (
        f"{namespace[:100]!r} is not a valid namespace: lowercase letters, digits and '-', starting and ending"
        f" with a letter or digit, at most {NAMESPACE_MAX_LENGTH} characters"
    )


# Spec fields (camelCase) that only shape the Deployment and its neighbours, not the runtime config.
_DEPLOYMENT_ONLY_FIELDS = frozenset(
    field.alias or name
    for name, field in AgentOSConfigSpec.model_fields.items()
    if name not in RuntimeConfigFields.model_fields and name not in ("models", "databases", "knowledge_bases")
)

# Pydantic reports a pattern mismatch by quoting the regex; say what is expected instead.
_PATTERN_HINTS = {
    spec_models.QUANTITY_PATTERN: "not a Kubernetes quantity: use e.g. 500m, 1, 256Mi or 1Gi",
    ID_PATTERN: "not a valid id: lowercase letters, digits and '-', not starting or ending with '-'",
    spec_models.NAME_PATTERN: "not a valid Kubernetes name: lowercase letters, digits, '-' and '.'",
    spec_models.SECRET_KEY_PATTERN: "not a valid Secret key: letters, digits, '-', '_' and '.'",
    spec_models.HOST_PATTERN: (
        "not a DNS name: lowercase letters, digits and '-' in labels of at most 63 characters, joined by"
        " '.' (no port, no wildcard)"
    ),
    spec_models.INGRESS_PATH_PATTERN: "not an absolute path: starts with '/', no spaces, no '?' or '#'",
    spec_models.PROMETHEUS_DURATION_PATTERN: (
        "not a Prometheus duration: a number and a unit (ms, s, m, h, d, w, y), units from the largest, e.g."
        " 30s or 1m30s"
    ),
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
            spec = _validate_spec(raw_spec)
        except pydantic.ValidationError as error:
            problems.extend(_with_hints(error, problems_from_validation_error(error, prefix=("spec",))))
            problems.extend(_reference_problems_despite(error, raw_spec))
        else:
            problems.extend(check_references(spec, camel_case=True, prefix=("spec",)))
    if problems or spec is None:
        raise ConfigError(problems)
    metadata = body["metadata"]
    resource = AgentOSResource(
        name=metadata["name"],
        namespace=metadata.get("namespace") or "default",
        uid=metadata.get("uid"),
        generation=metadata.get("generation"),
        spec=spec,
    )
    problems = _runtime_problems(resource)
    if problems:
        raise ConfigError(problems)
    return resource


def _runtime_problems(resource: AgentOSResource) -> list[Problem]:
    """What the runtime would refuse at its start of the config rendered for ``resource``
    (``render.runtime_checks``; imported here, as render reads this module)."""
    from agentos_operator.render.runtime_checks import runtime_problems

    return runtime_problems(resource)


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
        spec = _validate_spec(rest)
    except pydantic.ValidationError:
        return []  # already reported above
    return check_references(spec, camel_case=True, prefix=("spec",))


def _validate_spec(raw_spec: Mapping[str, Any]) -> AgentOSConfigSpec:
    """The spec checked as the API server checks it: camelCase names only, and types never coerced.

    Strict: the API server's structural schema refuses ``replicas: "2"`` and ``paused: "true"``
    (a string is not an integer or a boolean), where pydantic's default would quietly convert
    them, and ``agentos validate`` would pass what ``kubectl apply`` then refuses. A float with
    no fraction (``replicas: 2.0``) is an integer to the API server too, so it is one here. The
    runtime's own file, read by ``agentos_runtime.config``, keeps its lenient loading.
    """
    return AgentOSConfigSpec.model_validate(_whole_floats_as_ints(raw_spec), by_alias=True, by_name=False, strict=True)


def _whole_floats_as_ints(value: Any) -> Any:
    """``value`` with every float that has no fraction (``2.0``) as an int, as the API server decodes JSON."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: _whole_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_floats_as_ints(item) for item in value]
    return value


# Strict type errors on a string: what the field wants, and how to write it.
_TYPE_NOUNS = {"int_type": "an integer", "float_type": "a number", "bool_type": "a boolean (true or false)"}
# What a string must look like to be the value meant, quotes aside (then the message shows it unquoted).
_LITERALS = {
    "int_type": re.compile(r"[-+]?[0-9]+"),
    "float_type": re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?"),
    "bool_type": re.compile(r"true|false", re.IGNORECASE),
}
# How long a string may be to be quoted back in a message (longer ones are not a mistyped literal).
_QUOTED_MAX_LENGTH = 20


def _with_hints(error: pydantic.ValidationError, problems: list[Problem]) -> list[Problem]:
    """Problems with a fix where pydantic only says what failed (``problems`` has one per error, in order)."""
    hinted = []
    for item, problem in zip(error.errors(include_url=False), problems, strict=True):
        hint = next((h for pattern, h in _PATTERN_HINTS.items() if f"pattern '{pattern}'" in problem.message), None)
        hint = hint or _type_hint(item["type"], item.get("input"))
        hinted.append(Problem(problem.path, hint) if hint else problem)
    return hinted


def _type_hint(error_type: str, value: Any) -> str | None:
    """Where a number or boolean belongs but something else stands: say what, and how to write it."""
    noun = _TYPE_NOUNS.get(error_type)
    if noun is None:
        return None
    if isinstance(value, bool | int | float):
        return f"must be {noun}, not {json.dumps(value)}"
    if not isinstance(value, str):
        return None
    message = f"must be {noun}, not a string"
    text = value.strip()
    literal = _LITERALS[error_type].fullmatch(text)
    if literal and len(text) <= _QUOTED_MAX_LENGTH:
        message += f': write {text.lower() if error_type == "bool_type" else text} without quotes, not "{value}"'
    return message


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
    if name is None or name == "":
        problems.append(Problem(("metadata", "name"), "required field is missing"))
    elif not isinstance(name, str):
        problems.append(Problem(("metadata", "name"), "must be a string: write the name in quotes"))
    elif len(name) > NAME_MAX_LENGTH or not _NAME.fullmatch(name):
        problems.append(
            Problem(
                ("metadata", "name"),
                f"{name[:100]!r} is not a valid name: lowercase letters, digits and '-', starting with a letter,"
                f" at most {NAME_MAX_LENGTH} characters",
            )
        )
    namespace = metadata.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        problems.append(Problem(("metadata", "namespace"), "must be a string: write the namespace in quotes"))
    elif namespace is not None and (why := namespace_problem(namespace)):
        problems.append(Problem(("metadata", "namespace"), why))
    for field, kind in (("uid", str), ("generation", int)):
        value = metadata.get(field)
        if value is not None and not isinstance(value, kind):
            problems.append(Problem(("metadata", field), f"must be a {kind.__name__}"))
    return problems
