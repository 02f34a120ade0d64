"""The open runtime the routes serve: the config, its open databases, agents and runs.

``app.py`` builds one ``RuntimeContext`` in the lifespan and puts it on ``app.state``;
routes reach it through ``api/deps.py``. It holds live objects (database connections,
model clients) but no logic beyond lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from agentos_runtime.config import DatabaseConfig, RuntimeConfig
from agentos_runtime.evals.slots import EvalSlots
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs import Agent, RunRegistry
from agentos_runtime.runs.teams import Team
from agentos_runtime.runs.workflows import Workflow
from agentos_runtime.storage.ports import Database

if TYPE_CHECKING:
    from agentos_runtime.knowledge.hub import KnowledgeHub
    from agentos_runtime.tools.mcp.hub import McpHub


@dataclass(frozen=True)
class OpenDatabase:
    """A database as declared, and its open connection."""

    config: DatabaseConfig
    database: Database

    @property
    def table_names(self) -> tuple[str, ...]:
        tables = self.config.tables
        return (tables.sessions, tables.memories, tables.metrics, tables.evals)


@dataclass(frozen=True)
class RuntimeContext:
    os_id: str
    config: RuntimeConfig
    started_at: datetime
    databases: Mapping[str, OpenDatabase]
    """Every open database by id, in declaration order."""
    default_db_id: str
    models: Mapping[str, ChatModel]
    agents: Mapping[str, Agent]
    runs: RunRegistry
    """The runs in flight, to cancel one or wind them all down."""
    eval_slots: EvalSlots
    """The evals this replica runs at once, up to ``AGENTOS_MAX_EVAL_RUNS``."""
    teams: Mapping[str, Team] = field(default_factory=dict)
    """Every declared team by id, in declaration order."""
    workflows: Mapping[str, Workflow] = field(default_factory=dict)
    """Every declared workflow by id, in declaration order."""
    mcp: McpHub | None = None
    """The connections to the declared MCP servers (none declared: ``None``)."""
    knowledge: KnowledgeHub | None = None
    """The declared knowledge bases, open and started (none declared: ``None``)."""
