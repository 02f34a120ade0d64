"""The start-up lines name each MCP server, its transport and where its secrets come from, never a value."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from agentos_runtime.config import ConfigError, parse_config
from agentos_runtime.observability.startup import startup_lines
from agentos_runtime.tools.mcp.hub import McpHub

CONFIG = {
    "models": [{"id": "m", "api_key_env": None}],
    "mcp_servers": [
        {
            "id": "github",
            "url": "https://robot:hunter2@api.example.com/mcp?token=query-secret",
            "headers": [
                {"name": "Authorization", "value_env": "GITHUB_TOKEN"},
                {"name": "X-Team", "value": "literal-secret"},
            ],
        },
        {
            "id": "files",
            "transport": "stdio",
            "command": "mcp-server-files",
            "args": ["--root", "/data"],
            "env": [{"name": "ROOT_KEY", "value_env": "FILES_KEY"}],
        },
    ],
    "agents": [{"id": "a", "tools": ["mcp:github", "mcp:files"]}],
}


def mcp_lines(environ: dict[str, str]) -> list[tuple[int, str]]:
    config = parse_config(CONFIG)
    lines = startup_lines("config.yaml", config, [], environ, data_dir=Path("data"))
    return [(line.level, line.text) for line in lines if line.text.startswith("MCP server")]


def test_each_mcp_server_is_listed_with_its_transport_endpoint_and_the_variables_of_its_values() -> None:
    environ = {"GITHUB_TOKEN": "ghp_secret_value", "FILES_KEY": "files-secret-value"}

    assert mcp_lines(environ) == [
        (
            logging.INFO,
            "MCP server github: streamable-http at https://api.example.com/mcp, "
            "headers Authorization from GITHUB_TOKEN (set), X-Team (literal)",
        ),
        (logging.INFO, "MCP server files: stdio, command mcp-server-files, env ROOT_KEY from FILES_KEY (set)"),
    ]


def test_a_variable_that_is_not_set_is_a_warning_naming_it() -> None:
    (github, files) = mcp_lines({"GITHUB_TOKEN": "ghp_secret_value"})

    assert github[0] == logging.INFO
    assert files == (
        logging.WARNING,
        "MCP server files: stdio, command mcp-server-files, env ROOT_KEY from FILES_KEY (NOT SET)",
    )


@pytest.mark.parametrize("blank", ["", " \t", "\n"])
def test_a_variable_set_to_nothing_is_a_warning_saying_it_is_empty(blank: str) -> None:
    environ = {"GITHUB_TOKEN": blank, "FILES_KEY": "files-secret-value"}
    lines = startup_lines("config.yaml", parse_config(CONFIG), [], environ, data_dir=Path("data"))
    (github,) = [line for line in lines if line.text.startswith("MCP server github")]

    assert (github.level, github.text) == (
        logging.WARNING,
        "MCP server github: streamable-http at https://api.example.com/mcp, "
        "headers Authorization from GITHUB_TOKEN (EMPTY), X-Team (literal)",
    )
    assert (github.fields["empty_env"], github.fields["unset_env"]) == (["GITHUB_TOKEN"], [])


@pytest.mark.parametrize("value", [None, "", "  ", "ghp_secret_value"])
def test_the_start_up_line_warns_exactly_when_the_connection_refuses_the_value(value: str | None) -> None:
    config = parse_config(CONFIG)
    environ = {"FILES_KEY": "files-secret-value"} | ({} if value is None else {"GITHUB_TOKEN": value})
    (github, _) = mcp_lines(environ)

    try:
        McpHub(config.mcp_servers, environ)
    except ConfigError:
        refused = True
    else:
        refused = False

    assert refused == (github[0] == logging.WARNING)
    assert refused == (value is None or not value.strip())


def test_no_secret_of_the_config_or_the_environment_is_in_the_lines_or_their_fields() -> None:
    environ = {"GITHUB_TOKEN": "ghp_secret_value", "FILES_KEY": "files-secret-value"}
    lines = startup_lines("config.yaml", parse_config(CONFIG), [], environ, data_dir=Path("data"))

    said = repr([(line.text, line.fields) for line in lines])
    for secret in ("ghp_secret_value", "files-secret-value", "literal-secret", "hunter2", "query-secret"):
        assert secret not in said
