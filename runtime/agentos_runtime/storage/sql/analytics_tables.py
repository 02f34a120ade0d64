"""The daily metrics and eval-run tables, column for column, index for index, as Agno 3 creates them.

``agno_metrics`` holds one row per owner (``user_id``, ``""`` when a session has none, since
SQL treats NULLs as distinct and the unique constraint would not hold), day and period.
``agno_eval_runs`` holds one row per evaluation. ``tables.build_tables`` adds both to the
metadata it creates.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine


def _json() -> TypeEngine[Any]:
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _count(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=False, server_default=text("0"))


def metrics_table(metadata: MetaData, name: str, schema: str | None) -> Table:
    table = Table(
        name,
        metadata,
        Column("id", String, primary_key=True, nullable=False),
        _count("agent_runs_count"),
        _count("team_runs_count"),
        _count("workflow_runs_count"),
        _count("agent_sessions_count"),
        _count("team_sessions_count"),
        _count("workflow_sessions_count"),
        _count("users_count"),
        Column("token_metrics", _json(), nullable=False),
        Column("model_metrics", _json(), nullable=False),
        Column("date", Date, nullable=False),
        Column("aggregation_period", String, nullable=False),
        Column("user_id", String, nullable=False, server_default=text("''")),
        Column("created_at", BigInteger, nullable=False),
        Column("updated_at", BigInteger),
        Column("completed", Boolean, nullable=False, server_default=false()),
        UniqueConstraint("user_id", "date", "aggregation_period", name=f"{name}_uq_metrics_user_date_period"),
        schema=schema,
    )
    for column in ("date", "user_id"):
        Index(f"idx_{name}_{column}", table.c[column])
    # Agno indexes the period on SQLite only.
    Index(f"idx_{name}_aggregation_period", table.c.aggregation_period).ddl_if(dialect="sqlite")
    return table


def evals_table(metadata: MetaData, name: str, schema: str | None) -> Table:
    table = Table(
        name,
        metadata,
        Column("run_id", String, primary_key=True, nullable=False),
        Column("eval_type", String, nullable=False),
        Column("eval_data", _json(), nullable=False),
        Column("eval_input", _json(), nullable=False),
        Column("name", String),
        Column("agent_id", String),
        Column("team_id", String),
        Column("workflow_id", String),
        Column("model_id", String),
        Column("model_provider", String),
        Column("evaluated_component_name", String),
        Column("user_id", String),
        Column("created_at", BigInteger, nullable=False),
        Column("updated_at", BigInteger),
        schema=schema,
    )
    for column in ("user_id", "created_at"):
        Index(f"idx_{name}_{column}", table.c[column])
    return table
