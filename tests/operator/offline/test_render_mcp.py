"""MCP servers in the resource: declared URLs and commands reach the runtime file, header and env
Secret references reach the env Secret, a sidecar's reach its own container alone, and no Secret
value is ever in the ConfigMap."""

import base64
from typing import Any

import pytest
from agentos_operator import render
from agentos_operator.errors import MissingSecretsError
from agentos_operator.resources import AgentOSResource, parse_resource
from agentos_runtime.config import ConfigError, parse_config_text

from tests.operator.offline.inputs import resource_body

SETTINGS = render.RenderSettings(default_image="registry.example/agentos:1")
GITHUB = {
    "id": "github",
    "url": "http://github-mcp.tools.svc.cluster.local:8080/mcp",
    "timeoutSeconds": 20,
    "headers": [
        {"name": "Authorization", "valueSecretRef": {"name": "github-mcp", "key": "token"}},
        {"name": "X-Team", "value": "team-a"},
    ],
}
FILES = {
    "id": "files",
    "transport": "stdio",
    "command": "mcp-server-filesystem",
    "args": ["/data"],
    "env": [{"name": "FS_TOKEN", "valueSecretRef": {"name": "fs", "key": "token"}}],
}


def resource(**spec: Any) -> AgentOSResource:
    spec.setdefault("models", [{"id": "gpt-4o-mini", "apiKeySecretRef": {"name": "openai", "key": "api-key"}}])
    spec.setdefault(
        "agents",
        [{"id": "a", "tools": ["mcp:github"], "toolConfig": {"mcp:github": {"include_tools": ["search_issues"]}}}],
    )
    return parse_resource(resource_body(spec))


def rendered(res: AgentOSResource) -> dict[str, dict[str, Any]]:
    secrets = {
        **render.placeholder_secrets(res),
        ("github-mcp", "token"): "ghp_real_value",
        ("fs", "token"): "fs_value",
    }
    return {m["kind"]: m for m in render.render(res, secrets, settings=SETTINGS)}


def test_servers_reach_the_runtime_file_with_variables_in_place_of_secret_references() -> None:
    manifests = rendered(resource(mcpServers=[GITHUB, FILES]))

    config = parse_config_text(manifests["ConfigMap"]["data"]["config.yaml"])

    github, files = config.mcp_servers
    assert (github.url, github.timeout_seconds) == ("http://github-mcp.tools.svc.cluster.local:8080/mcp", 20)
    assert [(h.name, h.value, h.value_env) for h in github.headers] == [
        ("Authorization", None, "MCP_GITHUB_AUTHORIZATION"),
        ("X-Team", "team-a", None),
    ]
    assert (files.transport, files.command, files.args) == ("stdio", "mcp-server-filesystem", ["/data"])
    assert [(e.name, e.value_env) for e in files.env] == [("FS_TOKEN", "MCP_FILES_FS_TOKEN")]
    assert config.agents[0].tools == ["mcp:github"]


def test_header_and_env_secrets_go_to_the_env_secret_never_to_the_config_map() -> None:
    res = resource(mcpServers=[GITHUB, FILES])
    manifests = rendered(res)

    env = {k: base64.b64decode(v).decode() for k, v in manifests["Secret"]["data"].items()}

    assert env["MCP_GITHUB_AUTHORIZATION"] == "ghp_real_value"
    assert env["MCP_FILES_FS_TOKEN"] == "fs_value"
    assert "ghp_real_value" not in manifests["ConfigMap"]["data"]["config.yaml"]
    assert ("github-mcp", "token") in render.required_secret_refs(res)


@pytest.mark.parametrize(
    ("server", "message"),
    [
        (
            {
                "id": "x",
                "url": "http://x/mcp",
                "headers": [{"name": "A", "value": "v", "valueSecretRef": {"name": "s", "key": "k"}}],
            },
            "set exactly one of value, valueSecretRef",
        ),
        (
            {"id": "x", "transport": "stdio", "command": "srv", "headers": [{"name": "A", "value": "v"}]},
            "headers are for streamable-http servers",
        ),
        ({"id": "x", "transport": "stdio"}, "a stdio server needs command"),
        ({"id": "x", "url": "ftp://x"}, "String should match pattern"),
    ],
)
def test_bad_servers_are_refused_with_the_field_at_fault(server: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        resource(mcpServers=[server], agents=[{"id": "a"}])
    assert str(raised.value).startswith("spec.mcpServers[0]")


def test_an_agent_naming_an_undeclared_server_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        resource()
    assert str(raised.value) == (
        "spec.agents[0].tools[0]: unknown MCP server 'github': declare it in mcpServers or fix the id"
    )


SIDECAR = {
    "id": "time",
    "sidecar": {
        "image": "registry.example/mcp-time:1",
        "args": ["--port", "8081"],
        "port": 8081,
        "env": [
            {"name": "TZ", "value": "UTC"},
            {"name": "API_TOKEN", "valueSecretRef": {"name": "time-api", "key": "token"}},
        ],
    },
}


def deployment_pod(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    pod: dict[str, Any] = manifests["Deployment"]["spec"]["template"]["spec"]
    return pod


def test_a_sidecar_server_runs_before_the_runtime_under_the_restricted_profile_on_localhost() -> None:
    res = resource(mcpServers=[SIDECAR], agents=[{"id": "a", "tools": ["mcp:time"]}])
    secrets = {**render.placeholder_secrets(res), ("time-api", "token"): "tok"}
    manifests = {m["kind"]: m for m in render.render(res, secrets, settings=SETTINGS)}

    [sidecar] = deployment_pod(manifests)["initContainers"]
    config = parse_config_text(manifests["ConfigMap"]["data"]["config.yaml"])

    assert (sidecar["name"], sidecar["image"], sidecar["restartPolicy"]) == (
        "mcp-time",
        "registry.example/mcp-time:1",
        "Always",
    )
    assert sidecar["startupProbe"]["tcpSocket"] == {"port": 8081}
    assert sidecar["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert sidecar["volumeMounts"] == [{"name": "mcp-time", "mountPath": "/tmp"}]
    assert {"name": "mcp-time", "emptyDir": {}} in deployment_pod(manifests)["volumes"]
    assert sidecar["env"] == [
        {"name": "TZ", "value": "UTC"},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "time-api", "key": "token"}}},
    ]
    assert config.mcp_servers[0].url == "http://127.0.0.1:8081/mcp"


SIDECAR_SECRETS = {("openai", "api-key"): "sk-runtime-model-key", ("time-api", "token"): "sidecar-only-token"}


def sidecar_and_runtime(res: AgentOSResource) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The sidecar container, the runtime container and the decoded ``<name>-env`` Secret."""
    secrets = {**render.placeholder_secrets(res), **SIDECAR_SECRETS}
    manifests = {m["kind"]: m for m in render.render(res, secrets, settings=SETTINGS)}
    [sidecar] = deployment_pod(manifests)["initContainers"]
    [runtime] = deployment_pod(manifests)["containers"]
    env_secret = {k: base64.b64decode(v).decode() for k, v in manifests["Secret"]["data"].items()}
    return sidecar, runtime, env_secret


def test_the_runtime_container_gets_no_secret_of_a_sidecar() -> None:
    _, runtime, env_secret = sidecar_and_runtime(
        resource(mcpServers=[SIDECAR], agents=[{"id": "a", "tools": ["mcp:time"]}])
    )

    assert runtime["envFrom"] == [{"secretRef": {"name": "demo-env"}}]
    assert "sidecar-only-token" not in env_secret.values()
    assert not [name for name in env_secret if "TIME" in name]
    assert "time-api" not in repr(runtime.get("env"))
    assert env_secret["OPENAI_API_KEY"] == "sk-runtime-model-key"


def test_a_sidecar_gets_none_of_the_runtimes_variables_only_its_own_secret_keys() -> None:
    sidecar, _, env_secret = sidecar_and_runtime(
        resource(mcpServers=[SIDECAR, GITHUB], agents=[{"id": "a", "tools": ["mcp:time"]}])
    )

    refs = [v["valueFrom"]["secretKeyRef"] for v in sidecar["env"] if "valueFrom" in v]
    assert refs == [{"name": "time-api", "key": "token"}]
    assert "envFrom" not in sidecar
    assert not {v["name"] for v in sidecar["env"]} & set(env_secret)
    assert "demo-env" not in repr(sidecar)


def test_a_sidecars_secret_is_read_first_and_its_rotation_rolls_the_pods() -> None:
    res = resource(mcpServers=[SIDECAR], agents=[{"id": "a", "tools": ["mcp:time"]}])
    secrets = {**render.placeholder_secrets(res), **SIDECAR_SECRETS}

    def digest(values: dict[tuple[str, str], str]) -> str:
        (deployment,) = [m for m in render.render(res, values, settings=SETTINGS) if m["kind"] == "Deployment"]
        return str(deployment["spec"]["template"]["metadata"]["annotations"][render.CONFIG_HASH_ANNOTATION])

    assert ("time-api", "token") in render.required_secret_refs(res)
    assert "sidecar-only-token" not in render.dump_manifests(render.render(res, secrets, settings=SETTINGS))
    assert digest(secrets) == digest(dict(secrets))
    assert digest(secrets) != digest({**secrets, ("time-api", "token"): "rotated-token"})
    without = {ref: value for ref, value in secrets.items() if ref != ("time-api", "token")}
    with pytest.raises(MissingSecretsError, match="Secret 'time-api' key 'token'") as raised:
        render.render(res, without, settings=SETTINGS)
    assert "sk-runtime-model-key" not in str(raised.value)


@pytest.mark.parametrize(
    ("server", "at", "message"),
    [
        ({**SIDECAR, "url": "http://x/mcp"}, "spec.mcpServers[0].url", "remove url"),
        ({**SIDECAR, "sidecar": {"image": "i", "port": 7777}}, "spec.mcpServers[0].sidecar.port", "the runtime's port"),
        ({**SIDECAR, "sidecar": {"image": "i", "port": 9464}}, "spec.mcpServers[0].sidecar.port", "the metrics port"),
    ],
)
def test_a_sidecar_with_a_url_or_a_taken_port_is_refused(server: dict[str, Any], at: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        resource(mcpServers=[server], agents=[{"id": "a"}])
    assert str(raised.value).startswith(at) and message in str(raised.value)


def test_restricted_egress_allows_dns_the_mcp_servers_the_models_and_the_users_rules() -> None:
    servers = [
        GITHUB,
        {"id": "same-ns", "url": "http://search:9000/mcp"},
        {"id": "by-ip", "url": "https://10.0.0.7/mcp"},
        {"id": "outside", "url": "https://mcp.example.com/mcp"},
        SIDECAR,
    ]
    user_rule = {"to": [{"ipBlock": {"cidr": "10.1.0.0/16"}}], "ports": [{"port": 5432, "protocol": "TCP"}]}
    res = resource(
        mcpServers=servers,
        agents=[{"id": "a"}],
        networkPolicy={"enabled": True, "restrictEgress": True, "egress": [user_rule]},
    )
    secrets = {**render.placeholder_secrets(res), ("github-mcp", "token"): "t"}

    policy = {m["kind"]: m for m in render.render(res, secrets, settings=SETTINGS)}["NetworkPolicy"]["spec"]

    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["egress"] == [
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        {
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "tools"}}}],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        },
        {
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "agents"}}}],
            "ports": [{"port": 9000, "protocol": "TCP"}],
        },
        {"to": [{"ipBlock": {"cidr": "10.0.0.7/32"}}], "ports": [{"port": 443, "protocol": "TCP"}]},
        {"ports": [{"port": 443, "protocol": "TCP"}]},
        user_rule,
    ]


def test_egress_stays_open_unless_restricted() -> None:
    res = resource(mcpServers=[GITHUB], networkPolicy={"enabled": True})
    policy = rendered(res)["NetworkPolicy"]["spec"]
    assert policy["policyTypes"] == ["Ingress"] and "egress" not in policy


def test_a_missing_header_secret_is_named_by_reference_and_no_value_is_told() -> None:
    res = resource(mcpServers=[GITHUB])
    secrets = {ref: value for ref, value in render.placeholder_secrets(res).items() if ref != ("github-mcp", "token")}
    secrets[("openai", "api-key")] = "sk-real-looking-value"

    with pytest.raises(MissingSecretsError) as raised:
        render.render(res, secrets, settings=SETTINGS)

    assert "Secret 'github-mcp' key 'token'" in str(raised.value)
    assert "sk-real-looking-value" not in str(raised.value)


@pytest.mark.parametrize("value", ["", "  \n"], ids=["empty", "whitespace"])
def test_an_empty_header_secret_is_refused_by_reference_before_any_pod_runs(value: str) -> None:
    res = resource(mcpServers=[GITHUB])
    secrets = {**render.placeholder_secrets(res), ("github-mcp", "token"): value}
    secrets[("openai", "api-key")] = "sk-real-looking-value"

    with pytest.raises(MissingSecretsError) as raised:
        render.render(res, secrets, settings=SETTINGS)

    assert raised.value.empty == [("github-mcp", "token")] and raised.value.refs == []
    said = "is empty" if value == "" else "holds only whitespace"
    assert str(raised.value) == (
        f"key 'token' of Secret 'github-mcp' (spec.mcpServers[0].headers[0].valueSecretRef) {said}: set it"
    )


def test_headers_whose_variable_names_would_collide_each_get_their_own_credential() -> None:
    # Server "a" with header "b-c" and server "a-b" with header "c" both spell MCP_A_B_C; "X-Tok"
    # and "X_Tok" both spell ..._X_TOK: one server was sent the other's token.
    trusted = {
        "id": "a",
        "url": "http://trusted.example/mcp",
        "headers": [{"name": "b-c", "valueSecretRef": {"name": "trusted", "key": "token"}}],
    }
    other = {
        "id": "a-b",
        "url": "http://other.example/mcp",
        "headers": [
            {"name": "c", "valueSecretRef": {"name": "other", "key": "token"}},
            {"name": "X-Tok", "valueSecretRef": {"name": "other", "key": "token"}},
            {"name": "X_Tok", "valueSecretRef": {"name": "trusted", "key": "token"}},
        ],
    }
    res = resource(mcpServers=[trusted, other], agents=[{"id": "x", "tools": ["mcp:a", "mcp:a-b"]}])
    secrets = {**render.placeholder_secrets(res), ("trusted", "token"): "TRUSTED", ("other", "token"): "OTHER"}
    manifests = {m["kind"]: m for m in render.render(res, secrets, settings=SETTINGS)}
    env = {k: base64.b64decode(v).decode() for k, v in manifests["Secret"]["data"].items()}
    config = parse_config_text(manifests["ConfigMap"]["data"]["config.yaml"])

    sent = {
        (server.id, header.name): env[header.value_env]
        for server in config.mcp_servers
        for header in server.headers
        if header.value_env is not None
    }
    assert sent == {
        ("a", "b-c"): "TRUSTED",
        ("a-b", "c"): "OTHER",
        ("a-b", "X-Tok"): "OTHER",
        ("a-b", "X_Tok"): "TRUSTED",
    }
