"""The generated CRD: accepted by Kubernetes' own schema, committed fresh, self-describing, and
agreeing with ``agentos validate`` on what it accepts."""

import copy
from collections.abc import Iterator
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from agentos_operator.commands.crd import crd_yaml
from agentos_operator.crd import build_crd
from agentos_operator.resources import validate_resource

from tests.operator.offline.crd_schema import cel_violations, json_schema
from tests.operator.offline.inputs import EXAMPLE_NAMES, ROOT, load_example, resource_body

COMMITTED = ROOT / "crds" / "agentosconfigs.agentos.dev.yaml"


def open_api_schema() -> dict[str, Any]:
    return build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, child in node.items():
            yield from walk(child, f"{path}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from walk(child, f"{path}[{index}]")


@pytest.mark.parametrize("version", ["1.33.0", "1.37.0"])
def test_the_crd_passes_the_strict_kubernetes_schema(version: str) -> None:
    kubernetes_validate.validate(build_crd(), version, strict=True)


def test_the_committed_crd_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == crd_yaml(), (
        "crds/ is stale: run `agentos crd > crds/agentosconfigs.agentos.dev.yaml`"
    )


def test_the_committed_crd_parses_to_the_built_object() -> None:
    assert list(yaml.safe_load_all(COMMITTED.read_text(encoding="utf-8"))) == [build_crd()]


def test_every_property_has_a_description_for_kubectl_explain() -> None:
    undescribed = [
        f"{path}/{name}"
        for path, node in walk(open_api_schema())
        if isinstance(node, dict) and isinstance(node.get("properties"), dict)
        for name, child in node["properties"].items()
        if not child.get("description") and f"{path}/{name}" not in ("/metadata", "/properties/metadata/name")
    ]
    assert undescribed == []


def test_the_root_metadata_schema_is_its_type_and_names_type_as_the_api_server_requires() -> None:
    # Anything more (a description too) is refused at install: "must not specify anything other
    # than name and generateName". The name is declared so that a rule can point at it.
    assert open_api_schema()["properties"]["metadata"] == {"type": "object", "properties": {"name": {"type": "string"}}}
    [rule] = open_api_schema()["x-kubernetes-validations"]
    assert rule["fieldPath"] == ".metadata.name"


def test_the_schema_is_structural_with_no_defaults_or_json_schema_leftovers() -> None:
    for path, node in walk(open_api_schema()):
        if not isinstance(node, dict) or path.endswith("/properties") or "x-kubernetes-validations[" in path:
            continue
        leftovers = {"default", "$ref", "$defs", "anyOf", "allOf", "title", "const"} & node.keys()
        assert not leftovers, f"{path}: {leftovers}"
        assert node.get("additionalProperties") is not False, path
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), f"{path} has no type"
        if node.get("type") == "string" and "enum" in node:
            assert node.get("maxLength") == max(map(len, node["enum"])), f"{path}: CEL needs a bounded enum"


def test_the_crd_serves_the_scale_and_status_subresources_and_printer_columns() -> None:
    version = build_crd()["spec"]["versions"][0]
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    columns = version["additionalPrinterColumns"]
    assert [c["name"] for c in columns] == ["Ready", "Reason", "Replicas", "URL", "Ingress", "Age"]
    assert [c["name"] for c in columns if c.get("priority", 0) > 0] == ["Ingress"], "shown by -o wide alone"
    assert build_crd()["spec"]["names"]["shortNames"] == ["aos", "agentos"]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_each_example_validates_against_the_crd_schema(name: str) -> None:
    jsonschema.validate(load_example(name), json_schema(open_api_schema()))


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda s: s["agents"][0].update(instructons=["x"]), "instructons"),
        (lambda s: s.update(replicas="two"), "two"),
        (lambda s: s["models"][0].update(provider="anthropic"), "anthropic"),
        (lambda s: s.update(resources={"requests": {"memory": "lots"}}), "lots"),
        (lambda s: s["models"][0].update(timeout=0), "0"),
        (lambda s: s.update(prometheus={"podMonitor": {"interval": "1h30"}}), "1h30"),
    ],
)
def test_the_crd_schema_rejects_fields_it_does_not_know_or_values_out_of_range(change: Any, where: str) -> None:
    body = load_example("minimal-sqlite")
    change(body["spec"])
    with pytest.raises(jsonschema.ValidationError, match=where):
        jsonschema.validate(body, json_schema(open_api_schema()))


# Resources whose only possible fault is a cross-field rule the CRD repeats in CEL.
def spec(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"models": [{"id": "m"}], "agents": [{"id": "a"}, {"id": "b"}]}
    base.update(copy.deepcopy(fields))
    return base


PG = {"id": "pg", "type": "postgres", "urlSecretRef": {"name": "pg", "key": "uri"}}
REF = {"name": "s", "key": "k"}
CLUSTER = {"name": "c"}
CM = {"configMap": {"name": "docs"}}
PVC = {"persistentVolumeClaim": {"claimName": "manuals", "subPath": "en"}}
HOST = "docs.example.com"
URL = f"https://{HOST}/guide"


def step(**fields: Any) -> dict[str, Any]:
    return {"workflows": [{"id": "w", "steps": [{"name": "s", **fields}]}]}


CEL_CASES: list[tuple[str, dict[str, Any]]] = [
    ("knowledge source from a ConfigMap", resource_body(spec(knowledgeBases=[{"id": "k", "sources": [CM]}]))),
    (
        "knowledge source from an allowed URL",
        resource_body(spec(knowledgeBases=[{"id": "k", "allowedHosts": [HOST], "sources": [{"url": URL}]}])),
    ),
    ("knowledge source with neither", resource_body(spec(knowledgeBases=[{"id": "k", "sources": [{"name": "n"}]}]))),
    ("knowledge source from a volume", resource_body(spec(knowledgeBases=[{"id": "k", "sources": [PVC]}]))),
    (
        "knowledge source from a ConfigMap and a volume",
        resource_body(spec(knowledgeBases=[{"id": "k", "sources": [{**CM, **PVC}]}])),
    ),
    (
        "knowledge source with both",
        resource_body(spec(knowledgeBases=[{"id": "k", "sources": [{**CM, "url": URL}]}])),
    ),
    ("chunk overlap below size", resource_body(spec(knowledgeBases=[{"id": "k", "chunking": {"overlap": 100}}]))),
    (
        "chunk overlap at the default size",
        resource_body(spec(knowledgeBases=[{"id": "k", "chunking": {"overlap": 5000}}])),
    ),
    (
        "chunk overlap above a smaller size",
        resource_body(spec(knowledgeBases=[{"id": "k", "chunking": {"size": 100, "overlap": 150}}])),
    ),
    ("postgres with three replicas", resource_body(spec(databases=[PG], replicas=3))),
    ("postgres autoscaled", resource_body(spec(databases=[PG], autoscaling={"enabled": True, "maxReplicas": 5}))),
    (
        "postgres with replicas and autoscaling off",
        resource_body(spec(databases=[PG], replicas=4, autoscaling={"enabled": False})),
    ),
    ("sqlite with one replica", resource_body(spec(databases=[{"id": "l", "type": "sqlite"}], replicas=1))),
    ("no database with zero replicas", resource_body(spec(replicas=0))),
    (
        "autoscaling min equal to max",
        resource_body(spec(databases=[PG], autoscaling={"enabled": True, "minReplicas": 3})),
    ),
    ("redis with its url", resource_body(spec(databases=[{"id": "r", "type": "redis", "urlSecretRef": REF}]))),
    (
        "postgres from a cnpg cluster",
        resource_body(spec(databases=[{"id": "p", "type": "postgres", "cnpgClusterRef": CLUSTER}])),
    ),
    (
        "condition step with both branches",
        resource_body(
            spec(
                **step(
                    condition={"notContains": "x"},
                    steps=[{"name": "t", "agent": "a"}],
                    elseSteps=[{"name": "e", "agent": "b"}],
                )
            )
        ),
    ),
    ("replicas with autoscaling", resource_body(spec(databases=[PG], replicas=2, autoscaling={"enabled": True}))),
    ("sqlite with three replicas", resource_body(spec(databases=[{"id": "l", "type": "sqlite"}, PG], replicas=3))),
    ("no database with two replicas", resource_body(spec(replicas=2))),
    ("no database autoscaled", resource_body(spec(autoscaling={"enabled": True}))),
    ("postgres with both sources", resource_body(spec(databases=[{**PG, "cnpgClusterRef": CLUSTER}]))),
    ("postgres with no source", resource_body(spec(databases=[{"id": "p", "type": "postgres"}]))),
    ("redis without its url", resource_body(spec(databases=[{"id": "r", "type": "redis"}]))),
    (
        "redis from a cnpg cluster",
        resource_body(spec(databases=[{"id": "r", "type": "redis", "urlSecretRef": REF, "cnpgClusterRef": CLUSTER}])),
    ),
    ("sqlite with a url", resource_body(spec(databases=[{"id": "l", "type": "sqlite", "urlSecretRef": REF}]))),
    (
        "sqlite from a cnpg cluster",
        resource_body(spec(databases=[{"id": "l", "type": "sqlite", "cnpgClusterRef": CLUSTER}])),
    ),
    (
        "min above max",
        resource_body(spec(databases=[PG], autoscaling={"enabled": True, "minReplicas": 4, "maxReplicas": 2})),
    ),
    ("min above the default max", resource_body(spec(databases=[PG], autoscaling={"minReplicas": 4}))),
    ("step without executor", resource_body(spec(**step()))),
    (
        "step with agent and team",
        resource_body(spec(teams=[{"id": "t", "members": ["a"]}], **step(agent="a", team="t"))),
    ),
    ("steps without a condition", resource_body(spec(**step(agent="a", steps=[{"name": "t", "agent": "b"}])))),
    (
        "condition without steps",
        resource_body(spec(**step(condition={"contains": "x"}, elseSteps=[{"name": "e", "agent": "a"}]))),
    ),
    (
        "condition with two tests",
        resource_body(spec(**step(condition={"contains": "x", "matches": "y"}, steps=[{"name": "t", "agent": "a"}]))),
    ),
    (
        "parallel member with agent and team",
        resource_body(
            spec(teams=[{"id": "t", "members": ["a"]}], **step(parallel=[{"name": "p", "agent": "a", "team": "t"}]))
        ),
    ),
    ("parallel member with neither", resource_body(spec(**step(parallel=[{"name": "p"}])))),
    ("name too long", resource_body(spec(), name="a" * 51)),
    ("name at the longest", resource_body(spec(), name="a" * 50)),
    ("name with a dot", resource_body(spec(), name="my.agents")),
    ("name starting with a digit", resource_body(spec(), name="1agents")),
    ("name with hyphens", resource_body(spec(), name="team-a-agents-2")),
    ("node port on a NodePort service", resource_body(spec(service={"type": "NodePort", "nodePort": 30777}))),
    ("node port on a ClusterIP service", resource_body(spec(service={"nodePort": 30777}))),
    (
        "source ranges on a LoadBalancer service",
        resource_body(spec(service={"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8"]})),
    ),
    (
        "source ranges on a NodePort service",
        resource_body(spec(service={"type": "NodePort", "loadBalancerSourceRanges": ["10.0.0.0/8"]})),
    ),
    ("source ranges on a default service", resource_body(spec(service={"loadBalancerSourceRanges": []}))),
    ("ingress enabled without a host", resource_body(spec(ingress={"enabled": True}))),
    ("ingress disabled without a host", resource_body(spec(ingress={"enabled": False, "path": "/x"}))),
    ("ingress enabled with a host", resource_body(spec(ingress={"enabled": True, "host": "a.example.com"}))),
    ("ingress host an IP address", resource_body(spec(ingress={"enabled": True, "host": "10.1.2.3"}))),
    ("ingress host like an IP but a name", resource_body(spec(ingress={"enabled": True, "host": "10.1.2.x"}))),
    ("ingress path with '//'", resource_body(spec(ingress={"host": "a.example.com", "path": "/a//b"}))),
    ("ingress path with '%2f'", resource_body(spec(ingress={"host": "a.example.com", "path": "/a%2fb"}))),
    ("ingress path ending '/..'", resource_body(spec(ingress={"host": "a.example.com", "path": "/a/.."}))),
    (
        "ingress with a prefix and tls",
        resource_body(
            spec(ingress={"enabled": True, "host": "a.example.com", "path": "/a/b.c", "tls": {"secretName": "t"}})
        ),
    ),
    (
        "pod monitor enabled with metrics off",
        resource_body(spec(prometheus={"enabled": False, "podMonitor": {"enabled": True}})),
    ),
    ("pod monitor enabled, metrics on by default", resource_body(spec(prometheus={"podMonitor": {"enabled": True}}))),
    (
        "pod monitor enabled, metrics on",
        resource_body(spec(prometheus={"enabled": True, "podMonitor": {"enabled": True, "interval": "1m30s"}})),
    ),
    (
        "pod monitor disabled with metrics off",
        resource_body(spec(prometheus={"enabled": False, "podMonitor": {"enabled": False}})),
    ),
    ("pod monitor unset with metrics off", resource_body(spec(prometheus={"enabled": False, "podMonitor": {}}))),
    ("authorization without a JWT key", resource_body(spec(authorization={"userIsolation": True}))),
    (
        "authorization with a JWT key",
        resource_body(spec(authorization={}, jwtVerificationKeySecretRef={"name": "jwt", "key": "pub"})),
    ),
    (
        "authorization with a JWKS",
        resource_body(spec(authorization={}, jwtJwksSecretRef={"name": "idp", "key": "jwks.json"})),
    ),
    (
        "both a JWT key and a JWKS",
        resource_body(
            spec(jwtVerificationKeySecretRef={"name": "jwt", "key": "pub"}, jwtJwksSecretRef={"name": "i", "key": "j"})
        ),
    ),
]


@pytest.mark.parametrize("body", [c[1] for c in CEL_CASES], ids=[c[0] for c in CEL_CASES])
def test_the_crd_cel_rules_agree_with_agentos_validate(body: dict[str, Any]) -> None:
    problems = validate_resource(body)
    violations = cel_violations(open_api_schema(), body)
    assert bool(violations) == bool(problems), f"CEL: {violations}; validate: {[str(p) for p in problems]}"


def test_the_cel_cases_include_both_verdicts() -> None:
    verdicts = [bool(validate_resource(body)) for _, body in CEL_CASES]
    assert verdicts.count(True) >= 15 and verdicts.count(False) >= 8


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_the_examples_satisfy_every_cel_rule(name: str) -> None:
    assert cel_violations(open_api_schema(), load_example(name)) == []


def test_a_name_a_service_cannot_take_is_refused_by_the_crd_as_by_the_operator() -> None:
    # The API server requires a DNS subdomain only; the Service the name becomes needs a DNS label.
    body = resource_body(spec(), name="agents.v2")
    [violation] = cel_violations(open_api_schema(), body)
    assert "no '.'" in violation
    assert [str(p).split(":")[0] for p in validate_resource(body)] == ["metadata.name"]
