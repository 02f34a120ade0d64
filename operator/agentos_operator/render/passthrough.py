"""The Kubernetes objects a spec hands on as given, checked offline as the API server checks them. Pure.

``tolerations``, ``topologySpreadConstraints``, ``affinity``, ``env[].valueFrom``, ``envFrom``,
``networkPolicy.ingressFrom`` and ``networkPolicy.egress`` are Kubernetes' own types, kept whole
in the CRD (``x-kubernetes-preserve-unknown-fields``) and copied into the Deployment and the
NetworkPolicy. The API server refuses them only when the operator applies its children: a
field its schema does not declare (server-side apply: ``field not declared in schema``), a value
of the wrong type, or a rule of pod or NetworkPolicy validation. These checks find the same
offline, at the spec field to change, for ``agentos validate`` and ``agentos render``; each rule
below was seen refused by a real 1.37 API server (``tests/cluster/test_server_validation.py``
holds them side by side). ``affinity`` is checked to its first level only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentos_runtime.config import Problem

from agentos_operator.render.labels import label_key_problem, label_value_problem
from agentos_operator.resources import AgentOSResource

Path = tuple[str | int, ...]
Rules = Callable[[Mapping[str, Any], Path], Iterator[Problem]]


@dataclass(frozen=True)
class OneOf:
    """A string among ``values`` (or empty, for a field whose empty value means its default)."""

    values: tuple[str, ...]
    empty: bool = False


@dataclass(frozen=True)
class ListOf:
    item: Kind


@dataclass(frozen=True)
class Shape:
    """A Kubernetes object type: its fields and their kinds, those required, those of which exactly
    one is set, and the rules of its validation beyond its fields' own."""

    what: str
    fields: Mapping[str, Kind]
    required: tuple[str, ...] = ()
    exactly_one: tuple[str, ...] = ()
    rules: Rules | None = field(default=None, compare=False)


# ``string``, ``integer``, ``boolean``, ``quantity`` (text or a number), ``object`` (any mapping),
# ``labels`` (a map of label keys to label values), ``port`` (a number 1-65535 or a port name), or
# one of the classes above.
Kind = str | OneOf | ListOf | Shape

_INT32_MAX = 2**31 - 1
_PORT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def check(value: Any, kind: Kind, at: Path) -> Iterator[Problem]:
    """Every problem of ``value`` as a ``kind``, each at its own path under ``at``."""
    if isinstance(kind, Shape):
        yield from _check_shape(value, kind, at)
    elif isinstance(kind, ListOf):
        if not isinstance(value, list):
            yield Problem(at, f"must be a list, not {_shown(value)}")
            return
        for index, item in enumerate(value):
            yield from check(item, kind.item, (*at, index))
    elif isinstance(kind, OneOf):
        if not isinstance(value, str) or (value not in kind.values and not (kind.empty and value == "")):
            yield Problem(at, f"must be one of {', '.join(kind.values)}, not {_shown(value)}")
    else:
        yield from _check_scalar(value, kind, at)


def _check_shape(value: Any, shape: Shape, at: Path) -> Iterator[Problem]:
    if not isinstance(value, Mapping):
        yield Problem(at, f"must be a mapping ({shape.what}), not {_shown(value)}")
        return
    for name, item in value.items():
        kind = shape.fields.get(name)
        if kind is None:
            known = ", ".join(shape.fields)
            yield Problem((*at, str(name)), f"unknown field of {shape.what}: check its spelling (its fields: {known})")
        elif item is not None:
            yield from check(item, kind, (*at, name))
    for name in shape.required:
        if value.get(name) is None:
            yield Problem((*at, name), f"required field of {shape.what} is missing")
    if shape.exactly_one:
        given = [name for name in shape.exactly_one if value.get(name) is not None]
        if len(given) != 1:
            yield Problem(at, f"set exactly one of {', '.join(shape.exactly_one)}, not {len(given)}")
    if shape.rules is not None:
        yield from shape.rules(value, at)


def _check_scalar(value: Any, kind: str, at: Path) -> Iterator[Problem]:
    if kind == "string" and not isinstance(value, str):
        yield Problem(at, f"must be a string, not {_shown(value)}")
    elif kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        yield Problem(at, f"must be an integer, not {_shown(value)}")
    elif kind == "boolean" and not isinstance(value, bool):
        yield Problem(at, f"must be true or false, not {_shown(value)}")
    elif kind == "quantity" and (isinstance(value, bool) or not isinstance(value, str | int | float)):
        yield Problem(at, f"must be a quantity such as 1 or 1Mi, not {_shown(value)}")
    elif kind == "object" and not isinstance(value, Mapping):
        yield Problem(at, f"must be a mapping, not {_shown(value)}")
    elif kind == "labels":
        if not isinstance(value, Mapping):
            yield Problem(at, f"must be a mapping of label keys to values, not {_shown(value)}")
            return
        for key, label in value.items():
            why = label_key_problem(str(key)) or (
                f"must be a string, not {_shown(label)}" if not isinstance(label, str) else label_value_problem(label)
            )
            if why:
                yield Problem((*at, str(key)), why)
    elif kind == "port":
        yield from _port(value, at)


def _port(value: Any, at: Path) -> Iterator[Problem]:
    if isinstance(value, bool) or not isinstance(value, int | str):
        yield Problem(at, f"must be a port number or a port name, not {_shown(value)}")
    elif isinstance(value, int) and not 1 <= value <= 65535:
        yield Problem(at, f"must be a port number from 1 to 65535, not {value}")
    elif isinstance(value, str) and (len(value) > 15 or not _PORT_NAME.fullmatch(value) or value.isdigit()):
        yield Problem(at, f"{value[:40]!r} is no port name: lowercase letters, digits and '-', at most 15 characters")


def _shown(value: Any) -> str:
    """A value in a message: its type for a collection, a short form of anything else."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value[:40])
    if isinstance(value, int) and value.bit_length() > 64:
        return "a number past 64 bits"
    return str(value)[:40]


def _toleration_rules(value: Mapping[str, Any], at: Path) -> Iterator[Problem]:
    key, operator, effect = value.get("key") or "", value.get("operator") or "Equal", value.get("effect") or ""
    if isinstance(key, str) and key and (why := label_key_problem(key)):
        yield Problem((*at, "key"), why.replace("label key", "toleration key"))
    if not key and operator != "Exists":
        yield Problem((*at, "operator"), "must be Exists when key is empty (a toleration of every taint)")
    if operator == "Exists" and value.get("value"):
        yield Problem((*at, "value"), "must be empty when operator is Exists")
    if value.get("tolerationSeconds") is not None and effect != "NoExecute":
        yield Problem((*at, "effect"), "must be NoExecute when tolerationSeconds is set")


def _spread_rules(value: Mapping[str, Any], at: Path) -> Iterator[Problem]:
    skew = value.get("maxSkew")
    if isinstance(skew, int) and not isinstance(skew, bool) and not 1 <= skew <= _INT32_MAX:
        yield Problem((*at, "maxSkew"), f"must be at least 1, not {skew}")
    domains = value.get("minDomains")
    if isinstance(domains, int) and not isinstance(domains, bool):
        if not 1 <= domains <= _INT32_MAX:
            yield Problem((*at, "minDomains"), f"must be at least 1, not {domains}")
        if value.get("whenUnsatisfiable") != "DoNotSchedule":
            yield Problem((*at, "minDomains"), "needs whenUnsatisfiable DoNotSchedule")
    if value.get("topologyKey") == "":
        yield Problem((*at, "topologyKey"), "must not be empty: a node label such as topology.kubernetes.io/zone")


def _peer_rules(value: Mapping[str, Any], at: Path) -> Iterator[Problem]:
    given = [name for name in ("podSelector", "namespaceSelector", "ipBlock") if value.get(name) is not None]
    if not given:
        yield Problem(at, "must name a peer: podSelector, namespaceSelector or ipBlock")
    elif "ipBlock" in given and len(given) > 1:
        yield Problem(at, "ipBlock cannot be combined with podSelector or namespaceSelector: make them two peers")


def _port_rules(value: Mapping[str, Any], at: Path) -> Iterator[Problem]:
    port, end = value.get("port"), value.get("endPort")
    if end is not None and not isinstance(port, int):
        yield Problem((*at, "endPort"), "needs a numbered port")
    elif isinstance(end, int) and isinstance(port, int) and not isinstance(end, bool) and end < port:
        yield Problem((*at, "endPort"), f"must be at least port ({port}), not {end}")


SELECTOR_REQUIREMENT = Shape(
    "a label selector requirement",
    {"key": "string", "operator": OneOf(("In", "NotIn", "Exists", "DoesNotExist")), "values": ListOf("string")},
    required=("key", "operator"),
)
LABEL_SELECTOR = Shape("a label selector", {"matchLabels": "labels", "matchExpressions": ListOf(SELECTOR_REQUIREMENT)})
TOLERATION = Shape(
    "a toleration",
    {
        "key": "string",
        "operator": OneOf(("Equal", "Exists"), empty=True),
        "value": "string",
        "effect": OneOf(("NoSchedule", "PreferNoSchedule", "NoExecute"), empty=True),
        "tolerationSeconds": "integer",
    },
    rules=_toleration_rules,
)
TOPOLOGY_SPREAD_CONSTRAINT = Shape(
    "a topology spread constraint",
    {
        "maxSkew": "integer",
        "topologyKey": "string",
        "whenUnsatisfiable": OneOf(("DoNotSchedule", "ScheduleAnyway")),
        "labelSelector": LABEL_SELECTOR,
        "minDomains": "integer",
        "nodeAffinityPolicy": OneOf(("Honor", "Ignore")),
        "nodeTaintsPolicy": OneOf(("Honor", "Ignore")),
        "matchLabelKeys": ListOf("string"),
    },
    required=("maxSkew", "topologyKey", "whenUnsatisfiable"),
    rules=_spread_rules,
)
AFFINITY = Shape("an affinity", {"nodeAffinity": "object", "podAffinity": "object", "podAntiAffinity": "object"})
_KEY_REF_FIELDS: dict[str, Kind] = {"name": "string", "key": "string", "optional": "boolean"}
ENV_VAR_SOURCE = Shape(
    "an env var source",
    {
        "fieldRef": Shape(
            "a field reference", {"apiVersion": "string", "fieldPath": "string"}, required=("fieldPath",)
        ),
        "resourceFieldRef": Shape(
            "a resource field reference",
            {"containerName": "string", "resource": "string", "divisor": "quantity"},
            required=("resource",),
        ),
        "configMapKeyRef": Shape("a ConfigMap key reference", _KEY_REF_FIELDS, required=("key",)),
        "secretKeyRef": Shape("a Secret key reference", _KEY_REF_FIELDS, required=("key",)),
        "fileKeyRef": Shape(
            "a file key reference",
            {"volumeName": "string", "path": "string", "key": "string", "optional": "boolean"},
            required=("volumeName", "path", "key"),
        ),
    },
    exactly_one=("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef"),
)
_SOURCE_REF_FIELDS: dict[str, Kind] = {"name": "string", "optional": "boolean"}
ENV_FROM_SOURCE = Shape(
    "an env from source",
    {
        "prefix": "string",
        "configMapRef": Shape("a ConfigMap reference", _SOURCE_REF_FIELDS),
        "secretRef": Shape("a Secret reference", _SOURCE_REF_FIELDS),
    },
    exactly_one=("configMapRef", "secretRef"),
)
NETWORK_POLICY_PEER = Shape(
    "a NetworkPolicy peer",
    {"podSelector": LABEL_SELECTOR, "namespaceSelector": LABEL_SELECTOR, "ipBlock": "object"},
    rules=_peer_rules,
)
NETWORK_POLICY_PORT = Shape(
    "a NetworkPolicy port",
    {"protocol": OneOf(("TCP", "UDP", "SCTP")), "port": "port", "endPort": "integer"},
    rules=_port_rules,
)
NETWORK_POLICY_EGRESS_RULE = Shape(
    "a NetworkPolicy egress rule", {"to": ListOf(NETWORK_POLICY_PEER), "ports": ListOf(NETWORK_POLICY_PORT)}
)


def passthrough_problems(resource: AgentOSResource) -> Iterator[Problem]:
    """Every problem the API server would find in the Kubernetes objects ``resource``'s spec hands on."""
    spec = resource.spec
    given: list[tuple[Path, Any, Kind]] = [
        (("spec", "tolerations"), spec.tolerations, ListOf(TOLERATION)),
        (("spec", "topologySpreadConstraints"), spec.topology_spread_constraints, ListOf(TOPOLOGY_SPREAD_CONSTRAINT)),
        (("spec", "affinity"), spec.affinity, AFFINITY),
        (("spec", "envFrom"), spec.env_from, ListOf(ENV_FROM_SOURCE)),
    ]
    given += [(("spec", "env", i, "valueFrom"), v.value_from, ENV_VAR_SOURCE) for i, v in enumerate(spec.env or [])]
    if spec.network_policy is not None:
        policy = ("spec", "networkPolicy")
        given.append(((*policy, "ingressFrom"), spec.network_policy.ingress_from, ListOf(NETWORK_POLICY_PEER)))
        given.append(((*policy, "egress"), spec.network_policy.egress, ListOf(NETWORK_POLICY_EGRESS_RULE)))
    for at, value, kind in given:
        if value is not None:
            yield from check(value, kind, at)
