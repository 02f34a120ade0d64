"""Tool names in the config to ``Tool`` objects: the built-ins, then the ``agentos.tools`` group.

A team ships its own tools in its own image: a package declaring, in its metadata,

    [project.entry-points."agentos.tools"]
    weather = "acme_tools.weather:build"

where the object is a ``Tool`` or a factory called with the tool's ``tool_config`` entry (a
dict) and returning one. Built-in names cannot be overridden. Every problem (unknown name,
bad settings, a plugin that fails to load) is reported at once as a ``ConfigError`` with the
field path, like any other config mistake.

``mcp:<server id>`` names the tools of a declared MCP server, narrowed by its ``tool_config``
entry (``include_tools``, ``exclude_tools``, ``tool_name_prefix``): given the connected servers
(``mcp``, an ``McpHub``) it becomes a ``ToolSource`` of the ``ToolSet``, one tool per admitted
tool of the server as it lists them now and later; without them only its settings are checked.

``requires_confirmation`` in a tool's entry (``true``; for ``mcp:`` also a list of the server's
tool names) makes its calls wait for a person's confirmation: the agent's (or the team's) run
pauses. It is taken out of the settings before a tool is built (a built-in or an entry point
never sees it).

Offline (``agentos validate``, the operator) the entry points that matter are those of the
runtime's image, not of the process checking: ``entry_points`` says which to use (``EntryPoints``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal

import pydantic

from agentos_runtime.config.mcp import McpToolSettings, mcp_server_of
from agentos_runtime.config.problems import ConfigError, Path, Problem, problems_from_validation_error
from agentos_runtime.tools.calculator import build_calculator
from agentos_runtime.tools.clock import build_current_time
from agentos_runtime.tools.http_get import HttpGetSettings, build_http_get
from agentos_runtime.tools.tool import Tool
from agentos_runtime.tools.toolsets import ToolSet, ToolSource

if TYPE_CHECKING:
    from agentos_runtime.tools.mcp.hub import McpHub

ENTRY_POINT_GROUP = "agentos.tools"
CONFIRMATION_KEY = "requires_confirmation"
BUILTIN_TOOLS = ("calculator", "current_time", "http_get")

EntryPoints = Literal["installed", "none", "unseen"]
"""Which ``agentos.tools`` entry points a name other than a built-in or ``mcp:`` may be:
``installed``, those installed here (the runtime itself); ``none``, no entry point (an image
holding only the runtime); ``unseen``, any, unchecked, as they are installed in an image this
process cannot see (its settings are the entry point's own: left to the runtime's start)."""


def setting_names(name: str) -> frozenset[str] | None:
    """The settings (``tool_config`` keys) the tool ``name`` takes, when this runtime defines them:
    a built-in's and an ``mcp:`` entry's; ``None`` for an entry point, whose settings are its own."""
    if mcp_server_of(name) is not None:
        return frozenset(McpToolSettings.model_fields)
    if name == "http_get":
        return frozenset({*HttpGetSettings.model_fields, CONFIRMATION_KEY})
    if name in BUILTIN_TOOLS:
        return frozenset({CONFIRMATION_KEY})
    return None


def resolve_tools(
    names: Sequence[str],
    tool_config: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    path: Path = (),
    mcp: McpHub | None = None,
    entry_points: EntryPoints = "installed",
) -> ToolSet:
    """The tools ``names`` refers to, in order; raises ``ConfigError`` listing every problem.

    ``path`` locates the component in the config (e.g. ``("agents", 2)``): problems are reported
    at ``path + ("tools", i)`` and ``path + ("tool_config", name, ...)``. ``mcp`` holds the
    connections ``mcp:`` entries take their tools from; without it they are only checked.
    ``entry_points``: which entry points other names may be (``EntryPoints``); with ``unseen``
    such names are only checked to be listed once and the ``ToolSet`` leaves them out.
    """
    settings_of = tool_config or {}
    problems: list[Problem] = []
    plugins: dict[str, metadata.EntryPoint] | None = None
    parts: list[Tool | ToolSource] = []
    for index, name in enumerate(names):
        at = path + ("tools", index)
        if name in names[:index]:
            problems.append(Problem(at, f"tool '{name}' is listed twice"))
            continue
        settings = dict(settings_of.get(name) or {})
        settings_at = path + ("tool_config", name)
        server_id = mcp_server_of(name)
        if server_id is not None:
            source = _mcp_source(server_id, settings, problems, mcp, at=at, settings_at=settings_at)
            if source is not None:
                parts.append(source)
            continue
        confirmed_first = settings.pop(CONFIRMATION_KEY, False)
        if not isinstance(confirmed_first, bool):
            problems.append(Problem(settings_at + (CONFIRMATION_KEY,), "must be true or false"))
            continue
        if name in BUILTIN_TOOLS:
            tool = _build_builtin(name, settings, settings_at, problems)
        elif entry_points == "unseen":
            continue
        else:
            if plugins is None:
                plugins = _installed_plugins() if entry_points == "installed" else {}
            if name not in plugins:
                known = ", ".join(sorted({*BUILTIN_TOOLS, *plugins}))
                problems.append(Problem(at, f"unknown tool '{name}': known tools are {known}"))
                continue
            tool = _build_plugin(plugins[name], settings, problems, at=at, settings_at=settings_at)
        if tool is not None:
            parts.append(tool.confirmed_first() if confirmed_first else tool)
    for name in settings_of:
        if name not in names:
            problems.append(Problem(path + ("tool_config", name), f"settings for '{name}', which is not in tools"))
    if problems:
        raise ConfigError(problems)
    tools = ToolSet(parts)
    if tools.left_out:
        raise ConfigError([_clash(name, path) for name in dict.fromkeys(tools.left_out)])
    return tools


def _mcp_source(
    server_id: str,
    settings: dict[str, Any],
    problems: list[Problem],
    mcp: McpHub | None,
    *,
    at: Path,
    settings_at: Path,
) -> ToolSource | None:
    try:
        selection = McpToolSettings.model_validate(settings, by_alias=False, by_name=True)
    except pydantic.ValidationError as error:
        problems.extend(problems_from_validation_error(error, prefix=settings_at))
        return None
    if mcp is None:
        return None
    if server_id not in mcp:
        problems.append(Problem(at, f"unknown MCP server '{server_id}': declare it in mcp_servers or fix the id"))
        return None
    return mcp.source(server_id, selection)


def _clash(name: str, path: Path) -> Problem:
    """Two tools the model would see under one name (an MCP server's tool named like another)."""
    return Problem(
        path + ("tools",), f"two tools are named '{name}': set tool_name_prefix in the tool_config of an mcp: entry"
    )


def _installed_plugins() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _build_builtin(name: str, settings: dict[str, Any], at: Path, problems: list[Problem]) -> Tool | None:
    if name == "http_get":
        try:
            return build_http_get(HttpGetSettings.model_validate(settings, by_alias=False, by_name=True))
        except pydantic.ValidationError as error:
            problems.extend(problems_from_validation_error(error, prefix=at))
            return None
    if settings:
        problems.append(Problem(at, f"the '{name}' tool takes no settings"))
        return None
    return build_calculator() if name == "calculator" else build_current_time()


def _build_plugin(
    entry_point: metadata.EntryPoint, settings: dict[str, Any], problems: list[Problem], *, at: Path, settings_at: Path
) -> Tool | None:
    source = f"entry point '{entry_point.value}'"
    try:
        loaded = entry_point.load()
    except Exception as error:  # any import failure of third-party code is a config problem
        problems.append(Problem(at, f"tool '{entry_point.name}' from {source} failed to load: {error!r}"))
        return None
    if isinstance(loaded, Tool):
        if settings:
            problems.append(Problem(settings_at, f"the '{entry_point.name}' tool takes no settings"))
            return None
        tool = loaded
    elif callable(loaded):
        try:
            tool = loaded(settings)
        except Exception as error:  # a factory rejecting its settings is a config problem
            problems.append(Problem(settings_at, f"tool '{entry_point.name}' rejected its settings: {error}"))
            return None
        if not isinstance(tool, Tool):
            problems.append(Problem(at, f"{source} returned {type(tool).__name__}, not a Tool"))
            return None
    else:
        problems.append(Problem(at, f"{source} is neither a Tool nor a factory returning one"))
        return None
    return tool if tool.name == entry_point.name else tool.renamed(entry_point.name)
