"""The Kubernetes objects a spec hands on as given (tolerations, topology spread, affinity, env
sources, NetworkPolicy peers and egress rules) are checked offline as the API server checks them:
``agentos validate`` said "valid" to what the API server then refused, at the spec field to change.
tests/cluster/test_server_validation.py has a real API server judge every case below."""

from __future__ import annotations

from typing import Any

import pytest
from agentos_operator import render
from agentos_operator.resources import parse_resource

from tests.operator.offline.inputs import resource_body

BASE: dict[str, Any] = {"models": [{"id": "m"}], "agents": [{"id": "a"}]}

# (name, what the spec adds, the problems offline: each "path: words of the message")
PASSTHROUGH_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "well-formed objects of every kind",
        {
            "tolerations": [
                {"operator": "Exists"},
                {"key": "dedicated", "operator": "Equal", "value": "agents", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "tolerationSeconds": 30},
                {"key": "gpu", "operator": "", "effect": ""},
            ],
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "minDomains": 2,
                    "labelSelector": {
                        "matchLabels": {"app.kubernetes.io/instance": "demo"},
                        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}],
                    },
                    "nodeTaintsPolicy": "Honor",
                    "matchLabelKeys": ["pod-template-hash"],
                }
            ],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                        ]
                    }
                }
            },
            "env": [
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": 1}}},
                {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "mode", "optional": True}}},
            ],
            "envFrom": [{"prefix": "X_", "secretRef": {"name": "extra"}}, {"configMapRef": {"name": "c"}}],
            "networkPolicy": {
                "enabled": True,
                "ingressFrom": [
                    {"podSelector": {"matchLabels": {"role": "gateway"}}, "namespaceSelector": {}},
                    {"ipBlock": {"cidr": "10.0.0.0/8"}},
                ],
                "restrictEgress": True,
                "egress": [
                    {
                        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "db"}}}],
                        "ports": [{"protocol": "TCP", "port": 5432}, {"port": "postgres"}, {"port": 80, "endPort": 90}],
                    }
                ],
            },
        },
        [],
    ),
    (
        "tolerations",
        {
            "tolerations": [
                {"operator": "Maybe", "effect": "Sometimes"},
                {"key": "k", "operator": "Exists", "value": "v"},
                {"key": "k", "tolerationSeconds": 5, "effect": "NoSchedule"},
                {"key": "bad key!", "operator": "Exists"},
                {"key": "k", "seconds": 5},
            ]
        },
        [
            "spec.tolerations[0].operator: must be one of Equal, Exists, not 'Maybe'",
            "spec.tolerations[0].effect: must be one of NoSchedule, PreferNoSchedule, NoExecute, not 'Sometimes'",
            "spec.tolerations[0].operator: must be Exists when key is empty",
            "spec.tolerations[1].value: must be empty when operator is Exists",
            "spec.tolerations[2].effect: must be NoExecute when tolerationSeconds is set",
            "spec.tolerations[3].key: 'bad key!' is not a valid toleration key",
            "spec.tolerations[4].seconds: unknown field of a toleration",
        ],
    ),
    (
        "topology spread constraints",
        {
            "topologySpreadConstraints": [
                {"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "Later", "minDomains": 2},
                {"maxSkew": "1", "whenUnsatisfiable": "ScheduleAnyway", "nodeAffinityPolicy": "Maybe"},
            ]
        },
        [
            "spec.topologySpreadConstraints[0].whenUnsatisfiable: must be one of DoNotSchedule, ScheduleAnyway",
            "spec.topologySpreadConstraints[0].maxSkew: must be at least 1, not 0",
            "spec.topologySpreadConstraints[0].minDomains: needs whenUnsatisfiable DoNotSchedule",
            "spec.topologySpreadConstraints[1].maxSkew: must be an integer, not '1'",
            "spec.topologySpreadConstraints[1].nodeAffinityPolicy: must be one of Honor, Ignore, not 'Maybe'",
            "spec.topologySpreadConstraints[1].topologyKey: required field of a topology spread constraint is missing",
        ],
    ),
    (
        "a misspelt affinity",
        {"affinity": {"nodeAfinity": {}}},
        ["spec.affinity.nodeAfinity: unknown field of an affinity: check its spelling"],
    ),
    (
        "env sources",
        {
            "env": [
                {"name": "A", "valueFrom": {}},
                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s"}}},
                {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}, "fieldRef": {"fieldPath": "x"}}},
                {"name": "D", "valueFrom": {"secretRef": {"name": "s"}}},
            ],
            "envFrom": [{"configMapRef": {"name": "c"}, "secretRef": {"name": "s"}}, {"prefix": "P_"}],
        },
        [
            "spec.envFrom[0]: set exactly one of configMapRef, secretRef, not 2",
            "spec.envFrom[1]: set exactly one of configMapRef, secretRef, not 0",
            "spec.env[0].valueFrom: set exactly one of fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef",
            "spec.env[1].valueFrom.secretKeyRef.key: required field of a Secret key reference is missing",
            "spec.env[2].valueFrom: set exactly one of fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef",
            "spec.env[3].valueFrom.secretRef: unknown field of an env var source",
            "spec.env[3].valueFrom: set exactly one of",
        ],
    ),
    (
        "network policy peers and egress rules",
        {
            "networkPolicy": {
                "enabled": True,
                "ingressFrom": [
                    {},
                    {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}},
                    {"podSelecter": {}},
                    {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Maybe"}]}},
                ],
                "restrictEgress": True,
                "egress": [
                    {
                        "to": [{"namespaceSelector": {"matchLabels": {"bad key!": "x"}}}],
                        "ports": [
                            {"protocol": "HTTP", "port": 80},
                            {"port": 0},
                            {"port": "no such name!"},
                            {"port": 80, "endPort": 70},
                        ],
                    }
                ],
            }
        },
        [
            "spec.networkPolicy.ingressFrom[0]: must name a peer: podSelector, namespaceSelector or ipBlock",
            "spec.networkPolicy.ingressFrom[1]: ipBlock cannot be combined with podSelector or namespaceSelector",
            "spec.networkPolicy.ingressFrom[2].podSelecter: unknown field of a NetworkPolicy peer",
            "spec.networkPolicy.ingressFrom[2]: must name a peer",
            "spec.networkPolicy.ingressFrom[3].podSelector.matchExpressions[0].operator: must be one of In, NotIn,",
            "spec.networkPolicy.egress[0].to[0].namespaceSelector.matchLabels.bad key!: 'bad key!' is not a valid label key",
            "spec.networkPolicy.egress[0].ports[0].protocol: must be one of TCP, UDP, SCTP, not 'HTTP'",
            "spec.networkPolicy.egress[0].ports[1].port: must be a port number from 1 to 65535, not 0",
            "spec.networkPolicy.egress[0].ports[2].port: 'no such name!' is no port name",
            "spec.networkPolicy.egress[0].ports[3].endPort: must be at least port (80), not 70",
        ],
    ),
]


def offline_problems(spec: dict[str, Any]) -> list[str]:
    """What the offline checks find in the children of an AgentOSConfig with ``spec`` added to ``BASE``."""
    resource = parse_resource(resource_body({**BASE, **spec}))
    settings = render.RenderSettings(default_image="registry.example/agentos:1")
    manifests = render.render(resource, render.placeholder_secrets(resource), settings=settings)
    return [str(problem) for problem in render.check_manifests(resource, manifests)]


@pytest.mark.parametrize(
    ("spec", "expected"), [c[1:] for c in PASSTHROUGH_CASES], ids=[c[0] for c in PASSTHROUGH_CASES]
)
def test_each_problem_is_said_at_its_spec_field_with_the_rule_it_breaks(
    spec: dict[str, Any], expected: list[str]
) -> None:
    found = offline_problems(spec)
    assert len(found) == len(expected), found
    for line, words in zip(found, expected, strict=True):
        assert line.startswith(words), (line, words)


def test_a_hostile_value_in_a_handed_on_object_is_a_problem_not_a_crash() -> None:
    found = offline_problems(
        {
            "tolerations": [{"key": "-" * 10_000, "operator": "Exists"}, {"effect": 10**4000}],
            "affinity": {"nodeAffinity": "x" * 100_000},
        }
    )
    assert [line.split(":")[0] for line in found] == [
        "spec.tolerations[0].key",
        "spec.tolerations[1].effect",
        "spec.tolerations[1].operator",
        "spec.affinity.nodeAffinity",
    ]
    assert "a number past 64 bits" in found[1]
    assert all(len(line) < 400 for line in found)
