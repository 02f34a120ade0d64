"""Every declared MCP server's connection, and the ``Tool`` objects an agent gets from them.

The app opens one ``McpHub`` at start-up (``start`` waits, for all servers at once, until each
has listed its tools or ``wait_seconds`` passed) and closes it at shutdown. Agents and teams
are built with it (``runs.building``, ``runs.composing``): ``tools.resolving`` turns an
``mcp:<server id>`` entry into a ``source`` of the component's ``ToolSet``, one ``Tool`` per
admitted tool of the server as last listed, so tools the server adds later (or lists once it is
reachable) reach the next run. Built without a hub, an ``mcp:`` entry is only checked (its
settings), which is what ``agentos serve`` does before anything connects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import mcp_types as types

from agentos_runtime.config.mcp import McpServerConfig, McpToolSettings
from agentos_runtime.config.problems import ConfigError, Problem
from agentos_runtime.storable import clean_json, clean_text
from agentos_runtime.tools.mcp.connection import McpConnection, MissingValue
from agentos_runtime.tools.mcp.metrics import McpMetrics
from agentos_runtime.tools.tool import Tool

log = logging.getLogger(__name__)

# How long start-up waits for the servers' first tool listing; a server still down by then is
# retried in the background, and the agents start without its tools.
START_WAIT_SECONDS = 15.0


class McpHub:
    """The connections to ``servers``; header and env values are read from ``environ``."""

    def __init__(
        self, servers: Sequence[McpServerConfig], environ: Mapping[str, str], *, metrics: McpMetrics | None = None
    ) -> None:
        """Raises ``ConfigError`` naming each header or env variable that is not set."""
        self.metrics = metrics or McpMetrics()
        self.connections: dict[str, McpConnection] = {}
        self._index: dict[str, int] = {}
        problems: list[Problem] = []
        for index, server in enumerate(servers):
            try:
                self.connections[server.id] = McpConnection(server, environ, metrics=self.metrics)
                self._index[server.id] = index
            except MissingValue as error:
                problems.append(Problem(("mcp_servers", index), str(error)))
        if problems:
            raise ConfigError(problems)

    def __contains__(self, server_id: object) -> bool:
        return server_id in self.connections

    async def start(self, *, wait_seconds: float | None = None) -> None:
        """Connect every server, waiting at most ``wait_seconds`` (``START_WAIT_SECONDS``) in all; a
        server that listed no tools by then gets a warning naming it and the settings to check, and
        is retried in the background."""
        wait_seconds = START_WAIT_SECONDS if wait_seconds is None else wait_seconds
        connections = list(self.connections.values())
        listed = await asyncio.gather(*(c.start(wait_seconds=wait_seconds) for c in connections))
        for connection, ok in zip(connections, listed, strict=True):
            if not ok:
                index = self._index[connection.id]
                log.warning("%s", down_at_start(index, connection.config, connection.last_error, wait_seconds))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.connections.values()))

    def source(self, server_id: str, settings: McpToolSettings) -> McpToolSource:
        """The server's tools ``settings`` admits, as it lists them over time (a ``ToolSource``)."""
        return McpToolSource(self, self.connections[server_id], settings)

    def tools_for(self, server_id: str, settings: McpToolSettings) -> list[Tool]:
        """One ``Tool`` per tool of the server ``settings`` admits, as listed now."""
        connection = self.connections[server_id]
        for name in settings.include_tools or ():
            if connection.tools and name not in connection.tools:
                log.warning("MCP server %s does not offer the included tool %s (yet)", server_id, name)
        return [
            _as_tool(connection, tool, settings.exposed_name(tool.name), confirmed_first=settings.confirms(tool.name))
            for tool in connection.tools.values()
            if settings.admits(tool.name)
        ]


def down_at_start(index: int, config: McpServerConfig, reason: str | None, waited: float) -> str:
    """The start-up warning for the server declared at ``mcp_servers[index]`` that listed no
    tools within ``waited`` seconds, ``reason`` the last failure (``None``: none yet, no answer)."""
    at = f"mcp_servers[{index}]"
    settings = f"{at}.command and args" if config.transport == "stdio" else f"{at}.url and headers"
    return (
        f"MCP server {config.id} ({at}) listed no tools within {waited:g}s ({reason or 'no answer yet'}); "
        f"agents start without its tools and get them from the next run once it answers (it is retried "
        f"in the background); if it stays down, check {settings}"
    )


class McpToolSource:
    """One ``mcp:`` entry's tools: those of ``connection`` that ``settings`` admits."""

    __slots__ = ("connection", "hub", "settings")

    def __init__(self, hub: McpHub, connection: McpConnection, settings: McpToolSettings) -> None:
        self.hub, self.connection, self.settings = hub, connection, settings

    @property
    def listings(self) -> int:
        return self.connection.listings

    def tools(self) -> list[Tool]:
        return self.hub.tools_for(self.connection.id, self.settings)


def _as_tool(connection: McpConnection, tool: types.Tool, exposed_name: str, *, confirmed_first: bool) -> Tool:
    remote_name = tool.name

    async def call(**arguments: Any) -> str:
        return await connection.call(remote_name, arguments)

    description = tool.description or tool.title or f"The {remote_name} tool of the {connection.id} MCP server."
    # The server's words reach the model and the agent listings: cleaned as any text we did not write.
    parameters = clean_json(_parameters(tool.input_schema))
    return Tool(exposed_name, clean_text(description), parameters, call, requires_confirmation=confirmed_first)


def _parameters(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The tool's input schema as a chat-completions ``parameters`` object."""
    parameters = dict(schema or {})
    parameters.setdefault("type", "object")
    parameters.setdefault("properties", {})
    return parameters
