"""Tools from Model Context Protocol servers, through the official ``mcp`` SDK.

``hub.McpHub`` keeps every declared server connected and gives agents and teams their tools
(``McpHub.source``). Nothing here is imported unless a config declares MCP servers, so the SDK
costs nothing to a runtime without them.
"""
