"""Agents from the config: each declared agent wired to its model, tools and databases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from agentos_runtime.config.document import RuntimeConfig
from agentos_runtime.config.problems import ConfigError, Problem
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.loop import Agent
from agentos_runtime.runs.registry import RunRegistry
from agentos_runtime.storage.ports import Database
from agentos_runtime.tools.resolving import resolve_tools

if TYPE_CHECKING:
    from agentos_runtime.tools.mcp.hub import McpHub


def default_db_id(config: RuntimeConfig, databases: Mapping[str, Database]) -> str | None:
    """The database of components that name none: ``db``, then the first of ``session.dbs``, then
    the first declared, then the only open one (the embedded default when none is declared)."""
    if config.db is not None:
        return config.db
    if config.session is not None and config.session.dbs:
        return config.session.dbs[0].db_id
    if config.databases:
        return config.databases[0].id
    if len(databases) == 1:
        return next(iter(databases))
    return None


def build_agents(
    config: RuntimeConfig,
    *,
    models: Mapping[str, ChatModel],
    databases: Mapping[str, Database],
    registry: RunRegistry,
    mcp: McpHub | None = None,
) -> dict[str, Agent]:
    """Every declared agent by id; raises ``ConfigError`` (with field paths) for unknown tools,
    bad tool settings, or a model or database that was not built. ``mcp`` holds the connected
    MCP servers ``mcp:`` tool entries use (``None``: none declared)."""
    problems: list[Problem] = []
    agents: dict[str, Agent] = {}
    fallback_db = default_db_id(config, databases)
    first_model = config.models[0].id if config.models else None
    for index, spec in enumerate(config.agents):
        at = ("agents", index)
        model_id = spec.model or first_model
        model = models.get(model_id) if model_id is not None else None
        if model is None:
            problems.append(Problem((*at, "model"), f"no model '{model_id}' was built for this agent"))
        db_id = spec.db or fallback_db
        database = databases.get(db_id) if db_id is not None else None
        if db_id is not None and database is None:
            problems.append(Problem((*at, "db"), f"database '{db_id}' is not open"))
        memory_db = databases.get(spec.memory_db) if spec.memory_db is not None else database
        try:
            tools = resolve_tools(spec.tools, spec.tool_config, path=at, mcp=mcp)
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        if model is None or (db_id is not None and database is None):
            continue
        agents[spec.id] = Agent(
            spec,
            model=model,
            tools=tools,
            sessions=database.sessions if database is not None else None,
            memories=memory_db.memories if memory_db is not None else None,
            registry=registry,
            db_id=db_id,
        )
    if problems:
        raise ConfigError(problems)
    return agents
