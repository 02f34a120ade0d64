"""The start-up lines name each MCP server, its transport and where its secrets come from, never a value."""

from __future__ import annotations

import logging
from pathlib import Path

from agentos_runtime.config import parse_config
from agentos_runtime.observability.startup import startup_lines

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


def test_no_secret_of_the_config_or_the_environment_is_in_the_lines_or_their_fields() -> None:
    environ = {"GITHUB_TOKEN": "ghp_secret_value", "FILES_KEY": "files-secret-value"}
    lines = startup_lines("config.yaml", parse_config(CONFIG), [], environ, data_dir=Path("data"))

    said = repr([(line.text, line.fields) for line in lines])
    for secret in ("ghp_secret_value", "files-secret-value", "literal-secret", "hunter2", "query-secret"):
        assert secret not in said
