"""A tool the model may call: a name, a description, a JSON schema, and an async function.

Tools are built from the config (built-ins, or third-party ones from the ``agentos.tools``
entry-point group). A tool's function may be sync or async; sync functions are run in a worker
thread, and this module is the one place that bridge is made.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

ToolFunction = Callable[..., Any]


class Tool:
    """A callable the model sees as ``{"type": "function", "function": {...}}``.

    ``function`` takes the model's arguments as keyword arguments and returns the result the
    model reads: a ``str`` is passed as is, anything else is sent as JSON.
    """

    __slots__ = ("_run", "_signature", "description", "function", "name", "parameters")

    def __init__(self, name: str, description: str, parameters: dict[str, Any], function: ToolFunction) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters
        self.function = function
        self._run: Callable[..., Awaitable[Any]] = (
            function if inspect.iscoroutinefunction(function) else _in_worker_thread(function)
        )
        self._signature = _signature_of(function)

    def argument_problem(self, arguments: Mapping[str, Any]) -> str | None:
        """Why the function cannot take ``arguments`` (one missing, one it does not know), or ``None``."""
        if self._signature is None:
            return None
        try:
            self._signature.bind(**arguments)
        except TypeError as problem:
            return str(problem)
        return None

    async def call(self, arguments: dict[str, Any]) -> str:
        """Run the tool; exceptions propagate (``tools.executing`` turns them into results)."""
        result = await self._run(**arguments)
        if isinstance(result, str):
            return result
        return json.dumps(result, ensure_ascii=False, default=str)

    def schema(self) -> dict[str, Any]:
        """The chat-completions ``tools`` entry."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def renamed(self, name: str) -> Tool:
        return Tool(name, self.description, self.parameters, self.function)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


def _signature_of(function: ToolFunction) -> inspect.Signature | None:
    """The function's signature, or ``None`` for a callable that has none to read (a builtin)."""
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


def _in_worker_thread(function: ToolFunction) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(function)
    async def run(**arguments: Any) -> Any:
        return await asyncio.to_thread(function, **arguments)

    return run
