"""The ``<name>-config`` ConfigMap: the runtime's config file, derived from the spec.

The file is the runtime's own format (snake_case, Agno's keys). Secret references become the
names of environment variables (see ``environment``), embedded SQLite files get a path on
the data volume and knowledge sources in ConfigMaps the directory they are mounted at (see
``knowledge``), so the file holds no secret and the runtime loads it unchanged.
"""

from __future__ import annotations

from typing import Any

import yaml
from agentos_runtime.config import RuntimeConfigFields, parse_config

from agentos_operator.render import layout
from agentos_operator.render.environment import Environment
from agentos_operator.render.knowledge import knowledge_base_entries
from agentos_operator.resources import AgentOSResource
from agentos_operator.spec import McpServerSpec

_SHARED_FIELDS = frozenset(RuntimeConfigFields.model_fields)


def runtime_config_data(resource: AgentOSResource, environment: Environment) -> dict[str, Any]:
    """The runtime config as plain data: the spec's shared fields, models and databases rewired."""
    spec = resource.spec
    data = spec.model_dump(mode="json", by_alias=False, exclude_defaults=True, include=set(_SHARED_FIELDS))
    data["os_id"] = spec.os_id or resource.name
    models = []
    for model in spec.models:
        entry = model.model_dump(mode="json", by_alias=False, exclude_defaults=True, exclude={"api_key_secret_ref"})
        models.append({**entry, "api_key_env": environment.model_env[model.id]})
    databases = []
    for database in spec.databases:
        entry = database.model_dump(
            mode="json", by_alias=False, exclude_defaults=True, exclude={"url_secret_ref", "cnpg_cluster_ref"}
        )
        if database.type == "sqlite":
            entry["path"] = f"{layout.DATA_DIR}/{database.id}.db"
        else:
            entry["url_env"] = environment.database_env[database.id]
        databases.append(entry)
    mcp_servers = [_mcp_server_entry(server, environment) for server in spec.mcp_servers]
    knowledge_bases = knowledge_base_entries(resource, environment)
    if models:
        data["models"] = models
    if mcp_servers:
        data["mcp_servers"] = mcp_servers
    if databases:
        data["databases"] = databases
    if knowledge_bases:
        data["knowledge_bases"] = knowledge_bases
    return data


def _mcp_server_entry(server: McpServerSpec, environment: Environment) -> dict[str, Any]:
    """A server as the runtime declares it: each Secret reference becomes the variable holding it."""
    entry = server.model_dump(mode="json", by_alias=False, exclude_defaults=True, exclude={"headers", "env", "sidecar"})
    if server.sidecar is not None:
        entry["url"] = server.server_url
    for kind, items in (("headers", server.headers), ("env", server.env)):
        values = []
        for item in items:
            if item.value_secret_ref is None:
                values.append({"name": item.name, "value": item.value})
            else:
                values.append({"name": item.name, "value_env": environment.mcp_env[(server.id, kind, item.name)]})
        if values:
            entry[kind] = values
    return entry


def render_config_text(resource: AgentOSResource, environment: Environment) -> str:
    """The config file's text, checked by the runtime's own loader before it is returned.

    Raises ``agentos_runtime.config.ConfigError`` only if the spec's checks let through
    something the runtime rejects (a bug: tests load every example back).
    """
    data = runtime_config_data(resource, environment)
    parse_config(data)
    header = f"# Rendered from AgentOSConfig {resource.namespace}/{resource.name}: edit the resource, not this file.\n"
    return header + yaml.safe_dump(data, sort_keys=True, allow_unicode=True, default_flow_style=False)


def render_config_map(resource: AgentOSResource, environment: Environment) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": layout.object_metadata(
            layout.config_map_name(resource.name),
            resource.namespace,
            owner_name=resource.name,
            owner_uid=resource.uid,
        ),
        "data": {layout.CONFIG_KEY: render_config_text(resource, environment)},
    }
