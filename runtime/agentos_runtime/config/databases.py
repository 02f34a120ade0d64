"""Database declarations: embedded SQLite, PostgreSQL or Redis, with Agno's table names."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from agentos_runtime.config.base import ID_MAX_LENGTH, ID_PATTERN, Schema
from agentos_runtime.config.llm import ENV_NAME_PATTERN

DatabaseType = Literal["sqlite", "postgres", "redis"]

# Where each type takes its URL from when the file does not say (the deployment guide's names).
DEFAULT_URL_ENV: dict[str, str] = {"postgres": "DATABASE_URL", "redis": "REDIS_URL"}


# Tables the runtime keeps beside the declared ones, under these names whatever is declared: each
# run of a session (Agno's name), the schema version of each table (Agno's), and the runtime's own.
RUNS_TABLE = "agno_runs"
VERSIONS_TABLE = "agno_schema_versions"
MIGRATIONS_TABLE = "agentos_schema_versions"
CANCELS_TABLE = "agentos_run_cancels"
RESERVED_TABLES = (RUNS_TABLE, VERSIONS_TABLE, MIGRATIONS_TABLE, CANCELS_TABLE)
# SQLite keeps its own tables under this prefix and refuses it to any other.
SQLITE_PREFIX = "sqlite_"
# Indexes are named `idx_<table>_<column>` (the longest column, `aggregation_period`): a longer
# table name would make PostgreSQL cut index names at 63 characters, and two could become one.
DECLARED_TABLE_MAX_LENGTH = 40
# Letters, digits, `_`, `-` and spaces (quoted in SQL), starting with a letter or `_`: Agno's names,
# and names of one's own, but no quote or control character.
DECLARED_TABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_ -]*$"


def _table(default: str, description: str) -> str:
    found: str = Field(
        default=default, pattern=DECLARED_TABLE_PATTERN, max_length=DECLARED_TABLE_MAX_LENGTH, description=description
    )
    return found


def reserved_table_problem(name: str) -> str | None:
    """Why no declared table may be named ``name`` (the runtime or SQLite keeps one so), else None."""
    # SQLite's names, and so the same names in any case, are one table.
    if name.casefold() in RESERVED_TABLES:
        return f"'{name}' is a table the runtime keeps beside the declared ones: choose another name"
    if name.casefold().startswith(SQLITE_PREFIX):
        return f"'{name}': SQLite keeps the tables named '{SQLITE_PREFIX}...' for itself: choose another name"
    return None


class TableNames(Schema):
    """Table (or, on Redis, key-space) names; Agno's defaults so Agno can share the database."""

    sessions: str = _table("agno_sessions", "Table of sessions with their runs.")
    memories: str = _table("agno_memories", "Table of user memories.")
    metrics: str = _table("agno_metrics", "Table of daily metrics.")
    evals: str = _table("agno_eval_runs", "Table of evaluation runs.")
    knowledge: str = _table("agno_knowledge", "Table of knowledge contents (one row per document, every base).")

    @model_validator(mode="after")
    def _apart(self) -> TableNames:
        named: dict[str, str] = {}
        for field, name in self.by_field().items():
            problem = reserved_table_problem(name)
            if problem is not None:
                raise ValueError(f"{field}: {problem}")
            same = named.get(name.casefold())
            if same is not None:
                both = f"'{name}'" if getattr(self, same) == name else f"'{getattr(self, same)}' and '{name}'"
                raise ValueError(f"{same} and {field} are both {both} (one table to SQLite): give each its own name")
            named[name.casefold()] = field
        return self

    def by_field(self) -> dict[str, str]:
        """Each declared table's name, by its field."""
        return {field: getattr(self, field) for field in type(self).model_fields}


class DatabaseFields(Schema):
    """Fields of a database that the runtime file and the custom resource share."""

    id: str = Field(
        pattern=ID_PATTERN,
        max_length=ID_MAX_LENGTH,
        description="Unique id that agents and UI pages use to refer to this database.",
    )
    type: DatabaseType = Field(description="`sqlite` (embedded file), `postgres` or `redis`.")
    db_schema: str = Field(
        default="ai",
        pattern=r"^[a-z_][a-z0-9_]*$",
        # PostgreSQL cuts longer names to 63 characters: two longer names could be one schema.
        max_length=63,
        description="PostgreSQL schema holding the tables.",
    )
    key_prefix: str = Field(
        default="agno",
        min_length=1,
        description=(
            "Redis key prefix: keys are `<prefix>:<kind>:<id>` (`agno:sessions:s1`), as Agno's RedisDb "
            "writes them; two Redis databases on one server need prefixes that do not nest."
        ),
    )
    timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description=(
            "PostgreSQL: the longest a statement may run or wait for another client's lock (the server's "
            "`statement_timeout` and `lock_timeout`), and a transaction of a client cut off may stay idle "
            "(`idle_in_transaction_session_timeout`); a server that does not answer at all is given up 1 s "
            "later. The request then answers 503 and a run ends with RunError. Knowledge on it: searches and "
            "listings are bounded the same way on the client (a run's search gets a tool error); ingestion writes "
            "and index creation are not. The start and a request wait for a knowledge base's setup at most this "
            "and 1 s, on SQLite too (the setup goes on). Redis gives up after 3 s."
        ),
    )
    behind_pooler: bool = Field(
        default=False,
        description=(
            "PostgreSQL: the URL points at a connection pooler (PgBouncer, the pooled endpoint of a hosted "
            "PostgreSQL), which refuses startup options and, in transaction mode, loses prepared statements: "
            "the server's own timeouts are then not sent (bound queries in the pooler, e.g. PgBouncer's "
            "`query_timeout`; the client-side bound still applies), no statement is prepared, and a read of several "
            "statements sends them one at a time (a pipeline's trailing flush would keep a pooled server connection "
            "for this client)."
        ),
    )
    tables: TableNames = Field(
        default_factory=TableNames,
        description=(
            "Table names (SQLite and PostgreSQL). Redis has no tables: its keys are named by kind "
            "(`sessions`, `memories`, ...) whatever is set here, as in Agno's RedisDb; the key prefix keeps two apart."
        ),
    )

    @field_validator("db_schema")
    @classmethod
    def _not_the_systems(cls, schema: str) -> str:
        if schema.startswith("pg_") or schema == "information_schema":
            raise ValueError(f"'{schema}' is PostgreSQL's own (pg_*, information_schema): choose another schema")
        return schema

    def server(self) -> object:
        """What tells this database's server apart from another's (the URL itself is never in the config)."""
        return self.id


class DatabaseConfig(DatabaseFields):
    """A database in the runtime file. Its URL is read from the environment, never from the file."""

    url_env: str | None = Field(
        default=None,
        pattern=ENV_NAME_PATTERN,
        description="Environment variable holding the URL (default `DATABASE_URL` for postgres, `REDIS_URL` for redis).",
    )
    path: str | None = Field(
        default=None,
        min_length=1,
        description="SQLite file path (default: `<data dir>/<id>.db`); two databases may not share one file.",
    )

    @property
    def url_env_name(self) -> str | None:
        return self.url_env or DEFAULT_URL_ENV.get(self.type)

    def server(self) -> object:
        return self.url_env_name
