"""Realistic mistakes in an AgentOSConfig are each reported at the field to fix, with the fix."""

import copy
from typing import Any

import pytest
from agentos_operator.resources import parse_resource, validate_resource
from agentos_runtime.config import ConfigError

from tests.operator.offline.inputs import resource_body

KEY = {"name": "openai", "key": "api-key"}
PG_URL = {"name": "pg", "key": "uri"}


def good_spec() -> dict[str, Any]:
    return {
        "models": [{"id": "gpt-4o-mini", "apiKeySecretRef": dict(KEY)}],
        "databases": [{"id": "main", "type": "postgres", "urlSecretRef": dict(PG_URL)}],
        "agents": [{"id": "a"}, {"id": "b"}],
    }


def spec_with(**changes: Any) -> dict[str, Any]:
    spec = good_spec()
    spec.update(copy.deepcopy(changes))
    return spec


# (what is wrong, the whole resource, the path reported, words of the message)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "unknown model reference",
        resource_body(spec_with(agents=[{"id": "a"}, {"id": "b"}, {"id": "c", "model": "gpt-5"}])),
        "spec.agents[2].model",
        "unknown model 'gpt-5': declare it in models or fix the id",
    ),
    (
        "duplicate agent id",
        resource_body(spec_with(agents=[{"id": "a"}, {"id": "a"}])),
        "spec.agents[1].id",
        "duplicate id 'a'",
    ),
    (
        "replicas with autoscaling",
        resource_body(spec_with(replicas=2, autoscaling={"enabled": True})),
        "spec.replicas",
        "mutually exclusive: remove replicas",
    ),
    (
        "sqlite with three replicas",
        resource_body(spec_with(databases=[], replicas=3)),
        "spec.replicas",
        "one replica only, not 3",
    ),
    (
        "sqlite with autoscaling",
        resource_body(spec_with(databases=[{"id": "local", "type": "sqlite"}], autoscaling={"enabled": True})),
        "spec.autoscaling.enabled",
        "one replica only",
    ),
    (
        "postgres with both url sources",
        resource_body(
            spec_with(
                databases=[{"id": "main", "type": "postgres", "urlSecretRef": PG_URL, "cnpgClusterRef": {"name": "c"}}]
            )
        ),
        "spec.databases[0].urlSecretRef",
        "exactly one of urlSecretRef, cnpgClusterRef: remove one",
    ),
    (
        "postgres with no url source",
        resource_body(spec_with(databases=[{"id": "main", "type": "postgres"}])),
        "spec.databases[0].urlSecretRef",
        "exactly one of urlSecretRef, cnpgClusterRef: add one",
    ),
    (
        "redis without urlSecretRef",
        resource_body(spec_with(databases=[{"id": "cache", "type": "redis"}])),
        "spec.databases[0].urlSecretRef",
        "a redis database needs urlSecretRef",
    ),
    (
        "cnpg cluster on redis",
        resource_body(
            spec_with(databases=[{"id": "c", "type": "redis", "urlSecretRef": PG_URL, "cnpgClusterRef": {"name": "x"}}])
        ),
        "spec.databases[0].cnpgClusterRef",
        "cnpgClusterRef is for postgres databases",
    ),
    (
        "misspelt field",
        resource_body(spec_with(agents=[{"id": "a", "instructons": ["hi"]}])),
        "spec.agents[0].instructons",
        "unknown field: remove it or check its spelling",
    ),
    (
        "runtime-file spelling in the resource",
        resource_body(spec_with(agents=[{"id": "a", "add_history_to_context": True}])),
        "spec.agents[0].add_history_to_context",
        "unknown field",
    ),
    (
        "bad memory quantity",
        resource_body(spec_with(resources={"requests": {"memory": "lots"}})),
        "spec.resources.requests.memory",
        "not a Kubernetes quantity: use e.g. 500m, 1, 256Mi or 1Gi",
    ),
    (
        "negative replicas",
        resource_body(spec_with(replicas=-1)),
        "spec.replicas",
        "greater than or equal to 0",
    ),
    (
        "unknown database in memory.dbs",
        resource_body(spec_with(memory={"dbs": [{"dbId": "nowhere"}]})),
        "spec.memory.dbs[0].dbId",
        "unknown database 'nowhere'",
    ),
    (
        "unknown team member",
        resource_body(spec_with(teams=[{"id": "t", "members": ["a", "ghost"]}])),
        "spec.teams[0].members[1]",
        "unknown agent or team 'ghost'",
    ),
    (
        "workflow step without executor",
        resource_body(spec_with(workflows=[{"id": "w", "steps": [{"name": "s"}]}])),
        "spec.workflows[0].steps[0]",
        "set exactly one of agent, team, parallel, condition",
    ),
    (
        "unknown agent inside a parallel group",
        resource_body(
            spec_with(
                workflows=[
                    {
                        "id": "w",
                        "steps": [
                            {"name": "p", "parallel": [{"name": "x", "agent": "a"}, {"name": "y", "agent": "z"}]}
                        ],
                    }
                ]
            )
        ),
        "spec.workflows[0].steps[0].parallel[1].agent",
        "unknown agent 'z'",
    ),
    (
        "condition with two tests",
        resource_body(
            spec_with(
                workflows=[
                    {
                        "id": "w",
                        "steps": [
                            {
                                "name": "c",
                                "condition": {"contains": "x", "matches": "y"},
                                "steps": [{"name": "s", "agent": "a"}],
                            }
                        ],
                    }
                ]
            )
        ),
        "spec.workflows[0].steps[0].condition",
        "set exactly one of contains, not_contains, matches",
    ),
    (
        "bad id characters",
        resource_body(spec_with(agents=[{"id": "My_Agent"}])),
        "spec.agents[0].id",
        "not a valid id: lowercase letters, digits and '-'",
    ),
    (
        "apiKeySecretRef without key",
        resource_body(spec_with(models=[{"id": "gpt-4o-mini", "apiKeySecretRef": {"name": "openai"}}])),
        "spec.models[0].apiKeySecretRef.key",
        "required field is missing",
    ),
    (
        "minReplicas above maxReplicas",
        resource_body(spec_with(autoscaling={"enabled": True, "minReplicas": 5, "maxReplicas": 2})),
        "spec.autoscaling.minReplicas",
        "minReplicas (5) must not exceed maxReplicas (2)",
    ),
    (
        "minReplicas above the default maxReplicas",
        resource_body(spec_with(autoscaling={"enabled": True, "minReplicas": 4})),
        "spec.autoscaling.minReplicas",
        "must not exceed maxReplicas (3)",
    ),
    (
        "JWT authorization without a verification key",
        resource_body(spec_with(authorization={"userIsolation": True})),
        "spec.jwtVerificationKeySecretRef",
        "needs a verification key",
    ),
    (
        "both a JWT key and a JWKS",
        resource_body(
            spec_with(
                authorization={},
                jwtVerificationKeySecretRef={"name": "jwt", "key": "pub"},
                jwtJwksSecretRef={"name": "idp", "key": "jwks.json"},
            )
        ),
        "spec.jwtJwksSecretRef",
        "mutually exclusive: keep jwtJwksSecretRef",
    ),
    (
        "node port without a node-port service type",
        resource_body(spec_with(service={"type": "ClusterIP", "nodePort": 30777})),
        "spec.service",
        "service.nodePort needs service.type NodePort or LoadBalancer",
    ),
    (
        "load balancer source ranges without a load balancer",
        resource_body(spec_with(service={"type": "NodePort", "loadBalancerSourceRanges": ["10.0.0.0/8"]})),
        "spec.service",
        "service.loadBalancerSourceRanges needs service.type LoadBalancer",
    ),
    (
        "an enabled ingress without a host",
        resource_body(spec_with(ingress={"enabled": True, "path": "/agents"})),
        "spec.ingress.host",
        "an enabled ingress needs host: the DNS name clients reach the runtime at",
    ),
    (
        "a pod monitor without the metrics it scrapes",
        resource_body(spec_with(prometheus={"enabled": False, "podMonitor": {"enabled": True}})),
        "spec.prometheus.podMonitor.enabled",
        "prometheus.podMonitor.enabled needs prometheus.enabled",
    ),
    (
        "unknown quick prompt key",
        resource_body(spec_with(chat={"quickPrompts": {"stranger": ["hi"]}})),
        "spec.chat.quickPrompts.stranger",
        "unknown agent, team or workflow 'stranger'",
    ),
    (
        "agent naming an undeclared knowledge base",
        resource_body(spec_with(agents=[{"id": "a", "knowledge": "handbook"}])),
        "spec.agents[0].knowledge",
        "unknown knowledge base 'handbook': declare it in knowledgeBases or fix the id",
    ),
    (
        "knowledge base on redis",
        resource_body(
            spec_with(
                databases=[{"id": "cache", "type": "redis", "urlSecretRef": {"name": "redis", "key": "url"}}],
                knowledgeBases=[{"id": "kb", "db": "cache"}],
            )
        ),
        "spec.knowledgeBases[0].db",
        "knowledge needs a sqlite or postgres database (with pgvector): Redis cannot hold it",
    ),
    (
        "knowledge base on an undeclared database",
        resource_body(spec_with(knowledgeBases=[{"id": "kb", "db": "vectors"}])),
        "spec.knowledgeBases[0].db",
        "unknown database 'vectors'",
    ),
    (
        "two knowledge bases with one id",
        resource_body(spec_with(knowledgeBases=[{"id": "kb"}, {"id": "kb", "table": "other"}])),
        "spec.knowledgeBases[1].id",
        "duplicate id 'kb'",
    ),
    (
        "knowledge source with both a ConfigMap and a URL",
        resource_body(
            spec_with(knowledgeBases=[{"id": "kb", "sources": [{"configMap": {"name": "docs"}, "url": "https://x/"}]}])
        ),
        "spec.knowledgeBases[0].sources[0].configMap",
        "set exactly one of configMap, persistentVolumeClaim, url",
    ),
    (
        "knowledge source volume path leaving the volume",
        resource_body(
            spec_with(
                knowledgeBases=[
                    {
                        "id": "kb",
                        "sources": [{"persistentVolumeClaim": {"claimName": "docs", "subPath": "a/../../etc"}}],
                    }
                ]
            )
        ),
        "spec.knowledgeBases[0].sources[0].persistentVolumeClaim.subPath",
        "must stay inside the volume",
    ),
    (
        "knowledge source ConfigMap with a key a ConfigMap cannot have",
        resource_body(
            spec_with(knowledgeBases=[{"id": "kb", "sources": [{"configMap": {"name": "docs", "items": ["a b.md"]}}]}])
        ),
        "spec.knowledgeBases[0].sources[0].configMap.items[0]",
        "not a valid ConfigMap key",
    ),
    (
        "knowledge source URL on a host the base does not allow",
        resource_body(
            spec_with(
                knowledgeBases=[
                    {"id": "kb", "allowedHosts": ["*.example.com"], "sources": [{"url": "https://example.org/faq"}]}
                ]
            )
        ),
        "spec.knowledgeBases[0].sources[0].url",
        "host 'example.org' is not in allowedHosts (*.example.com): add it",
    ),
    (
        "chunk overlap as large as the chunk",
        resource_body(spec_with(knowledgeBases=[{"id": "kb", "chunking": {"size": 500, "overlap": 500}}])),
        "spec.knowledgeBases[0].chunking",
        "overlap (500) must be smaller than size (500)",
    ),
    (
        "embedder key reference without its key",
        resource_body(spec_with(knowledgeBases=[{"id": "kb", "embedder": {"apiKeySecretRef": {"name": "openai"}}}])),
        "spec.knowledgeBases[0].embedder.apiKeySecretRef.key",
        "required field is missing",
    ),
    (
        "wrong apiVersion",
        resource_body(good_spec(), apiVersion="agentos.dev/v1"),
        "apiVersion",
        "must be 'agentos.dev/v1alpha1', not 'agentos.dev/v1'",
    ),
    (
        "wrong kind",
        resource_body(good_spec(), kind="AgentOS"),
        "kind",
        "must be 'AgentOSConfig', not 'AgentOS'",
    ),
    (
        "name that cannot name a Service",
        resource_body(good_spec(), name="1st_agentos"),
        "metadata.name",
        "'1st_agentos' is not a valid name",
    ),
    (
        "missing spec",
        {"apiVersion": "agentos.dev/v1alpha1", "kind": "AgentOSConfig", "metadata": {"name": "x"}},
        "spec",
        "required field is missing",
    ),
    (
        "security key reference with a bad key",
        resource_body(spec_with(securityKeySecretRef={"name": "auth", "key": "a key"})),
        "spec.securityKeySecretRef.key",
        "not a valid Secret key",
    ),
    (
        "misspelt tool name (the runtime refuses it at its start)",
        resource_body(spec_with(agents=[{"id": "a", "tools": ["calculater"]}])),
        "spec.agents[0].tools[0]",
        "unknown tool 'calculater': known tools are calculator, current_time, http_get: fix the name",
    ),
    (
        "http_get without allowed hosts",
        resource_body(spec_with(teams=[{"id": "t", "members": ["a"], "tools": ["http_get"]}])),
        "spec.teams[0].toolConfig.http_get.allowed_hosts",
        "required field is missing",
    ),
    (
        "toolConfig setting in camelCase",
        resource_body(
            spec_with(
                agents=[{"id": "a", "tools": ["http_get"], "toolConfig": {"http_get": {"allowedHosts": ["x.io"]}}}]
            )
        ),
        "spec.agents[0].toolConfig.http_get.allowedHosts",
        "in snake_case: write allowed_hosts",
    ),
]


@pytest.mark.parametrize(("body", "path", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_is_reported_at_its_field_with_a_fix(body: dict[str, Any], path: str, words: str) -> None:
    reported = [str(p) for p in validate_resource(body)]
    assert any(line.startswith(f"{path}: ") and words in line for line in reported), reported


def test_the_table_covers_at_least_fifteen_distinct_mistakes() -> None:
    assert len({c[0] for c in CASES}) == len(CASES) >= 15


def test_the_good_base_spec_is_valid() -> None:
    assert validate_resource(resource_body(good_spec())) == []


def test_envelope_and_spec_problems_are_reported_together() -> None:
    body = resource_body(spec_with(agents=[{"id": "a", "model": "gpt-5"}]), kind="AgentOS", apiVersion="v1")
    with pytest.raises(ConfigError) as caught:
        parse_resource(body)
    assert [".".join(map(str, p.path)) for p in caught.value.problems] == ["apiVersion", "kind", "spec.agents.0.model"]


def test_several_reference_problems_are_reported_at_once() -> None:
    spec = spec_with(agents=[{"id": "a", "model": "nope", "db": "nowhere"}], teams=[{"id": "t", "members": ["ghost"]}])
    paths = [str(p).split(":")[0] for p in validate_resource(resource_body(spec))]
    assert paths == ["spec.agents[0].model", "spec.agents[0].db", "spec.teams[0].members[0]"]


def test_a_valid_resource_keeps_its_identity_and_defaults_its_namespace() -> None:
    body = resource_body(good_spec())
    body["metadata"] = {"name": "demo", "uid": "u-1", "generation": 4}
    resource = parse_resource(body)
    assert (resource.name, resource.namespace, resource.uid, resource.generation) == ("demo", "default", "u-1", 4)
    assert resource.spec.agents[1].id == "b"


def test_a_bad_deployment_field_does_not_hide_reference_problems() -> None:
    spec = spec_with(replicas=-2, resources={"limits": {"memory": "much"}}, agents=[{"id": "a", "model": "gpt-5"}])
    paths = [str(p).split(":")[0] for p in validate_resource(resource_body(spec))]
    assert paths == ["spec.replicas", "spec.resources.limits.memory", "spec.agents[0].model"]


def test_a_bad_runtime_field_is_reported_before_references_are_checked() -> None:
    spec = spec_with(agents=[{"id": "a", "model": "gpt-5"}, {"id": "Bad"}])
    assert [str(p).split(":")[0] for p in validate_resource(resource_body(spec))] == ["spec.agents[1].id"]
