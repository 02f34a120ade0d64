"""An agent's or team's tools as they are now: fixed ones, and those an MCP server lists.

A ``ToolSet`` keeps the tools in config order. Built-in and entry-point tools never change; a
``ToolSource`` (an MCP server's tools narrowed by an entry's settings) changes whenever its
server lists its tools again (at a reconnection, or on the server's list-changed signal).
``refresh()`` compares each source's listing count with the one the list was built from and
rebuilds only when one moved, so a run opening with nothing changed costs a few integer
comparisons and allocates nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Protocol

from agentos_runtime.tools.tool import Tool

log = logging.getLogger(__name__)


class ToolSource(Protocol):
    """Tools that may change: what ``tools()`` returns holds until ``listings`` moves."""

    @property
    def listings(self) -> int:
        """A count that moves whenever ``tools()`` may answer differently."""
        ...

    def tools(self) -> list[Tool]:
        """The tools as they are now, in a stable order."""
        ...


class ToolSet:
    """Tools in config order; ``refresh()`` brings the sources' parts up to date."""

    def __init__(self, parts: Sequence[Tool | ToolSource] = ()) -> None:
        self._parts = tuple(parts)
        self._sources = tuple(part for part in self._parts if not isinstance(part, Tool))
        self._seen = [source.listings for source in self._sources]
        self.generation = 0
        """Moves each time the tools are rebuilt (consumers keep what they derived until then)."""
        self.tools: list[Tool] = []
        """The tools as of the last ``refresh()``, names unique (of two tools named alike, the first)."""
        self.left_out: list[str] = []
        """Names of the tools left out of ``tools`` because an earlier tool has the name."""
        self._build()

    def __iter__(self) -> Iterator[Tool]:
        """The tools as they are now (refreshed first)."""
        self.refresh()
        return iter(self.tools)

    def __len__(self) -> int:
        self.refresh()
        return len(self.tools)

    @property
    def changes(self) -> bool:
        """Whether the tools can change after start-up (some come from a ``ToolSource``)."""
        return bool(self._sources)

    def refresh(self) -> int:
        """Rebuild the tools if a source listed its tools again since; the ``generation``."""
        if not self._sources:
            return self.generation
        seen = self._seen
        for index, source in enumerate(self._sources):
            if source.listings != seen[index]:
                for j, each in enumerate(self._sources):
                    seen[j] = each.listings
                self._build()
                for name in self.left_out:
                    log.warning("a second tool named %s is left out: set tool_name_prefix to use both", name)
                break
        return self.generation

    def _build(self) -> None:
        tools: list[Tool] = []
        names: set[str] = set()
        left_out: list[str] = []
        for part in self._parts:
            for tool in (part,) if isinstance(part, Tool) else part.tools():
                if tool.name in names:
                    left_out.append(tool.name)
                    continue
                names.add(tool.name)
                tools.append(tool)
        self.tools, self.left_out = tools, left_out
        self.generation += 1
