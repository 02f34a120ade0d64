"""Stored records the runtime cannot read, written around it: raw Redis keys, SQL rows with
values the runtime never writes (SQLite keeps any value in any column)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.storage.factory import sqlite_path
from redis.asyncio import Redis

from tests.support.databases import postgres_url, redis_url


class Damage:
    """Writes records the runtime cannot read into the database of ``config``, around the runtime."""

    def __init__(self, kind: str, config: DatabaseConfig, data_dir: Path) -> None:
        self.kind = kind
        self.config = config
        self.data_dir = data_dir

    async def sql(self, statement: str, *params: Any) -> None:
        schema = self.config.db_schema
        if self.kind == "sqlite":
            statement = statement.replace("{schema}.", "").replace("%s", "?")
            with sqlite3.connect(sqlite_path(self.config, self.data_dir)) as connection:
                connection.execute(statement, params)
            return
        async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as connection:
            await connection.execute(statement.replace("{schema}", f'"{schema}"'), params)  # type: ignore[arg-type]

    async def redis_set(self, table: str, record_id: str, value: str) -> None:
        client = Redis.from_url(redis_url())
        try:
            await client.set(f"{self.config.key_prefix}:{table}:{record_id}", value)
        finally:
            await client.aclose()

    async def session(self, session_id: str) -> str:
        """A session that cannot be read; the text of the damage (never to be logged)."""
        if self.kind == "redis":
            await self.redis_set("sessions", session_id, "notjson")
            return "notjson"
        if self.kind == "sqlite":  # SQLite keeps any value in any column
            await self.sql(
                "INSERT INTO agno_sessions (session_id, session_type, created_at) VALUES (%s, 'agent', 'x1y2')",
                session_id,
            )
            return "x1y2"
        await self.sql(
            "INSERT INTO {schema}.agno_sessions (session_id, session_type, created_at) VALUES (%s, 'bogus7', 1)",
            session_id,
        )
        return "bogus7"

    async def run(self, run_id: str) -> str:
        """The stored run ``run_id`` made unreadable (it must exist); the text of the damage."""
        if self.kind == "redis":
            await self.redis_set("runs", run_id, "[notjson")
            return "[notjson"
        await self.sql("UPDATE {schema}.agno_runs SET run_data = %s WHERE run_id = %s", '["r9z"]', run_id)
        return "r9z"

    async def memory(self, memory_id: str) -> str | None:
        if self.kind == "redis":
            await self.redis_set("memories", memory_id, "garbage")
            return "garbage"
        if self.kind == "sqlite":
            await self.sql(
                "INSERT INTO agno_memories (memory_id, memory, topics, created_at) VALUES (%s, '\"m\"', '[\"t\"]', 'q8w')",
                memory_id,
            )
            return "q8w"
        return None  # PostgreSQL's column types keep every memory row readable

    async def metrics_row(self, record_id: str, *, completed: bool) -> str | None:
        """A metrics row whose date is no day, stored under ``record_id``; the text of the damage."""
        if self.kind == "redis":
            await self.redis_set(
                "metrics", record_id, f'{{"id":"{record_id}","date":"m3t","completed":{str(completed).lower()}}}'
            )
            return "m3t"
        if self.kind == "sqlite":
            await self.sql(
                "INSERT INTO agno_metrics (id, token_metrics, model_metrics, date, aggregation_period, created_at, "
                "completed) VALUES (%s, '{}', '[]', 'm3t', 'daily', 1, %s)",
                record_id,
                completed,
            )
            return "m3t"
        return None  # PostgreSQL's column types keep every metrics row readable

    async def eval(self, run_id: str) -> str | None:
        if self.kind == "redis":
            await self.redis_set("evals", run_id, f'{{"run_id":"{run_id}","zz":"e5v"}}')
            return "e5v"
        if self.kind == "sqlite":
            await self.sql(
                "INSERT INTO agno_eval_runs (run_id, eval_type, eval_data, eval_input, created_at) "
                "VALUES (%s, 'accuracy', '{}', '{}', 'e5v')",
                run_id,
            )
            return "e5v"
        return None  # as for memories
