"""MCP servers in the resource: declared URLs and commands reach the runtime file, header and env
Secret references reach the env Secret, and no Secret value is ever in the ConfigMap."""

import base64
from typing import Any

import pytest
from agentos_operator import render
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
