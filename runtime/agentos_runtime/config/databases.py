"""Database declarations: embedded SQLite, PostgreSQL or Redis, with Agno's table names."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agentos_runtime.config.base import ID_MAX_LENGTH, ID_PATTERN, Schema
from agentos_runtime.config.llm import ENV_NAME_PATTERN

DatabaseType = Literal["sqlite", "postgres", "redis"]

# Where each type takes its URL from when the file does not say (the deployment guide's names).
DEFAULT_URL_ENV: dict[str, str] = {"postgres": "DATABASE_URL", "redis": "REDIS_URL"}


class TableNames(Schema):
    """Table (or, on Redis, key-space) names; Agno's defaults so Agno can share the database."""

    sessions: str = Field(default="agno_sessions", description="Table of sessions with their runs.")
    memories: str = Field(default="agno_memories", description="Table of user memories.")
    metrics: str = Field(default="agno_metrics", description="Table of daily metrics.")
    evals: str = Field(default="agno_eval_runs", description="Table of evaluation runs.")
    knowledge: str = Field(
        default="agno_knowledge", description="Table of knowledge contents (one row per document, every base)."
    )


class DatabaseFields(Schema):
    """Fields of a database that the runtime file and the custom resource share."""

    id: str = Field(
        pattern=ID_PATTERN,
        max_length=ID_MAX_LENGTH,
        description="Unique id that agents and UI pages use to refer to this database.",
    )
    type: DatabaseType = Field(description="`sqlite` (embedded file), `postgres` or `redis`.")
    db_schema: str = Field(
        default="ai", pattern=r"^[a-z_][a-z0-9_]*$", description="PostgreSQL schema holding the tables."
    )
    key_prefix: str = Field(default="agno", min_length=1, description="Redis key prefix.")
    tables: TableNames = Field(default_factory=TableNames, description="Table names.")


class DatabaseConfig(DatabaseFields):
    """A database in the runtime file. Its URL is read from the environment, never from the file."""

    url_env: str | None = Field(
        default=None,
        pattern=ENV_NAME_PATTERN,
        description="Environment variable holding the URL (default `DATABASE_URL` for postgres, `REDIS_URL` for redis).",
    )
    path: str | None = Field(
        default=None, min_length=1, description="SQLite file path (default: `<data dir>/<id>.db`)."
    )

    @property
    def url_env_name(self) -> str | None:
        return self.url_env or DEFAULT_URL_ENV.get(self.type)
