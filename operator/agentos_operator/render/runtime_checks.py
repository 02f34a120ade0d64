"""What the runtime would refuse at its start of the config rendered for a resource, found
offline, each problem at the resource's field. Pure.

The runtime checks its config file before anything starts (``agentos_runtime.config_checks``:
the schema, references, and the tools of each agent and team: names, settings, ``mcp:``
entries); a config it refuses is a pod in a crash loop. So the config is rendered as the
ConfigMap holds it and those same checks run on it, and their paths are turned back into the
resource's (``agents[0].tool_config.http_get`` is ``spec.agents[0].toolConfig.http_get``).

Entry-point tools (the ``agentos.tools`` group) are installed in the runtime's image, which
this process cannot see. Without ``spec.image`` the pods run the operator's runtime image,
which holds the built-ins only: any other name that is no ``mcp:<server id>`` is refused, as
the runtime would refuse it. With ``spec.image`` (an image of your own, with your tools)
other names are taken for its entry points and their settings are left to the runtime's start.

``toolConfig`` holds each tool's settings as the runtime reads them: the tool names and their
settings in snake_case (``http_get: {allowed_hosts: [...]}``), unlike the rest of the resource.
A camelCase key of a setting the runtime defines (``allowedHosts``) is refused, naming the
snake_case spelling; the entry is then checked with that spelling, so its other problems show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentos_runtime.config import Problem, RuntimeConfig
from agentos_runtime.config_checks import check_components, runtime_config_problems
from agentos_runtime.tools.resolving import EntryPoints, setting_names
from pydantic.alias_generators import to_camel, to_snake

from agentos_operator.render.configmap import runtime_config_data
from agentos_operator.render.environment import plan_environment
from agentos_operator.render.rendering import DEFAULT_RUNTIME_IMAGE
from agentos_operator.resources import AgentOSResource

Path = tuple[str | int, ...]

# Fields of the runtime config whose keys below are data (tool names and their settings, free
# state), written in the resource as in the file.
_AS_WRITTEN = frozenset({"tool_config", "session_state", "metadata"})
_COMPONENTS = ("agents", "teams")


def runtime_problems(
    resource: AgentOSResource, *, references_hold: bool = True, default_image: str | None = None
) -> list[Problem]:
    """Every problem the runtime would find at its start in the config rendered for ``resource``.

    ``references_hold=False``: the spec's references are at fault (reported in the resource's
    words): the config is not rendered, and only the tools of its agents and teams, which the
    rendered config holds as the spec writes them, are checked.

    The bundled runtime image installs no tool entry points: a resource running it knows only the
    built-in tools and its MCP servers'. One running another image (``spec.image``, or the
    operator's ``default_image`` when that is not the bundled one) may install its own: names
    neither built-in nor ``mcp:`` are left for that runtime to check.
    """
    image = resource.spec.image or default_image
    entry_points: EntryPoints = "none" if image is None or image == DEFAULT_RUNTIME_IMAGE else "unseen"
    if references_hold:
        data = runtime_config_data(resource, plan_environment(resource))
        problems = _snake_case_settings(data)
        found = runtime_config_problems(data, entry_points=entry_points)
    else:
        data = resource.spec.model_dump(mode="json", by_alias=False, exclude_defaults=True, include=set(_COMPONENTS))
        problems = _snake_case_settings(data)
        found = check_components(
            RuntimeConfig.model_validate(data, by_alias=False, by_name=True), entry_points=entry_points
        )
    for problem in found:
        problems.append(Problem(resource_path(problem.path), _with_fix(problem, entry_points)))
    return problems


def resource_path(path: Path) -> Path:
    """The resource's path of a field of its rendered runtime config (``spec.`` and camelCase)."""
    parts: list[str | int] = ["spec"]
    as_written = False
    for part in path:
        if isinstance(part, str) and not as_written and "_" in part:
            parts.append(to_camel(part))
        else:
            parts.append(part)
        as_written = as_written or part in _AS_WRITTEN
    return tuple(parts)


def _with_fix(problem: Problem, entry_points: EntryPoints) -> str:
    """The runtime's message, and what to do about it in the resource where the runtime's words do not say."""
    if problem.message.startswith("unknown tool ") and len(problem.path) == 4 and problem.path[2] == "tools":
        fix = "fix the name"
        if entry_points == "none":
            fix += (
                ", or, for a tool of your own (an agentos.tools entry point), set spec.image to the runtime image"
                " that installs it"
            )
        return f"{problem.message}: {fix}"
    return problem.message


def _snake_case_settings(data: dict[str, Any]) -> list[Problem]:
    """Problems of the camelCase keys in ``data``'s ``tool_config`` entries that name a setting the
    runtime defines in snake_case; ``data`` gets the snake_case spelling, to check the rest."""
    problems: list[Problem] = []
    for kind in _COMPONENTS:
        for index, component in enumerate(data.get(kind) or []):
            tool_config = component.get("tool_config")
            if not isinstance(tool_config, dict):
                continue
            for name, settings in tool_config.items():
                known = setting_names(name)
                if known is None or not isinstance(settings, Mapping):
                    continue
                spelt: dict[str, Any] = {}
                for key, value in settings.items():
                    snake = to_snake(key)
                    if snake != key and snake in known and snake not in settings:
                        problems.append(
                            Problem(
                                ("spec", kind, index, "toolConfig", name, key),
                                f"'{key}' is camelCase: toolConfig holds each tool's settings as the runtime reads"
                                f" them, in snake_case: write {snake}",
                            )
                        )
                        key = snake
                    spelt[key] = value
                tool_config[name] = spelt
    return problems
