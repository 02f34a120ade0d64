"""What the runtime checks of its config before anything starts, in one run: the schema, the
references, then the tools each agent and team names (``agentos serve``'s checks).

The operator runs the same functions on the config it renders for a resource, so what the
runtime would refuse at its start is refused before a pod runs. Offline, the ``agentos.tools``
entry points installed here need not be the image's: ``entry_points`` says which to take
(``tools.resolving.EntryPoints``).
"""

from __future__ import annotations

from typing import Any

import pydantic

from agentos_runtime.config import ConfigError, Problem, RuntimeConfig, parse_config
from agentos_runtime.tools.resolving import EntryPoints, resolve_tools


def runtime_config_problems(data: Any, *, entry_points: EntryPoints = "installed") -> list[Problem]:
    """What ``agentos serve`` checks of the parsed config ``data`` before it starts, in one run:
    the schema, references, then tools (those even when references fail)."""
    try:
        config = parse_config(data)
    except ConfigError as error:
        try:
            schema_valid = RuntimeConfig.model_validate(data, by_alias=False, by_name=True)
        except pydantic.ValidationError:
            return list(error.problems)
        return [*error.problems, *check_components(schema_valid, entry_points=entry_points)]
    return check_components(config, entry_points=entry_points)


def check_components(config: RuntimeConfig, *, entry_points: EntryPoints = "installed") -> list[Problem]:
    """Problems only building the components reveals (unknown tool names, bad tool settings)."""
    problems: list[Problem] = []
    components = [
        *(("agents", i, a) for i, a in enumerate(config.agents)),
        *(("teams", i, t) for i, t in enumerate(config.teams)),
    ]
    for kind, index, component in components:
        try:
            resolve_tools(component.tools, component.tool_config, path=(kind, index), entry_points=entry_points)
        except ConfigError as error:
            problems.extend(error.problems)
    return problems
