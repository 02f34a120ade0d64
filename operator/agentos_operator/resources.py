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


# Spec fields (camelCase) that only shape the Deployment and its neighbours: no reference names
# them and the runtime's checks do not read them (``mcpServers`` are what ``mcp:`` tools name,
# ``image`` says whose entry points other tool names may be).
_DEPLOYMENT_ONLY_FIELDS = frozenset(
    field.alias or name
    for name, field in AgentOSConfigSpec.model_fields.items()
    if name not in RuntimeConfigFields.model_fields
    and name not in ("models", "databases", "knowledge_bases", "mcp_servers", "image")
)

# Spec fields beside the deployment-only ones that shape the children (variables, volumes, sidecars).
_CHILDREN_FIELDS = frozenset({"models", "databases", "mcpServers", "knowledgeBases", "image"})
DEPLOYMENT_ONLY_FIELDS = _DEPLOYMENT_ONLY_FIELDS

# Pydantic reports a pattern mismatch by quoting the regex; say what is expected instead.
PATTERN_HINTS = {
    spec_models.QUANTITY_PATTERN: "not a Kubernetes quantity: use e.g. 500m, 1, 256Mi or 1Gi",
    ID_PATTERN: "not a valid id: lowercase letters, digits and '-', not starting or ending with '-'",
    spec_models.NAME_PATTERN: "not a valid Kubernetes name: lowercase letters, digits, '-' and '.'",
    spec_models.SECRET_KEY_PATTERN: "not a valid Secret key: letters, digits, '-', '_' and '.'",
    spec_models.HOST_PATTERN: (
        "not a DNS name: lowercase letters, digits and '-' in labels of at most 63 characters, joined by"
        " '.' (no port, no wildcard)"
    ),
    spec_models.INGRESS_PATH_PATTERN: "not an absolute path: starts with '/', no spaces, no '?' or '#'",
    spec_models.IMAGE_PATTERN: (
        "not an image reference: [registry/]name[:tag][@digest], the name in lowercase (a registry is a host"
        " with a '.' or a port, or localhost), e.g. registry.example.com/team/agentos:1.2"
    ),
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


def parse_resource(body: Mapping[str, Any], *, default_image: str | None = None) -> AgentOSResource:
    """Check a whole resource; raise ``ConfigError`` listing every problem found.

    A missing namespace means ``default`` (as ``kubectl apply`` would), so files without one
    can be validated and rendered offline. ``default_image``: the runtime image a resource that
    names none runs (the operator's setting; None: the bundled one), whose tools decide which
    names are known (``render.runtime_checks``).
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
            problems.extend(_later_problems_despite(error, body, raw_spec, default_image))
        else:
            problems.extend(_later_problems(_resource(body, spec), default_image))
    if problems or spec is None:
        raise ConfigError(problems)
    return _resource(body, spec)


def _resource(body: Mapping[str, Any], spec: AgentOSConfigSpec) -> AgentOSResource:
    """``body`` as a resource of ``spec``; a name or namespace that is none (reported apart) is a stand-in."""
    metadata = body.get("metadata") if isinstance(body, Mapping) else None
    metadata = metadata if isinstance(metadata, Mapping) else {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    uid, generation = metadata.get("uid"), metadata.get("generation")
    return AgentOSResource(
        name=name if isinstance(name, str) and _NAME.fullmatch(name) else "resource",
        namespace=namespace if isinstance(namespace, str) and namespace else "default",
        uid=uid if isinstance(uid, str) else None,
        generation=generation if isinstance(generation, int) else None,
        spec=spec,
    )


def _later_problems(resource: AgentOSResource, default_image: str | None) -> list[Problem]:
    """What follows a spec whose fields are valid: references, then the runtime's checks of the
    config rendered for it (``render.runtime_checks``, its tools only while references fail;
    imported here, as render reads this module)."""
    from agentos_operator.render.runtime_checks import runtime_problems

    problems = check_references(resource.spec, camel_case=True, prefix=("spec",))
    return problems + runtime_problems(resource, references_hold=not problems, default_image=default_image)


def validate_resource(body: Mapping[str, Any], *, default_image: str | None = None) -> list[Problem]:
    """The problems ``parse_resource`` would raise; empty when the resource is valid."""
    try:
        parse_resource(body, default_image=default_image)
    except ConfigError as error:
        return list(error.problems)
    return []


def deployment_view(body: Mapping[str, Any]) -> AgentOSResource | None:
    """The resource as far as its children take it while its spec has problems, or None.

    For the checks of the rendered children the API server would make (``render.checks``),
    which read the deployment-only fields, the model keys, databases, MCP servers and knowledge
    bases (the variables and volumes they bring) and nothing else: the spec without its runtime
    config (agents, teams, workflows, UI sections) and without its deployment-only fields at
    fault, its rules across fields aside. None when what is left is not valid either.
    """
    raw_spec = body.get("spec") if isinstance(body, Mapping) else None
    if not isinstance(raw_spec, Mapping):
        return None
    kept = _DEPLOYMENT_ONLY_FIELDS | _CHILDREN_FIELDS
    rest = {key: value for key, value in raw_spec.items() if key in kept}
    try:
        spec = _validate_spec(rest, rules=False)
    except pydantic.ValidationError as error:
        failed = {str(item["loc"][0]) for item in error.errors() if item["loc"]} & _DEPLOYMENT_ONLY_FIELDS
        try:
            spec = _validate_spec({k: v for k, v in rest.items() if k not in failed}, rules=False)
        except pydantic.ValidationError:
            return None
    return _resource(body, spec)


def _later_problems_despite(
    error: pydantic.ValidationError, body: Mapping[str, Any], raw_spec: Mapping[str, Any], default_image: str | None
) -> list[Problem]:
    """References and the runtime's checks too, when every field error is in a deployment-only
    field (replicas, resources...) or is one of the spec's rules across fields (``SPEC_RULES``).

    Those take no part in references or in the runtime config, so the spec without the fields
    at fault is checked, its rules aside; one wrong replica count, or ``authorization`` without
    a key, then does not hide an unknown model.
    """
    locations = [item["loc"] for item in error.errors()]
    if not all(locations):
        return []
    failed = {str(loc[0]) for loc in locations} & _DEPLOYMENT_ONLY_FIELDS
    rest = {key: value for key, value in raw_spec.items() if key not in failed}
    try:
        spec = _validate_spec(rest, rules=False)
    except pydantic.ValidationError:
        return []  # a runtime field is at fault: reported above, and it hides what follows
    return _later_problems(_resource(body, spec), default_image)


def _validate_spec(raw_spec: Mapping[str, Any], *, rules: bool = True) -> AgentOSConfigSpec:
    """The spec checked as the API server checks it: camelCase names only, and types never coerced.

    Strict: the API server's structural schema refuses ``replicas: "2"`` and ``paused: "true"``
    (a string is not an integer or a boolean), where pydantic's default would quietly convert
    them, and ``agentos validate`` would pass what ``kubectl apply`` then refuses. A float with
    no fraction (``replicas: 2.0``) is an integer to the API server too, so it is one here. The
    runtime's own file, read by ``agentos_runtime.config``, keeps its lenient loading.
    ``rules=False`` leaves out the spec's rules across fields (``spec.SPEC_RULES``).
    """
    return AgentOSConfigSpec.model_validate(
        _whole_floats_as_ints(raw_spec),
        by_alias=True,
        by_name=False,
        strict=True,
        context=None if rules else {spec_models.SPEC_RULES: False},
    )


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
        hint = next((h for pattern, h in PATTERN_HINTS.items() if f"pattern '{pattern}'" in problem.message), None)
        hint = hint or _type_hint(item["type"], item.get("input"))
        hinted.append(Problem(problem.path, hint) if hint else problem)
    return hinted


def _type_hint(error_type: str, value: Any) -> str | None:
    """Where a number or boolean belongs but something else stands, or a string but a number or
    boolean stands: say what, and how to write it."""
    if error_type == "string_type" and isinstance(value, bool | int | float):
        # YAML reads `cpu: 1` or `tag: 1.10` as a number; the API server takes this field as text only.
        shown, kind = json.dumps(value), "boolean" if isinstance(value, bool) else "number"
        return f'must be a string, not the {kind} {shown}: write it in quotes as meant, e.g. "{shown}"'
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
