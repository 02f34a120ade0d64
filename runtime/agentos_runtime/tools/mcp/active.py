"""Which ``McpHub`` the agents being built take their MCP tools from (none: only check the config).

Kept apart from ``hub`` so that checking a config imports no MCP code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentos_runtime.tools.mcp.hub import McpHub

_ACTIVE: ContextVar[McpHub | None] = ContextVar("agentos_mcp_hub", default=None)


def active_hub() -> McpHub | None:
    """The hub agents are being built with, if any."""
    return _ACTIVE.get()


@contextmanager
def using(hub: McpHub) -> Iterator[McpHub]:
    """Make ``hub`` the one ``mcp:`` tool entries resolve against, inside the block."""
    token = _ACTIVE.set(hub)
    try:
        yield hub
    finally:
        _ACTIVE.reset(token)
