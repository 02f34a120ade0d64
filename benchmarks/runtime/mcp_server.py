"""The MCP server of the MCP tool-call benchmark: one cheap tool over streamable HTTP.

    python -m benchmarks.runtime.mcp_server --port 8765

``lookup(key)`` answers from a dict, so the figures are the clients' cost, not the tool's.
``GET /health`` answers 200 once the server listens.
"""

from __future__ import annotations

import argparse

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.requests import Request
from starlette.responses import PlainTextResponse

FACTS = {"answer": "42"}


def build_app() -> object:
    server: MCPServer = MCPServer("bench")

    @server.tool()
    def lookup(key: str) -> str:
        """Look up a fact by its key."""
        return FACTS.get(key, "none")

    @server.custom_route("/health", methods=["GET"])
    async def health(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return server.streamable_http_app()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build_app(), host="127.0.0.1", port=args.port, log_level="warning")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
