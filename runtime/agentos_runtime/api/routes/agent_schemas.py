"""Agent views: Agno's ``AgentSummaryResponse`` (in ``/config``) and ``AgentResponse``.

Like Agno, a detail block is shown only when it differs from Agno's defaults (history off,
three history runs, no markdown...), and ``None`` fields are dropped, so the UI renders an
agent declared here exactly as it renders the same agent written in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentos_runtime.api.context import OpenDatabase
from agentos_runtime.config.components import ComponentFields
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs import Agent
from agentos_runtime.runs.knowledge import search_tool_schema

if TYPE_CHECKING:
    from agentos_runtime.knowledge.base import KnowledgeBase

JSON = dict[str, Any]

# Agno's defaults: a setting equal to its default is not shown.
_DEFAULTS: JSON = {
    "add_history_to_context": False,
    "num_history_runs": 3,
    "enable_agentic_memory": False,
    "update_memory_on_run": False,
    "markdown": False,
    "add_name_to_context": False,
    "add_datetime_to_context": False,
}


def model_summary(model: ChatModel) -> JSON:
    """``{"id", "provider"}`` as ``/config`` and ``/models`` list models."""
    return {"id": model.model, "provider": model.provider}


def model_detail(model: ChatModel) -> JSON:
    """``{"name", "model", "provider"}`` as ``/agents/{id}`` shows an agent's model."""
    return {"name": model.name, "model": model.model, "provider": model.provider}


def agent_summary(agent: Agent) -> JSON:
    return _without_none(
        {
            "id": agent.id,
            "name": agent.name,
            "description": agent.config.description,
            "db_id": agent.db_id,
            "model": model_summary(agent.model),
            "metadata": agent.config.metadata,
            "sandboxed": False,
        }
    )


def knowledge_tools(config: ComponentFields, knowledge: Mapping[str, KnowledgeBase] | None) -> list[JSON]:
    """The knowledge search tool, as Agno lists it among an agent's or a leader's tools."""
    if (
        config.knowledge is None
        or not config.search_knowledge
        or knowledge is None
        or config.knowledge not in knowledge
    ):
        return []
    return [_tool_view(search_tool_schema())]


def knowledge_detail(config: ComponentFields, knowledge: Mapping[str, KnowledgeBase] | None) -> JSON | None:
    """Agno's ``knowledge`` block: where the base's contents are, and the settings that differ from its defaults."""
    base = knowledge.get(config.knowledge) if knowledge is not None and config.knowledge is not None else None
    if base is None:
        return None
    block: JSON = {"db_id": base.db_id, "knowledge_table": base.table}
    if not config.search_knowledge:
        block["search_knowledge"] = False
    if config.add_knowledge_to_context:
        block["add_knowledge_to_context"] = True
    return block


def system_message_view(config: ComponentFields, *, team: bool = False) -> JSON | None:
    """Agno's ``system_message`` block: the prompt settings that differ from its defaults.

    A team's block names fewer settings than an agent's (Agno's ``TeamResponse`` shows neither
    ``add_name_to_context`` nor ``timezone_identifier``).
    """
    block: JSON = {
        "system_message": config.system_message,
        "system_message_role": "system",
        "description": config.description,
        "instructions": config.instructions,
        "expected_output": config.expected_output,
        "additional_context": config.additional_context,
        "markdown": config.markdown,
        "add_datetime_to_context": config.add_datetime_to_context,
    }
    if not team:
        block["add_name_to_context"] = config.add_name_to_context
        block["timezone_identifier"] = config.timezone_identifier
    return _meaningful(block, {"system_message_role": "system"})


def sessions_view(config: ComponentFields, database: OpenDatabase | None) -> JSON | None:
    """Agno's ``sessions`` block: where sessions are kept and the history settings that differ."""
    return _meaningful(
        {
            "session_table": database.config.tables.sessions if database is not None else None,
            "add_history_to_context": config.add_history_to_context,
            "num_history_runs": config.num_history_runs,
        }
    )


def memory_view(config: ComponentFields, database: OpenDatabase | None) -> JSON | None:
    """Agno's ``memory`` block, shown only when memories are on."""
    if not (config.enable_user_memories or config.enable_agentic_memory):
        return None
    memories = database.config.tables.memories if database is not None and config.enable_user_memories else None
    return _meaningful(
        {
            "enable_agentic_memory": config.enable_agentic_memory,
            "update_memory_on_run": config.enable_user_memories,
            "metadata": config.metadata,
            "memory_table": memories,
        }
    )


def agent_detail(agent: Agent, database: OpenDatabase, knowledge: Mapping[str, KnowledgeBase] | None = None) -> JSON:
    config = agent.config
    tools = [_tool_view(tool.schema(), tool.requires_confirmation) for tool in agent.tools]
    tools += knowledge_tools(config, knowledge)
    return _without_none(
        {
            "id": agent.id,
            "name": agent.name,
            "db_id": agent.db_id,
            "filesystem": False,
            "description": config.description,
            "role": config.role,
            "is_factory": False,
            "model": model_detail(agent.model),
            "tools": _meaningful({"tools": tools or None, "tool_call_limit": config.tool_call_limit}),
            "sessions": sessions_view(config, database),
            "memory": memory_view(config, database),
            "knowledge": knowledge_detail(config, knowledge),
            "reasoning": {"reasoning": False},
            "system_message": system_message_view(config),
            "metadata": config.metadata,
            "is_component": False,
            "sandboxed": False,
        }
    )


def _tool_view(schema: JSON, requires_confirmation: bool = False) -> JSON:
    """Agno's ``Function.to_dict()``: ``requires_confirmation`` only on a tool whose calls wait for a person."""
    function = schema.get("function", schema)
    view: JSON = {
        "name": function.get("name"),
        "description": function.get("description"),
        "parameters": function.get("parameters", {"type": "object", "properties": {}}),
    }
    if requires_confirmation:
        view["requires_confirmation"] = True
    return view


def _meaningful(block: JSON, extra_defaults: JSON | None = None) -> JSON | None:
    """The settings that differ from Agno's defaults; ``None`` when all are defaults."""
    defaults = {**_DEFAULTS, **(extra_defaults or {})}
    kept = {k: v for k, v in block.items() if v is not None and not (k in defaults and v == defaults[k])}
    return kept or None


def _without_none(view: JSON) -> JSON:
    return {k: v for k, v in view.items() if v is not None}
