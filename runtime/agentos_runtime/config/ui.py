"""The Agno AgentOS config keys that drive the control-plane UI (Agno's ``AgentOSConfig``).

Names and meaning follow Agno's YAML exactly: ``chat.quick_prompts``, ``manifest``, and one
domain block per data page (``session``, ``memory``, ``metrics``, ``evals``, ``knowledge``,
``learning``, ``traces``) listing databases with a display name.
"""

from __future__ import annotations

from pydantic import Field

from agentos_runtime.config.base import Schema


class DomainConfig(Schema):
    """How the UI labels one database on a data page."""

    display_name: str | None = Field(default=None, description="Name shown in the UI for this database.")


class DatabaseRef(Schema):
    """A database shown on one data page of the UI."""

    db_id: str = Field(description="Id of a database declared in `databases`.")
    domain_config: DomainConfig | None = Field(
        default=None, description="Display settings for this database on this page."
    )
    tables: list[str] | None = Field(
        default=None, max_length=32, description="Table names the page reads; defaults to the domain's table."
    )


class DomainSettings(Schema):
    """One data page of the UI (sessions, memories, metrics, evals, learnings, traces)."""

    display_name: str | None = Field(default=None, description="Title of the page in the UI.")
    dbs: list[DatabaseRef] | None = Field(
        default=None, max_length=32, description="Databases listed on the page, in order."
    )


class KnowledgeInstance(Schema):
    """A knowledge base advertised to the UI."""

    id: str = Field(description="Knowledge base id.")
    name: str = Field(description="Knowledge base name.")
    description: str | None = Field(default=None, description="What the knowledge base holds.")
    db_id: str = Field(description="Id of the database holding its contents.")
    table: str = Field(description="Table holding its contents.")


class KnowledgeSettings(DomainSettings):
    """The knowledge page of the UI."""

    knowledge_instances: list[KnowledgeInstance] | None = Field(
        default=None, max_length=32, description="Knowledge bases listed on the page."
    )


class ChatSettings(Schema):
    """The chat page of the UI."""

    quick_prompts: dict[str, list[str]] | None = Field(
        default=None,
        description="Suggested prompts per agent, team or workflow id, shown as buttons in the chat.",
    )


class ManifestEntry(Schema):
    """The UI card of one agent, team or workflow."""

    description: str | None = Field(default=None, description="Text of the card.")
    labels: list[str] | None = Field(default=None, description="Labels shown on the card.")
    quick_prompts: list[str] | None = Field(default=None, description="Prompts offered on the card.")
