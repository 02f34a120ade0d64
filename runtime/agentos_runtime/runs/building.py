"""Agents from the config: each declared agent wired to its model, tools, databases and knowledge base."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from agentos_runtime.config.components import ComponentFields
from agentos_runtime.config.document import RuntimeConfig
from agentos_runtime.config.problems import ConfigError, Path, Problem
from agentos_runtime.knowledge.ports import KnowledgeSearch
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.knowledge import SEARCH_KNOWLEDGE_BASE
from agentos_runtime.runs.loop import Agent
from agentos_runtime.runs.registry import RunRegistry
from agentos_runtime.storage.ports import Database
from agentos_runtime.tools.resolving import resolve_tools
from agentos_runtime.tools.toolsets import ToolSet

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


def knowledge_of(
    spec: ComponentFields,
    tools: ToolSet,
    knowledge: Mapping[str, KnowledgeSearch] | None,
    at: Path,
) -> tuple[KnowledgeSearch | None, list[Problem]]:
    """The knowledge base an agent or a team names, and the problems found: a base that was
    not opened, or one of its own tools named like the knowledge search it gets."""
    if spec.knowledge is None or knowledge is None:
        return None, []
    problems: list[Problem] = []
    base = knowledge.get(spec.knowledge)
    if base is None:
        problems.append(Problem((*at, "knowledge"), f"knowledge base '{spec.knowledge}' is not open"))
    if spec.search_knowledge and SEARCH_KNOWLEDGE_BASE in {tool.name for tool in tools.tools}:
        problems.append(
            Problem(
                (*at, "tools"),
                f"a tool named '{SEARCH_KNOWLEDGE_BASE}' would hide the knowledge search: "
                "rename it (tool_name_prefix) or set search_knowledge to false",
            )
        )
    return base, problems


def build_agents(
    config: RuntimeConfig,
    *,
    models: Mapping[str, ChatModel],
    databases: Mapping[str, Database],
    registry: RunRegistry,
    mcp: McpHub | None = None,
    knowledge: Mapping[str, KnowledgeSearch] | None = None,
) -> dict[str, Agent]:
    """Every declared agent by id; raises ``ConfigError`` (with field paths) for unknown tools,
    bad tool settings, or a model, database or knowledge base that was not built. ``mcp`` holds
    the connected MCP servers ``mcp:`` tool entries use (``None``: none declared); ``knowledge``
    the opened knowledge bases by id (``None``: not opened, agents run without them)."""
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
        base, knowledge_problems = knowledge_of(spec, tools, knowledge, at)
        problems.extend(knowledge_problems)
        if model is None or (db_id is not None and database is None) or knowledge_problems:
            continue
        agents[spec.id] = Agent(
            spec,
            model=model,
            tools=tools,
            sessions=database.sessions if database is not None else None,
            memories=memory_db.memories if memory_db is not None else None,
            registry=registry,
            db_id=db_id,
            knowledge=base,
        )
    if problems:
        raise ConfigError(problems)
    return agents
