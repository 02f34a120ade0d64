"""A real MCP tool server for the tests, written with the ``mcp`` SDK's ``MCPServer``.

Its tools: ``lookup`` (a fact by key), ``fail`` (reports an error), ``stall`` (never answers),
``huge`` (a long result), ``whoami`` (which bearer token the request carried, by its name only),
``environment`` and ``confess`` (an env value, returned or written to stderr), and ``grow`` (adds
a ``second_lookup`` tool and announces the changed list); ``crash`` ends the process. Served over streamable HTTP
in-process by the tests, or run as a script over stdio:

    python tests/runtime/mcp/tool_server.py
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

FACTS = {"capital-of-france": "Paris", "answer": "42"}
# The bearer token ``whoami`` recognises; tests pass the same value to the runtime as a secret.
KNOWN_TOKENS = {"Bearer s3cr3t-token-value": "robot-1"}


def build_server() -> MCPServer:
    server: MCPServer = MCPServer("facts")

    @server.tool()
    def lookup(key: str) -> str:
        """Look up a fact by its key."""
        return FACTS.get(key, f"no fact under {key}")

    @server.tool()
    def fail(reason: str) -> str:
        """Always fails, with the reason given."""
        raise ToolError(f"failed on purpose: {reason}")

    @server.tool()
    async def stall() -> str:
        """Never answers."""
        await asyncio.Event().wait()
        return "unreachable"

    @server.tool(description="Answers bytes no database stores:\x00 a NUL.")
    def odd() -> str:
        return "binary\x00page"

    @server.tool()
    def huge(size: int) -> str:
        """A result of ``size`` characters."""
        return "x" * size

    @server.tool()
    def whoami(ctx: Context) -> str:
        """The caller's name, from its bearer token."""
        request = ctx.request_context.request
        headers = getattr(request, "headers", {})
        return KNOWN_TOKENS.get(headers.get("authorization", ""), "anonymous")

    @server.tool()
    def environment(name: str) -> str:
        """The value of an environment variable of the server's process (stdio)."""
        return os.environ.get(name, "unset")

    @server.tool()
    def confess(name: str) -> str:
        """Writes the value of an environment variable to the server's stderr."""
        print(f"my {name} is {os.environ.get(name)}", file=sys.stderr, flush=True)
        return "written"

    @server.tool()
    def crash() -> str:
        """Ends the server's process at once (a stdio server that dies)."""
        os._exit(3)

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Adds the second_lookup tool and tells the clients the list changed."""

        def second_lookup(key: str) -> str:
            """Look up a fact by its key, again."""
            return FACTS.get(key, "none")

        server.add_tool(second_lookup)
        await ctx.notify_tools_changed()  # 2026-era clients: their subscriptions/listen stream
        await ctx.session.send_tool_list_changed()  # handshake-era clients: a notification
        return "grown"

    return server


if __name__ == "__main__":
    build_server().run("stdio")
