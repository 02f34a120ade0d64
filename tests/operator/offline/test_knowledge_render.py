"""Knowledge bases in the resource: the runtime file gets them with variables in place of Secret
references and mounted directories in place of ConfigMaps; keys reach the env Secret only; the
pods mount each ConfigMap source read-only where the runtime file says; restricted egress lets
the pods reach the embedders and source URLs."""

import base64
from typing import Any

import kubernetes_validate
import pytest
from agentos_operator import render
from agentos_operator.errors import MissingSecretsError
from agentos_operator.resources import AgentOSResource, parse_resource, validate_resource
from agentos_runtime.config import ConfigError, RuntimeConfig, parse_config_text
from agentos_runtime.config.checking import every_problem

from tests.operator.offline.inputs import resource_body

SETTINGS = render.RenderSettings(default_image="registry.example/agentos:1")
OPENAI_KEY = {"name": "openai", "key": "api-key"}
HANDBOOK: dict[str, Any] = {
    "id": "handbook",
    "description": "The team handbook",
    "chunking": {"strategy": "markdown", "size": 1200, "overlap": 100},
    "maxResults": 5,
    "allowedHosts": ["docs.example.com"],
    "embedder": {"apiKeySecretRef": OPENAI_KEY},
    "sources": [
        {"configMap": {"name": "handbook-docs"}, "name": "Handbook"},
        {"configMap": {"name": "policies", "items": ["leave.md", "travel.pdf"]}, "metadata": {"kind": "policy"}},
        {"url": "https://docs.example.com/onboarding.html"},
    ],
}
TICKETS: dict[str, Any] = {
    "id": "support-tickets",
    "table": "tickets",
    "embedder": {
        "model": "bge-small-en",
        "baseUrl": "http://tei.ml.svc.cluster.local:8080/v1",
        "dimensions": 384,
        "apiKeySecretRef": {"name": "tei", "key": "token"},
    },
    "sources": [{"configMap": {"name": "faq"}}],
}
LOCAL: dict[str, Any] = {"id": "local", "embedder": {"baseUrl": "http://10.0.0.9:8000/v1", "dimensions": 768}}


def resource(**spec: Any) -> AgentOSResource:
    spec.setdefault("models", [{"id": "gpt-4o-mini", "apiKeySecretRef": OPENAI_KEY}])
    spec.setdefault("knowledgeBases", [HANDBOOK, TICKETS, LOCAL])
    spec.setdefault(
        "agents",
        [
            {"id": "helper", "knowledge": "handbook"},
            {"id": "support", "knowledge": "support-tickets", "searchKnowledge": False, "addKnowledgeToContext": True},
        ],
    )
    return parse_resource(resource_body(spec))


def secrets_for(res: AgentOSResource) -> dict[tuple[str, str], str]:
    return {**render.placeholder_secrets(res), ("openai", "api-key"): "sk-openai-value", ("tei", "token"): "tei-value"}


def rendered(res: AgentOSResource) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in render.render(res, secrets_for(res), settings=SETTINGS)}


def runtime_config(manifests: dict[str, dict[str, Any]]) -> RuntimeConfig:
    return parse_config_text(manifests["ConfigMap"]["data"]["config.yaml"])


def pod(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = manifests["Deployment"]["spec"]["template"]["spec"]
    return spec


def test_bases_reach_the_runtime_file_with_their_settings_and_agents_naming_them() -> None:
    config = runtime_config(rendered(resource()))

    handbook, tickets, local = config.knowledge_bases
    assert (handbook.id, handbook.description, handbook.max_results) == ("handbook", "The team handbook", 5)
    assert (handbook.chunking.strategy, handbook.chunking.size, handbook.chunking.overlap) == ("markdown", 1200, 100)
    assert handbook.allowed_hosts == ["docs.example.com"]
    assert (tickets.table_name, tickets.embedder.model, tickets.embedder.dimensions) == ("tickets", "bge-small-en", 384)
    assert tickets.embedder.base_url == "http://tei.ml.svc.cluster.local:8080/v1"
    assert local.embedder.base_url == "http://10.0.0.9:8000/v1"
    helper, support = config.agents
    assert (helper.knowledge, helper.search_knowledge, helper.add_knowledge_to_context) == ("handbook", True, False)
    assert (support.knowledge, support.search_knowledge, support.add_knowledge_to_context) == (
        "support-tickets",
        False,
        True,
    )


def test_an_embedder_key_is_a_variable_shared_with_a_model_reading_the_same_secret_key() -> None:
    config = runtime_config(rendered(resource()))

    handbook, tickets, local = config.knowledge_bases
    assert config.models[0].api_key_env == "OPENAI_API_KEY"
    assert handbook.embedder.api_key_env == "OPENAI_API_KEY"
    assert tickets.embedder.api_key_env == "KNOWLEDGE_SUPPORT_TICKETS_API_KEY"
    # No reference means no key, not the runtime's default variable.
    assert local.embedder.api_key_env is None


def test_embedder_keys_go_to_the_env_secret_and_nowhere_else() -> None:
    res = resource()
    manifests = rendered(res)

    env = {k: base64.b64decode(v).decode() for k, v in manifests["Secret"]["data"].items()}

    assert env["OPENAI_API_KEY"] == "sk-openai-value"
    assert env["KNOWLEDGE_SUPPORT_TICKETS_API_KEY"] == "tei-value"
    assert ("tei", "token") in render.required_secret_refs(res)
    for kind in ("ConfigMap", "Deployment", "NetworkPolicy", "Service"):
        text = render.dump_manifests([manifests[kind]]) if kind in manifests else ""
        assert "tei-value" not in text and "sk-openai-value" not in text


def test_a_missing_embedder_key_stops_the_rendering_naming_the_secret_and_key() -> None:
    res = resource()
    secrets = secrets_for(res)
    del secrets[("tei", "token")]

    with pytest.raises(MissingSecretsError) as raised:
        render.render(res, secrets, settings=SETTINGS)

    assert "tei" in str(raised.value) and "token" in str(raised.value)


def test_each_config_map_source_is_mounted_read_only_where_the_runtime_file_reads_it() -> None:
    manifests = rendered(resource())
    config = runtime_config(manifests)
    volumes = {v["name"]: v for v in pod(manifests)["volumes"]}
    [container] = pod(manifests)["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}

    handbook, tickets, _ = config.knowledge_bases
    paths = [s.path for s in [*handbook.sources, *tickets.sources]]
    assert paths == [
        "/var/lib/agentos/knowledge/handbook/0",
        "/var/lib/agentos/knowledge/handbook/1",
        None,
        "/var/lib/agentos/knowledge/support-tickets/0",
    ]
    expected = {
        "/var/lib/agentos/knowledge/handbook/0": {"name": "handbook-docs"},
        "/var/lib/agentos/knowledge/handbook/1": {
            "name": "policies",
            "items": [{"key": "leave.md", "path": "leave.md"}, {"key": "travel.pdf", "path": "travel.pdf"}],
        },
        "/var/lib/agentos/knowledge/support-tickets/0": {"name": "faq"},
    }
    for path, config_map in expected.items():
        assert mounts[path]["readOnly"] is True
        assert volumes[mounts[path]["name"]]["configMap"] == config_map


def test_a_volume_source_is_its_claim_mounted_read_only_where_the_runtime_file_reads_it() -> None:
    manuals = {
        "id": "manuals",
        "embedder": {"apiKeySecretRef": OPENAI_KEY},
        "sources": [
            {"persistentVolumeClaim": {"claimName": "manuals", "subPath": "en/current"}, "name": "Manuals"},
            {"persistentVolumeClaim": {"claimName": "archive"}},
        ],
    }
    res = resource(knowledgeBases=[manuals], agents=[{"id": "a", "knowledge": "manuals"}])
    manifests = rendered(res)
    [container] = pod(manifests)["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod(manifests)["volumes"]}

    sources = runtime_config(manifests).knowledge_bases[0].sources
    assert [(s.path, s.name) for s in sources] == [
        ("/var/lib/agentos/knowledge/manuals/0", "Manuals"),
        ("/var/lib/agentos/knowledge/manuals/1", None),
    ]
    first, second = (mounts[s.path or ""] for s in sources)
    assert first["readOnly"] is True and first["subPath"] == "en/current" and "subPath" not in second
    assert volumes[first["name"]]["persistentVolumeClaim"] == {"claimName": "manuals", "readOnly": True}
    assert volumes[second["name"]]["persistentVolumeClaim"] == {"claimName": "archive", "readOnly": True}
    assert render.required_config_maps(res) == {}
    for manifest in manifests.values():
        kubernetes_validate.validate(manifest, "1.35.0", strict=True)


def test_sources_keep_their_names_metadata_and_urls() -> None:
    handbook = runtime_config(rendered(resource())).knowledge_bases[0]

    by_path, by_items, by_url = handbook.sources
    assert (by_path.name, by_path.metadata) == ("Handbook", None)
    assert (by_items.name, by_items.metadata) == (None, {"kind": "policy"})
    assert (by_url.url, by_url.path) == ("https://docs.example.com/onboarding.html", None)


def test_without_knowledge_sources_the_pod_has_no_knowledge_volume() -> None:
    manifests = rendered(resource(knowledgeBases=[LOCAL], agents=[{"id": "a", "knowledge": "local"}]))

    names = [v["name"] for v in pod(manifests)["volumes"]]

    assert names == ["config", "tmp", "data"]


def test_volume_names_stay_dns_labels_and_apart_for_long_ids_and_many_sources() -> None:
    long_id = "k" * 63
    bases = [
        {"id": long_id, "sources": [{"configMap": {"name": f"docs-{i}"}} for i in range(12)]},
        {"id": "second", "sources": [{"configMap": {"name": "more"}}]},
    ]
    manifests = rendered(resource(knowledgeBases=bases, agents=[{"id": "a", "knowledge": "second"}]))

    names = [v["name"] for v in pod(manifests)["volumes"]]

    assert len(names) == len(set(names)) == 3 + 13
    assert all(len(name) <= 63 for name in names)
    for manifest in manifests.values():
        kubernetes_validate.validate(manifest, "1.31.0", strict=True)


def test_every_manifest_passes_the_strict_kubernetes_schema() -> None:
    res = resource(networkPolicy={"enabled": True, "restrictEgress": True})
    for manifest in render.render(res, secrets_for(res), settings=SETTINGS):
        kubernetes_validate.validate(manifest, "1.35.0", strict=True)


def test_restricted_egress_allows_each_embedder_and_each_source_url() -> None:
    res = resource(models=[], networkPolicy={"enabled": True, "restrictEgress": True}, agents=[])

    egress = rendered(res)["NetworkPolicy"]["spec"]["egress"]

    assert egress == [
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        # handbook: OpenAI's embeddings (no baseUrl), and its source URL: port 443 anywhere
        {"ports": [{"port": 443, "protocol": "TCP"}]},
        {
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ml"}}}],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        },
        {"to": [{"ipBlock": {"cidr": "10.0.0.9/32"}}], "ports": [{"port": 8000, "protocol": "TCP"}]},
    ]


def test_an_embedder_on_the_same_endpoint_as_a_model_adds_no_rule() -> None:
    with_base = resource(networkPolicy={"enabled": True, "restrictEgress": True})
    without = resource(networkPolicy={"enabled": True, "restrictEgress": True}, knowledgeBases=[], agents=[])

    rules = rendered(with_base)["NetworkPolicy"]["spec"]["egress"]
    baseline = rendered(without)["NetworkPolicy"]["spec"]["egress"]

    assert len(rules) == len(baseline) + 2  # the in-cluster TEI and the IP: OpenAI's 443 is there already


def test_a_changed_source_or_embedder_changes_the_config_hash() -> None:
    def digest(res: AgentOSResource) -> str:
        template = rendered(res)["Deployment"]["spec"]["template"]
        return str(template["metadata"]["annotations"][render.CONFIG_HASH_ANNOTATION])

    first = digest(resource())
    other_source = dict(HANDBOOK, sources=[{"configMap": {"name": "handbook-v2"}}])
    other_model = dict(TICKETS, embedder={**TICKETS["embedder"], "model": "bge-base-en"})

    assert digest(resource()) == first
    assert digest(resource(knowledgeBases=[other_source, TICKETS, LOCAL])) != first
    assert digest(resource(knowledgeBases=[HANDBOOK, other_model, LOCAL])) != first


def test_a_bad_embedder_field_fakes_no_unknown_base_and_the_rounds_still_find_the_rest() -> None:
    body = resource_body(
        {
            "models": [{"id": "m"}],
            "knowledgeBases": [{"id": "kb", "embedder": {"dimensions": 0}}],
            "agents": [{"id": "a", "knowledge": "kb"}, {"id": "b", "model": "gpt-5"}],
        }
    )

    first = [str(p) for p in validate_resource(body)]
    every = [str(p) for p in every_problem(body, validate_resource, root=("spec",))]

    assert first == ["spec.knowledgeBases[0].embedder.dimensions: Input should be greater than or equal to 1"]
    assert every == [*first, "spec.agents[1].model: unknown model 'gpt-5': declare it in models or fix the id"]


def test_a_listed_configmap_key_twice_is_refused() -> None:
    body = resource_body(
        {
            "models": [{"id": "m"}],
            "knowledgeBases": [{"id": "kb", "sources": [{"configMap": {"name": "d", "items": ["a.md", "a.md"]}}]}],
        }
    )

    assert [str(p) for p in validate_resource(body)] == [
        "spec.knowledgeBases[0].sources[0].configMap.items: a key is listed twice: list each once"
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "https://wiki.example.org/start",
            "host 'wiki.example.org' is not in {hosts} (docs.example.com): add it (or a '*.' pattern covering it),"
            " or remove the source",
        ),
        ("https://docs.example.com:99999/start", "not a valid URL: check its host and port"),
    ],
)
def test_the_resource_and_the_runtime_file_refuse_the_same_source_url_each_at_its_own_field(
    url: str, problem: str
) -> None:
    body = resource_body(
        {
            "models": [{"id": "m"}],
            "knowledgeBases": [
                {
                    "id": "kb",
                    "allowedHosts": ["docs.example.com"],
                    "sources": [{"configMap": {"name": "d"}}, {"url": url}],
                }
            ],
        }
    )
    runtime_file = (
        "knowledge_bases: [{id: kb, allowed_hosts: [docs.example.com], "
        f"sources: [{{path: /srv/docs}}, {{url: '{url}'}}]}}]\n"
    )

    with pytest.raises(ConfigError) as caught:
        parse_config_text(runtime_file)

    assert [str(p) for p in validate_resource(body)] == [
        "spec.knowledgeBases[0].sources[1].url: " + problem.format(hosts="allowedHosts")
    ]
    assert [str(p) for p in caught.value.problems] == [
        "knowledge_bases[0]: sources[1].url refused: " + problem.format(hosts="allowed_hosts")
    ]


def test_the_config_maps_to_read_are_each_mounted_one_with_every_key_listed_by_any_source() -> None:
    bases = [
        {"id": "a", "sources": [{"configMap": {"name": "docs", "items": ["x.md"]}}, {"configMap": {"name": "faq"}}]},
        {
            "id": "b",
            "allowedHosts": ["h"],
            "sources": [{"configMap": {"name": "docs", "items": ["y.pdf"]}}, {"url": "https://h/p"}],
        },
    ]

    wanted = render.required_config_maps(resource(knowledgeBases=bases, agents=[]))

    assert wanted == {"docs": frozenset({"x.md", "y.pdf"}), "faq": frozenset()}


def test_a_config_map_digest_follows_its_files_not_its_metadata() -> None:
    body: dict[str, Any] = {"metadata": {"name": "docs", "resourceVersion": "1"}, "data": {"a.md": "# A"}}
    relabelled = {**body, "metadata": {"name": "docs", "resourceVersion": "2", "labels": {"team": "x"}}}
    edited = {**body, "data": {"a.md": "# A, edited"}}
    with_pdf = {**body, "binaryData": {"b.pdf": base64.b64encode(b"%PDF-1.7").decode()}}

    digest = render.content_digest(body)

    assert render.content_digest(relabelled) == digest
    assert len({digest, render.content_digest(edited), render.content_digest(with_pdf)}) == 3


def test_mounted_config_maps_enter_the_config_hash_and_none_leaves_it_as_before() -> None:
    res = resource()

    def digest(mounted: dict[str, str] | None) -> str:
        manifests = render.render(res, secrets_for(res), settings=SETTINGS, mounted=mounted)
        [deployment] = [m for m in manifests if m["kind"] == "Deployment"]
        return str(deployment["spec"]["template"]["metadata"]["annotations"][render.CONFIG_HASH_ANNOTATION])

    plain = digest(None)
    first = digest({"handbook-docs": "1", "policies": "2", "faq": "3"})

    assert digest({}) == plain
    assert first != plain
    assert digest({"handbook-docs": "1", "policies": "2", "faq": "4"}) not in (first, plain)
