"""The ``GET /config`` view: Agno's ``ConfigResponse`` built from the runtime config.

The UI's data pages are driven by the domain blocks (``session``, ``memory``, ...), merged
as Agno merges them: the file's ``dbs`` entries are kept verbatim and win per ``db_id``;
every other open database is appended with its id as display name and the domain's table.
Traces list only the default database, without tables, as Agno does with an OS database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentos_runtime.api.context import OpenDatabase, RuntimeContext
from agentos_runtime.api.routes.agent_schemas import agent_summary, model_summary
from agentos_runtime.api.routes.component_schemas import team_summary, workflow_summary
from agentos_runtime.config import TableNames
from agentos_runtime.config.ui import DomainSettings

JSON = dict[str, Any]

# Agno's learnings table; the runtime file has no setting for it.
LEARNINGS_TABLE = "agno_learnings"


def _table_of(domain: str, tables: TableNames) -> str | None:
    return {
        "session": tables.sessions,
        "memory": tables.memories,
        "metrics": tables.metrics,
        "evals": tables.evals,
        "learning": LEARNINGS_TABLE,
    }.get(domain)


def config_view(context: RuntimeContext) -> JSON:
    config = context.config
    databases = context.databases
    view: JSON = {
        "os_id": context.os_id,
        "name": config.name,
        "description": config.description,
        "available_models": available_models(context),
        "os_database": context.default_db_id,
        "databases": list(databases),
        "chat": _dump(config.chat) if config.chat is not None and config.chat.quick_prompts is not None else None,
        "manifest": {k: _dump(v) for k, v in config.manifest.items()} if config.manifest is not None else None,
    }
    for domain in ("session", "metrics", "memory", "learning", "evals"):
        view[domain] = domain_view(domain, getattr(config, domain), databases)
    default = databases[context.default_db_id]
    view["traces"] = domain_view("traces", config.traces, {context.default_db_id: default})
    view["knowledge"] = knowledge_view(context)
    view["agents"] = [agent_summary(agent) for agent in context.agents.values()]
    view["teams"] = [team_summary(team, context) for team in config.teams]
    view["workflows"] = [workflow_summary(workflow, context) for workflow in config.workflows]
    view["interfaces"] = []
    # Agno 3 always reports its background-run queue, and an explicit null company (the UI
    # hides the Company page on null); runs here are never queued.
    view["queue"] = {"durable": False, "queue_per_session": False}
    return {**{k: v for k, v in view.items() if v is not None}, "company": None}


def available_models(context: RuntimeContext) -> list[JSON]:
    """The models the file offers (``available_models``), else those its agents and teams use."""
    chosen = context.config.available_models
    return _unique_models(context, chosen) if chosen is not None else used_models(context)


def used_models(context: RuntimeContext) -> list[JSON]:
    """Unique models (id and provider) the agents and teams use, as Agno's ``/models``."""
    default_model = next(iter(context.models), "")
    chosen = [agent.model.id for agent in context.agents.values()]
    chosen += [team.model or default_model for team in context.config.teams]
    return _unique_models(context, chosen)


def _unique_models(context: RuntimeContext, model_ids: list[str]) -> list[JSON]:
    unique: dict[tuple[str, str], JSON] = {}
    for model_id in model_ids:
        model = context.models.get(model_id)
        if model is not None:
            summary = model_summary(model)
            unique.setdefault((summary["id"], summary["provider"]), summary)
    return list(unique.values())


def domain_view(domain: str, settings: DomainSettings | None, databases: Mapping[str, OpenDatabase]) -> JSON:
    view: JSON = _dump(settings) if settings is not None else {}
    entries: list[JSON] = list(view.get("dbs") or [])
    configured = {entry["db_id"] for entry in entries}
    for db_id, database in databases.items():
        if db_id in configured:
            continue
        entry: JSON = {"db_id": db_id, "domain_config": {"display_name": db_id}}
        table = _table_of(domain, database.config.tables)
        if table is not None:
            entry["tables"] = [table]
        entries.append(entry)
    view["dbs"] = entries
    return view


def knowledge_view(context: RuntimeContext) -> JSON:
    """The file's ``knowledge`` block, with every declared base listed as Agno lists a ``Knowledge``
    (``knowledge_instances``: id, name, description, database, contents table) and its database
    under ``dbs`` (the file's entries win per ``db_id``, as for the other domains)."""
    settings = context.config.knowledge
    view: JSON = _dump(settings) if settings is not None else {}
    dbs: list[JSON] = list(view.get("dbs") or [])
    instances: list[JSON] = list(view.get("knowledge_instances") or [])
    listed = {instance["id"] for instance in instances}
    configured = {entry["db_id"] for entry in dbs}
    for base in context.config.knowledge_bases:
        db_id = base.db or context.default_db_id
        table = context.databases[db_id].config.tables.knowledge
        if base.id not in listed:
            instance: JSON = {"id": base.id, "name": base.display_name, "db_id": db_id, "table": table}
            if base.description is not None:
                instance["description"] = base.description
            instances.append(instance)
        if db_id not in configured:
            configured.add(db_id)
            dbs.append({"db_id": db_id, "domain_config": {"display_name": db_id}, "tables": [table]})
    view["dbs"] = dbs
    view["knowledge_instances"] = instances
    return view


def _dump(model: Any) -> JSON:
    dumped: JSON = model.model_dump(mode="json", exclude_none=True, by_alias=False)
    return dumped
