"""A tool the model may call: a name, a description, a JSON schema, and an async function.

Tools are built from the config (built-ins, or third-party ones from the ``agentos.tools``
entry-point group). A tool's function may be sync or async; sync functions are run in a worker
thread, and this module is the one place that bridge is made.

The model's arguments are fitted to the function before the call, as Agno's tools are (through
pydantic): a name the function does not take, a missing one, or a value of the wrong type for
the parameter's annotation (``memory: str`` given ``123``, ``topics: list[str]`` given
``"abc"``) is ``UnfitArguments`` naming the parameter, never a call that fails somewhere
inside the tool (or inside a database driver). Values are passed as pydantic's lax mode reads
them (``"2"`` for an ``int``), also as in Agno. A parameter without an annotation, or with one
pydantic has no schema for, takes anything.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import typing
from collections.abc import Awaitable, Callable, Mapping
from types import CodeType
from typing import Any

from pydantic import TypeAdapter, ValidationError

from agentos_runtime.errors import DescribedFailure

ToolFunction = Callable[..., Any]


class UnfitArguments(ValueError):
    """The model's arguments do not fit the tool's function; the message says which and why."""


class ToolFailed(DescribedFailure):
    """A failure the tool foresaw and described in its message (a search the database refused):
    the model reads the message and the log gets one line, no traceback."""


class Tool:
    """A callable the model sees as ``{"type": "function", "function": {...}}``.

    ``function`` takes the model's arguments as keyword arguments and returns the result the
    model reads: a ``str`` is passed as is, anything else is sent as JSON. A tool that
    ``requires_confirmation`` is not called when the model asks: the agent's run pauses until a
    person confirms or rejects the call (``runs.pausing``).
    """

    __slots__ = ("_run", "_signature", "description", "function", "name", "parameters", "requires_confirmation")

    def __init__(
        self,
        name: str,
        description: str,
        parameters: dict[str, Any],
        function: ToolFunction,
        *,
        requires_confirmation: bool = False,
    ) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters
        self.function = function
        self.requires_confirmation = requires_confirmation
        self._run: Callable[..., Awaitable[Any]] = (
            function if inspect.iscoroutinefunction(function) else _in_worker_thread(function)
        )
        self._signature = _signature_of(function)

    def fitted(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """``arguments`` as the function takes them; ``UnfitArguments`` saying why they do not fit."""
        if self._signature is None:
            return dict(arguments)
        try:
            self._signature.bind(**arguments)
        except TypeError as problem:
            raise UnfitArguments(str(problem)) from None
        fitted = dict(arguments)
        for name, adapter in _adapters(self.function, self._signature).items():
            if name in fitted:
                try:
                    fitted[name] = adapter.validate_python(fitted[name])
                except ValidationError as invalid:
                    raise UnfitArguments(_first_error(name, invalid)) from None
        return fitted

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
        return Tool(
            name, self.description, self.parameters, self.function, requires_confirmation=self.requires_confirmation
        )

    def confirmed_first(self) -> Tool:
        """The same tool, called only once a person confirmed the call."""
        return Tool(self.name, self.description, self.parameters, self.function, requires_confirmation=True)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


def _signature_of(function: ToolFunction) -> inspect.Signature | None:
    """The function's signature, or ``None`` for a callable that has none to read (a builtin)."""
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


_ADAPTERS: dict[tuple[CodeType, str, tuple[tuple[str, Any], ...]], dict[str, TypeAdapter[Any]]] = {}
"""Per function body, module and annotations: a tool made anew for each run (a closure) shares
its parameters' adapters; functions one decorator wraps share a body, not their annotations."""


def _adapters(function: ToolFunction, signature: inspect.Signature) -> dict[str, TypeAdapter[Any]]:
    """A validator for each annotated parameter the function takes by name."""
    key = _cache_key(function)
    if key is not None and (known := _ADAPTERS.get(key)) is not None:
        return known
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # an annotation that names what is not importable: nothing to check against
        hints = {}
    adapters: dict[str, TypeAdapter[Any]] = {}
    for name, parameter in signature.parameters.items():
        hint = hints.get(name)
        if hint is None or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        try:
            adapters[name] = TypeAdapter(hint)
        except Exception:  # a type pydantic cannot describe (a third-party tool's own class)
            continue
    if key is not None:
        _ADAPTERS[key] = adapters
    return adapters


def _cache_key(function: ToolFunction) -> tuple[CodeType, str, tuple[tuple[str, Any], ...]] | None:
    code = getattr(function, "__code__", None)
    annotations = getattr(function, "__annotations__", None)
    if code is None or not isinstance(annotations, dict):
        return None
    key = (code, str(getattr(function, "__module__", "")), tuple(annotations.items()))
    try:
        hash(key)
    except TypeError:  # an annotation that is no hashable value: built each time
        return None
    return key


def _first_error(name: str, invalid: ValidationError) -> str:
    """``topics.1: Input should be a valid string``: where in the argument, and what was expected."""
    error = invalid.errors(include_url=False, include_input=False)[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
    return f"{name}{where}: {error['msg']}"


def _in_worker_thread(function: ToolFunction) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(function)
    async def run(**arguments: Any) -> Any:
        return await asyncio.to_thread(function, **arguments)

    return run
