"""The ``AgentOSConfig`` CustomResourceDefinition, generated from the spec and status models.

The pydantic models are the one source: their JSON schema (camelCase aliases) is rewritten
into a Kubernetes structural schema (references inlined, ``null`` branches dropped, no
``default``s so GitOps tools see no drift, a description on every property for ``kubectl
explain``), and the cross-field rules the models check in Python are repeated as CEL
(``x-kubernetes-validations``) so the API server rejects the same resources at admission.
"""

from __future__ import annotations

from typing import Any

from agentos_runtime.config.knowledge import ChunkingSettings

from agentos_operator import GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION
from agentos_operator.resources import NAME_MAX_LENGTH
from agentos_operator.resources import NAME_PATTERN as RESOURCE_NAME_PATTERN
from agentos_operator.spec import (
    INGRESS_PATH_SEQUENCES,
    INGRESS_PATH_SUFFIXES,
    IPV4_PATTERN,
    POD_MONITOR_NEEDS_METRICS,
    AgentOSConfigSpec,
    AgentOSConfigStatus,
    Autoscaling,
)

Schema = dict[str, Any]

# JSON-schema keys Kubernetes does not accept (or that would fight GitOps tools) in a CRD.
_DROPPED = frozenset({"title", "default", "$defs"})
_AUTOSCALING_MIN = Autoscaling.model_fields["min_replicas"].default
_AUTOSCALING_MAX = Autoscaling.model_fields["max_replicas"].default
_CHUNK_SIZE = ChunkingSettings.model_fields["size"].default
_AUTOSCALING_ON = "has(self.autoscaling) && has(self.autoscaling.enabled) && self.autoscaling.enabled"
_USES_SQLITE = "!has(self.databases) || size(self.databases) == 0 || self.databases.exists(d, d.type == 'sqlite')"


def _rule(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    entry = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


# CEL mirrors of the models' validators, keyed by model name. Each message names the field and the fix.
RULES: dict[str, list[dict[str, str]]] = {
    "AgentOSConfigSpec": [
        _rule(
            f"!(has(self.replicas) && {_AUTOSCALING_ON})",
            "spec.replicas and spec.autoscaling.enabled are mutually exclusive: remove replicas when autoscaling",
            ".replicas",
        ),
        _rule(
            f"!({_USES_SQLITE}) || ((!has(self.replicas) || self.replicas <= 1) && !({_AUTOSCALING_ON}))",
            "an embedded SQLite database (declared, or the default when spec.databases is empty) allows one"
            " replica only: set spec.replicas to at most 1 and disable autoscaling, or use postgres or redis",
        ),
        _rule(
            "!has(self.authorization) || has(self.jwtVerificationKeySecretRef) || has(self.jwtJwksSecretRef)",
            "spec.authorization turns on JWT access control, which needs a verification key:"
            " set spec.jwtVerificationKeySecretRef to a Secret key holding it, or spec.jwtJwksSecretRef to one"
            " holding a JWKS document",
            ".jwtVerificationKeySecretRef",
        ),
        _rule(
            "!(has(self.jwtVerificationKeySecretRef) && has(self.jwtJwksSecretRef))",
            "spec.jwtJwksSecretRef and spec.jwtVerificationKeySecretRef are mutually exclusive: keep one, remove"
            " the other",
            ".jwtJwksSecretRef",
        ),
    ],
    "DatabaseSpec": [
        _rule(
            "self.type != 'postgres' || has(self.urlSecretRef) != has(self.cnpgClusterRef)",
            "a postgres database needs exactly one of urlSecretRef, cnpgClusterRef: set one, remove the other",
        ),
        _rule(
            "self.type != 'redis' || has(self.urlSecretRef)",
            "a redis database needs urlSecretRef: point it at a Secret key holding redis://...",
            ".urlSecretRef",
        ),
        _rule(
            "self.type != 'sqlite' || !has(self.urlSecretRef)",
            "a sqlite database takes no urlSecretRef: remove it",
            ".urlSecretRef",
        ),
        _rule(
            "!has(self.cnpgClusterRef) || self.type == 'postgres'",
            "cnpgClusterRef is for postgres databases: remove it, or use urlSecretRef",
            ".cnpgClusterRef",
        ),
    ],
    "Autoscaling": [
        _rule(
            f"(has(self.minReplicas) ? self.minReplicas : {_AUTOSCALING_MIN})"
            f" <= (has(self.maxReplicas) ? self.maxReplicas : {_AUTOSCALING_MAX})",
            f"autoscaling.minReplicas must not exceed autoscaling.maxReplicas (defaults {_AUTOSCALING_MIN}"
            f" and {_AUTOSCALING_MAX})",
            ".minReplicas",
        ),
    ],
    "ServiceSpec": [
        _rule(
            "!has(self.nodePort) || (has(self.type) && self.type != 'ClusterIP')",
            "service.nodePort needs service.type NodePort or LoadBalancer",
            ".nodePort",
        ),
        _rule(
            "!has(self.loadBalancerSourceRanges) || (has(self.type) && self.type == 'LoadBalancer')",
            "service.loadBalancerSourceRanges needs service.type LoadBalancer",
            ".loadBalancerSourceRanges",
        ),
    ],
    "IngressSpec": [
        _rule(
            "!(has(self.enabled) && self.enabled) || has(self.host)",
            "an enabled ingress needs host: the DNS name clients reach the runtime at",
            ".host",
        ),
        _rule(
            f"!has(self.host) || !self.host.matches('{IPV4_PATTERN}')",
            "ingress.host is an IP address: an Ingress host must be a DNS name",
            ".host",
        ),
        _rule(
            "!has(self.path) || !("
            + " || ".join(f"self.path.contains('{s}')" for s in INGRESS_PATH_SEQUENCES)
            + " || "
            + " || ".join(f"self.path.endsWith('{s}')" for s in INGRESS_PATH_SUFFIXES)
            + ")",
            "ingress.path of type Prefix must not contain "
            + ", ".join(f"'{s}'" for s in INGRESS_PATH_SEQUENCES)
            + " nor end with "
            + " or ".join(f"'{s}'" for s in INGRESS_PATH_SUFFIXES),
            ".path",
        ),
    ],
    "RuntimeMetrics": [
        _rule(
            "!(has(self.podMonitor) && has(self.podMonitor.enabled) && self.podMonitor.enabled)"
            " || !has(self.enabled) || self.enabled",
            POD_MONITOR_NEEDS_METRICS,
            ".podMonitor.enabled",
        ),
    ],
    "KnowledgeSourceSpec": [
        _rule(
            "(has(self.configMap) ? 1 : 0) + (has(self.persistentVolumeClaim) ? 1 : 0) + (has(self.url) ? 1 : 0) == 1",
            "a knowledge source needs exactly one of configMap, persistentVolumeClaim, url",
        ),
    ],
    "ChunkingSettings": [
        _rule(
            f"(has(self.overlap) ? self.overlap : 0) < (has(self.size) ? self.size : {_CHUNK_SIZE})",
            f"chunking.overlap must be smaller than chunking.size (default {_CHUNK_SIZE})",
            ".overlap",
        ),
    ],
    "LeafStep": [
        _rule("has(self.agent) != has(self.team)", "a workflow step needs exactly one of agent, team"),
    ],
    "WorkflowStep": [
        _rule(
            "[has(self.agent), has(self.team), has(self.parallel), has(self.condition)].filter(x, x).size() == 1",
            "a workflow step needs exactly one of agent, team, parallel, condition",
        ),
        _rule(
            "has(self.condition) || !(has(self.steps) || has(self.elseSteps))",
            "steps and elseSteps need a condition: add one, or list the steps in the workflow itself",
        ),
        _rule(
            "!has(self.condition) || (has(self.steps) && size(self.steps) > 0)",
            "a condition step needs steps to run when the condition holds",
            ".steps",
        ),
    ],
    "StepCondition": [
        _rule(
            "[has(self.contains), has(self.notContains), has(self.matches)].filter(x, x).size() == 1",
            "a condition needs exactly one of contains, notContains, matches",
        ),
    ],
}

# Lists keyed by `id`: the API server rejects duplicate ids, and server-side apply merges by id.
_LISTS_KEYED_BY_ID = ("models", "databases", "agents", "teams", "workflows", "knowledgeBases")


def build_crd() -> dict[str, Any]:
    """The CRD object (``apiextensions.k8s.io/v1``), deterministic for a given set of models."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "agentos", "app.kubernetes.io/part-of": "kube-agentos"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": build_schema()},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": _printer_columns(),
                }
            ],
        },
    }


def build_schema() -> Schema:
    """The ``openAPIV3Schema`` of the resource: envelope, spec and status."""
    spec = model_schema(AgentOSConfigSpec)
    for name in _LISTS_KEYED_BY_ID:
        spec["properties"][name].update({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]})
    status = model_schema(AgentOSConfigStatus)
    status["properties"]["conditions"].update({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})
    return {
        "type": "object",
        "description": f"An AgentOS server: agents, teams, workflows, models and databases, run by the {GROUP} operator.",
        "properties": {
            "apiVersion": {"type": "string", "description": f"`{GROUP}/{VERSION}`."},
            "kind": {"type": "string", "description": f"`{KIND}`."},
            # The API server refuses anything on the root metadata schema but restrictions of name
            # and generateName (not even a description); name is declared for the rule's fieldPath.
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "spec": spec,
            "status": status,
        },
        "required": ["spec"],
        # The API server requires a DNS subdomain only; the name also becomes the Service's name
        # (a DNS label: no dots, a leading letter). The length is checked first (CEL's && stops
        # there) and bounds the pattern's work; the cost estimator, which cannot know it, is
        # satisfied by the API server this CRD is installed on (tests/cluster).
        "x-kubernetes-validations": [
            _rule(
                f"size(self.metadata.name) <= {NAME_MAX_LENGTH} && self.metadata.name.matches('{RESOURCE_NAME_PATTERN}')",
                f"metadata.name must be lowercase letters, digits and '-', start with a letter, end with a letter or"
                f" digit, have no '.' and at most {NAME_MAX_LENGTH} characters (it names the Service and prefixes"
                " the other children)",
                ".metadata.name",
            )
        ],
    }


def model_schema(model: type[AgentOSConfigSpec] | type[AgentOSConfigStatus]) -> Schema:
    """A model's JSON schema (by alias) as a structural schema, with its CEL rules."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    return structural({**raw, **_validations(model.__name__)}, defs)


def structural(schema: Schema, defs: dict[str, Schema]) -> Schema:
    """Rewrite one JSON-schema node (and its children) into Kubernetes' structural form."""
    node = _flatten(schema, defs)
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "properties":
            out[key] = {name: structural(child, defs) for name, child in value.items()}
        elif key == "items":
            out[key] = structural(value, defs)
        elif key == "additionalProperties":
            if value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out[key] = structural(value, defs)
            # `false` (pydantic's extra="forbid") is how structural schemas behave anyway: pruned.
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            out[key.replace("exclusive", "").lower()] = value
            out[key] = True
        else:
            out[key] = value
    if out.get("x-kubernetes-preserve-unknown-fields") and "properties" not in out:
        out.pop("additionalProperties", None)
    if out.get("type") == "string" and "enum" in out and "maxLength" not in out:
        # A bound lets the API server price CEL rules comparing this field (`self.type == 'sqlite'`).
        out["maxLength"] = max(len(value) for value in out["enum"])
    return out


def _flatten(schema: Schema, defs: dict[str, Schema]) -> Schema:
    """Inline ``$ref``s and drop the ``null`` branch of optionals; the outer node's keys win."""
    node = dict(schema)
    while True:
        if "$ref" in node:
            name = node.pop("$ref").rsplit("/", 1)[-1]
            node = {**defs[name], **_validations(name), **node}
        elif "anyOf" in node:
            branches = [b for b in node.pop("anyOf") if b != {"type": "null"}]
            if len(branches) != 1:
                raise ValueError(f"a CRD cannot express this union: {branches}")
            node = {**branches[0], **node}
        else:
            return node


def _validations(model_name: str) -> Schema:
    rules = RULES.get(model_name)
    return {"x-kubernetes-validations": [dict(rule) for rule in rules]} if rules else {}


def _printer_columns() -> list[dict[str, Any]]:
    ready = '.status.conditions[?(@.type=="Ready")]'
    return [
        {"name": "Ready", "type": "string", "jsonPath": f"{ready}.status"},
        {"name": "Reason", "type": "string", "jsonPath": f"{ready}.reason"},
        {"name": "Replicas", "type": "integer", "jsonPath": ".status.readyReplicas"},
        {"name": "URL", "type": "string", "jsonPath": ".status.url"},
        # `kubectl get -o wide` only: most resources have no Ingress.
        {"name": "Ingress", "type": "string", "jsonPath": ".status.ingressUrl", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
