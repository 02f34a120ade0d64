"""Tools by name: built-ins and the ``agentos.tools`` entry-point group.

``resolve_tools(names, tool_config, mcp=...)`` builds the ``ToolSet`` an agent's or team's config
names (MCP servers' tools included, kept up to date by ``ToolSet.refresh``); ``execute_tool_call`` runs one call the model made and never raises for a tool failure.
"""

from agentos_runtime.tools.executing import ToolOutcome, execute_tool_call, parse_arguments
from agentos_runtime.tools.resolving import BUILTIN_TOOLS, ENTRY_POINT_GROUP, resolve_tools
from agentos_runtime.tools.tool import Tool

__all__ = [
    "BUILTIN_TOOLS",
    "ENTRY_POINT_GROUP",
    "Tool",
    "ToolOutcome",
    "execute_tool_call",
    "parse_arguments",
    "resolve_tools",
]
