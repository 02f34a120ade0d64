"""The suite's real MCP server over streamable HTTP and stdio, and the runtime's declarations of it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentos_runtime.config.mcp import McpServerConfig

from tests.runtime.mcp.tool_server import build_server
from tests.support.fake_openai import serve_asgi

SERVER_SCRIPT = Path(__file__).with_name("tool_server.py")
TOKEN = "Bearer s3cr3t-token-value"


@contextmanager
def serve_tool_server(port: int = 0) -> Iterator[int]:
    """The tool server over streamable HTTP on 127.0.0.1:``port`` (0: any free one), in a thread."""
    with serve_asgi(build_server().streamable_http_app(), lifespan="auto", port=port, force_exit=True) as bound:
        yield bound


def http_server(port: int, **fields: object) -> McpServerConfig:
    """The runtime's declaration of the HTTP tool server, sending the secret token as a header."""
    return McpServerConfig.model_validate(
        {
            "id": "facts",
            "url": f"http://127.0.0.1:{port}/mcp",
            "headers": [{"name": "Authorization", "value_env": "FACTS_TOKEN"}],
            **fields,
        }
    )


def stdio_server(**fields: object) -> McpServerConfig:
    return McpServerConfig.model_validate(
        {
            "id": "local",
            "transport": "stdio",
            "command": sys.executable,
            "args": [str(SERVER_SCRIPT)],
            "env": [{"name": "GREETING", "value_env": "LOCAL_GREETING"}],
            **fields,
        }
    )


ENVIRON = {"FACTS_TOKEN": TOKEN, "LOCAL_GREETING": "hello from the runtime"}
