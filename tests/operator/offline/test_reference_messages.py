"""What an unresolved reference is said with: the spec fields naming it (from the walk that
collects the references), the fix, the keys a Secret or ConfigMap has (bounded, quoted), and
never a value. An empty value where one is needed is refused the same way."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from agentos_operator import render
from agentos_operator.errors import MissingSecretsError
from agentos_operator.kube.config_maps import UnresolvedConfigMapsError, read_config_map_digests
from agentos_operator.kube.kinds import Kind
from agentos_operator.kube.secrets import UnresolvedSecretsError, read_secret_values
from agentos_operator.referrers import FIELDS_SHOWN, KEY_SHOWN_LENGTH, KEYS_SHOWN
from agentos_operator.resources import AgentOSResource, parse_resource

from tests.operator.offline.inputs import Secrets, resource_body

SETTINGS = render.RenderSettings(default_image="registry.example/agentos:1")
OPENAI = {"name": "openai", "key": "api-key"}
# Distinctive values: any appearance of one in a message is a leak.
LEAKS = ("LEAKCHECK", "9d4e")


def resource(**spec: Any) -> AgentOSResource:
    spec.setdefault("models", [{"id": "gpt-4o-mini", "apiKeySecretRef": OPENAI}])
    spec.setdefault("agents", [{"id": "a", "model": "gpt-4o-mini"}])
    return parse_resource(resource_body(spec))


async def unresolved(res: AgentOSResource, store: Secrets) -> str:
    """What the reconcile says of ``res``'s references (the generated key is not read, as there)."""
    with pytest.raises(UnresolvedSecretsError) as caught:
        await read_secret_values(
            store,  # type: ignore[arg-type]
            "agents",
            [ref for ref in render.required_secret_refs(res) if ref != render.security_key_ref(res)],
            mounted=render.mounted_secret_refs(res),
            named_by=render.secret_referrers(res),
        )
    return str(caught.value)


def many_referrers() -> AgentOSResource:
    """Six fields naming keys of the one Secret 'shared', across models, a knowledge base and MCP."""
    shared = {"name": "shared", "key": "k"}
    return resource(
        models=[
            {"id": "m0", "apiKeySecretRef": shared},
            {"id": "m1", "apiKeySecretRef": {"name": "shared", "key": "other"}},
            {"id": "m2", "apiKeySecretRef": OPENAI},
        ],
        agents=[{"id": "a", "model": "m0", "knowledge": "kb", "tools": ["mcp:t", "mcp:e", "mcp:s"]}],
        knowledgeBases=[{"id": "kb", "embedder": {"apiKeySecretRef": shared}}],
        mcpServers=[
            {
                "id": "t",
                "url": "http://t.tools.svc:8080/mcp",
                "headers": [{"name": "Authorization", "valueSecretRef": shared}],
            },
            {"id": "e", "transport": "stdio", "command": "tool", "env": [{"name": "TOKEN", "valueSecretRef": shared}]},
            {
                "id": "s",
                "sidecar": {"image": "mcp/s:1", "env": [{"name": "KEY", "valueSecretRef": shared}]},
            },
        ],
    )


async def test_a_missing_secret_is_said_with_the_field_naming_it_and_the_fix() -> None:
    message = await unresolved(resource(), Secrets())

    assert message == (
        "Secret 'openai' not found (spec.models[0].apiKeySecretRef): create it in the resource's namespace"
    )


async def test_every_field_naming_one_missing_secret_is_named_once_in_spec_order_up_to_a_bound() -> None:
    message = await unresolved(many_referrers(), Secrets(openai={"api-key": b"sk-LEAKCHECK"}))

    fields = [
        "spec.models[0].apiKeySecretRef",
        "spec.models[1].apiKeySecretRef",
        "spec.knowledgeBases[0].embedder.apiKeySecretRef",
        "spec.mcpServers[0].headers[0].valueSecretRef",
        "spec.mcpServers[1].env[0].valueSecretRef",
        "spec.mcpServers[2].sidecar.env[0].valueSecretRef",
    ]
    shown = ", ".join(fields[:FIELDS_SHOWN])
    assert message == (
        f"Secret 'shared' not found ({shown} and {len(fields) - FIELDS_SHOWN} more): "
        "create it in the resource's namespace"
    )


async def test_a_missing_cloudnativepg_app_secret_is_said_as_the_clusters() -> None:
    res = resource(
        databases=[
            {"id": "db", "type": "postgres", "cnpgClusterRef": {"name": "pg"}},
            {"id": "memory", "type": "postgres", "cnpgClusterRef": {"name": "pg"}, "dbSchema": "memory"},
        ],
        agents=[{"id": "a", "model": "gpt-4o-mini", "db": "db"}],
    )

    message = await unresolved(res, Secrets(openai={"api-key": b"sk-1"}))

    assert message == (
        "the CloudNativePG Cluster 'pg' (spec.databases[0].cnpgClusterRef, spec.databases[1].cnpgClusterRef) "
        "has no app Secret 'pg-app' yet: create the Cluster, or wait for CloudNativePG to make it"
    )


async def test_an_app_secret_named_directly_too_is_said_both_ways() -> None:
    res = resource(
        databases=[
            {"id": "db", "type": "postgres", "cnpgClusterRef": {"name": "pg"}},
            {"id": "cache", "type": "redis", "urlSecretRef": {"name": "pg-app", "key": "redis"}},
        ],
        agents=[{"id": "a", "model": "gpt-4o-mini", "db": "db"}],
    )

    message = await unresolved(res, Secrets(openai={"api-key": b"sk-1"}))

    assert message == (
        "the CloudNativePG Cluster 'pg' (spec.databases[0].cnpgClusterRef) has no app Secret 'pg-app' yet: "
        "create the Cluster, or wait for CloudNativePG to make it; "
        "Secret 'pg-app' not found (spec.databases[1].urlSecretRef): create it in the resource's namespace"
    )


async def test_a_missing_key_lists_the_keys_the_secret_has_but_never_a_value() -> None:
    store = Secrets(openai={"api_key": b"sk-LEAKCHECK-9d4e", "org": b"LEAKCHECK"})

    message = await unresolved(resource(), store)

    assert message == (
        "Secret 'openai' has no key 'api-key' (spec.models[0].apiKeySecretRef); its keys: 'api_key', 'org': "
        "add it, or name one it has"
    )


async def test_a_missing_cnpg_uri_key_names_the_cluster_field_and_no_other_key_to_name() -> None:
    res = resource(
        databases=[{"id": "db", "type": "postgres", "cnpgClusterRef": {"name": "pg"}}],
        agents=[{"id": "a", "model": "gpt-4o-mini", "db": "db"}],
    )
    store = Secrets(openai={"api-key": b"sk-1"}, **{"pg-app": {"password": b"LEAKCHECK", "username": b"app"}})

    message = await unresolved(res, store)

    assert message == (
        "Secret 'pg-app' has no key 'uri' (spec.databases[0].cnpgClusterRef); its keys: 'password', 'username': add it"
    )


async def test_hostile_key_names_are_listed_sorted_bounded_quoted_and_cut() -> None:
    long = "z" * 10_000
    hostile = [
        "a'quote",
        'b"double',
        "c\nnewline",
        "d\x1b[31mescape",
        "e\u202eright-to-left",
        long,
        *(f"k{number:02}" for number in range(20)),
    ]
    store = Secrets(openai=dict.fromkeys(hostile, b"LEAKCHECK-9d4e"))

    message = await unresolved(resource(), store)

    listed = message.split("; its keys: ", 1)[1]
    assert "\n" not in message and "\x1b" not in message and "\u202e" not in message
    assert listed.startswith("\"a'quote\", 'b\"double', 'c\\nnewline', 'd\\x1b[31mescape', 'e\\u202eright-to-left', ")
    assert f"'k04' and {len(hostile) - KEYS_SHOWN} more: add it, or name one it has" in listed
    assert long not in message and "z" * (KEY_SHOWN_LENGTH + 1) not in message
    assert not [leak for leak in LEAKS if leak in message]
    assert len(message) < 1024


async def test_an_unreadable_value_is_said_with_its_field_and_never_shown() -> None:
    message = await unresolved(resource(), Secrets(openai={"api-key": b"\xffLEAKCHECK"}))

    assert message == (
        "key 'api-key' of Secret 'openai' (spec.models[0].apiKeySecretRef) is not UTF-8 text (byte 1 of it): "
        "store the value as text (it becomes an environment variable)"
    )


def test_every_reference_read_or_mounted_is_named_by_a_field_but_the_generated_key() -> None:
    res = many_referrers()
    named = {ref for ref, _ in render.secret_referrers(res)}
    read = {*render.required_secret_refs(res), *render.mounted_secret_refs(res)}

    assert read - named == {render.security_key_ref(res)}
    assert named <= read


@pytest.mark.parametrize(
    ("spec", "ref", "field"),
    [
        ({}, ("openai", "api-key"), "spec.models[0].apiKeySecretRef"),
        (
            {
                "knowledgeBases": [{"id": "kb", "embedder": {"apiKeySecretRef": {"name": "tei", "key": "token"}}}],
                "agents": [{"id": "a", "model": "gpt-4o-mini", "knowledge": "kb"}],
            },
            ("tei", "token"),
            "spec.knowledgeBases[0].embedder.apiKeySecretRef",
        ),
        (
            {"databases": [{"id": "cache", "type": "redis", "urlSecretRef": {"name": "redis", "key": "url"}}]},
            ("redis", "url"),
            "spec.databases[0].urlSecretRef",
        ),
        (
            {"databases": [{"id": "db", "type": "postgres", "cnpgClusterRef": {"name": "pg"}}]},
            ("pg-app", "uri"),
            "spec.databases[0].cnpgClusterRef",
        ),
    ],
    ids=["model-key", "embedder-key", "database-url", "cnpg-uri"],
)
@pytest.mark.parametrize("value", ["", " \n\t"], ids=["empty", "whitespace"])
def test_an_empty_key_or_url_is_refused_naming_its_field(
    spec: dict[str, Any], ref: tuple[str, str], field: str, value: str
) -> None:
    """`kubectl create secret --from-literal=api-key="$OPENAI_API_KEY"` with the variable unset
    makes an empty key: the runtime would start without a credential."""
    res = resource(**spec)
    secrets = {**render.placeholder_secrets(res), ("openai", "api-key"): "sk-LEAKCHECK-9d4e", ref: value}

    with pytest.raises(MissingSecretsError) as caught:
        render.render(res, secrets, settings=SETTINGS)

    said = "is empty" if value == "" else "holds only whitespace"
    assert str(caught.value) == f"key '{ref[1]}' of Secret '{ref[0]}' ({field}) {said}: set it"
    assert caught.value.empty == [ref] and caught.value.refs == []


def test_empty_values_are_each_named_and_a_sidecar_variable_may_be_empty() -> None:
    res = many_referrers()
    secrets = {**render.placeholder_secrets(res), ("shared", "k"): "", ("shared", "other"): "ok"}

    with pytest.raises(MissingSecretsError) as caught:
        render.render(res, secrets, settings=SETTINGS)

    assert str(caught.value).startswith(
        "key 'k' of Secret 'shared' (spec.models[0].apiKeySecretRef, spec.knowledgeBases[0].embedder.apiKeySecretRef, "
    )

    only_sidecar = resource(
        agents=[{"id": "a", "model": "gpt-4o-mini", "tools": ["mcp:s"]}],
        mcpServers=[{"id": "s", "sidecar": {"image": "mcp/s:1", "env": [{"name": "K", "valueSecretRef": OPENAI}]}}],
        models=[{"id": "gpt-4o-mini", "apiKeySecretRef": {"name": "model", "key": "k"}}],
    )
    secrets = {**render.placeholder_secrets(only_sidecar), ("openai", "api-key"): ""}
    assert render.render(only_sidecar, secrets, settings=SETTINGS)


class ConfigMaps:
    """The store's one read, over ConfigMaps given as their data keys."""

    def __init__(self, **config_maps: list[str]) -> None:
        self.bodies = {
            name: {"data": dict.fromkeys(keys, "LEAKCHECK"), "binaryData": {"bin.pdf": base64.b64encode(b"x").decode()}}
            for name, keys in config_maps.items()
        }

    async def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        return self.bodies.get(name)


def knowledge_resource() -> AgentOSResource:
    return resource(
        knowledgeBases=[
            {"id": "local", "embedder": {"baseUrl": "http://10.0.0.9:8000/v1", "dimensions": 8}},
            {
                "id": "kb",
                "embedder": {"baseUrl": "http://10.0.0.9:8000/v1", "dimensions": 8},
                "sources": [
                    {"url": "https://docs.example.com/a.html"},
                    {"configMap": {"name": "handbook"}},
                    {"configMap": {"name": "policies", "items": ["leave.md", "travel.md"]}},
                ],
                "allowedHosts": ["docs.example.com"],
            },
        ],
        agents=[{"id": "a", "model": "gpt-4o-mini", "knowledge": "kb"}],
    )


async def unresolved_config_maps(res: AgentOSResource, store: ConfigMaps) -> str:
    with pytest.raises(UnresolvedConfigMapsError) as caught:
        await read_config_map_digests(
            store,  # type: ignore[arg-type]
            "agents",
            render.required_config_maps(res),
            named_by=render.config_map_referrers(res),
        )
    return str(caught.value)


async def test_a_missing_config_map_names_the_knowledge_source_field() -> None:
    message = await unresolved_config_maps(knowledge_resource(), ConfigMaps(policies=["leave.md", "travel.md"]))

    assert message == (
        "ConfigMap 'handbook' not found (spec.knowledgeBases[1].sources[1].configMap): "
        "create it in the resource's namespace"
    )


async def test_a_missing_config_map_key_names_its_item_and_the_keys_there_are() -> None:
    message = await unresolved_config_maps(knowledge_resource(), ConfigMaps(handbook=[], policies=["leave.md", "x.md"]))

    assert message == (
        "ConfigMap 'policies' has no key 'travel.md' (spec.knowledgeBases[1].sources[2].configMap.items[1]); "
        "its keys: 'bin.pdf', 'leave.md', 'x.md': add it, or list one it has"
    )
