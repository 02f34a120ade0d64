"""The tools a run of an agent or a team takes when it opens, kept until the tools change.

An agent's or a team leader's tools are a ``ToolSet`` (built-in, entry-point and MCP tools,
the last changing when a server lists its tools again). What a run needs of them is derived
once, in the form the kind's loop uses (an agent's ``Toolbox`` with the schemas it offers, a
leader's tools by name), and derived again only when the set's ``generation`` moved: a run
opening with nothing changed costs the set's ``refresh()`` and one comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from agentos_runtime.runs.turns import Toolbox
from agentos_runtime.tools.tool import Tool
from agentos_runtime.tools.toolsets import ToolSet

T = TypeVar("T")


class TakenTools(Generic[T]):
    """What runs take from ``toolset``: ``derive(tools)``, derived again when the tools changed."""

    def __init__(self, tools: Sequence[Tool] | ToolSet, derive: Callable[[Sequence[Tool]], T]) -> None:
        """A ``ToolSet`` is shared (whoever holds it sees the same tools change); a sequence of
        tools becomes a set of its own."""
        self.toolset = tools if isinstance(tools, ToolSet) else ToolSet(tools)
        self._derive = derive
        self._taken = derive(self.toolset.tools)
        self._generation = self.toolset.generation

    def take(self) -> T:
        """What a run opening now gets: the same object until the tools change."""
        generation = self.toolset.refresh()
        if generation != self._generation:
            self._taken, self._generation = self._derive(self.toolset.tools), generation
        return self._taken


def agent_toolbox(tools: Sequence[Tool], limit: int | None) -> Toolbox:
    """An agent's toolbox: its tools by name, their schemas (``None`` when it has none), the call limit."""
    return Toolbox(
        tools={tool.name: tool for tool in tools}, schemas=[tool.schema() for tool in tools] or None, limit=limit
    )
