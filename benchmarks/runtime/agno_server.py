"""Agno's own AgentOS serving the benchmark agent (run with benchmarks/.venv-agno/bin/python).

The same agent as ours: one OpenAIChat model on the local model server, history of the last 3
runs, sessions in a SQLite file (``--db-file``), Agno's ``PostgresDb`` (``--postgres-url`` and a
schema of its own) or Agno's ``RedisDb`` (``--redis-url`` and a key prefix of its own).
"""

from __future__ import annotations

import argparse

import uvicorn
from agno.agent import Agent
from agno.db.base import BaseDb
from agno.db.sqlite import SqliteDb
from agno.models.openai import OpenAIChat
from agno.os import AgentOS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model-url", required=True)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--db-file", help="a SQLite file")
    where.add_argument("--postgres-url", help="a PostgreSQL URL (postgresql+psycopg://...)")
    where.add_argument("--redis-url", help="a Redis URL")
    parser.add_argument("--namespace", default="agno", help="the PostgreSQL schema or Redis key prefix")
    args = parser.parse_args()
    agent = Agent(
        id="bench",
        name="Bench",
        model=OpenAIChat(id="fake-model", base_url=args.model_url, api_key="benchmark-key"),
        instructions=["Answer briefly."],
        db=_database(args),
        add_history_to_context=True,
        num_history_runs=3,
    )
    app = AgentOS(id="bench-os", agents=[agent]).get_app()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


def _database(args: argparse.Namespace) -> BaseDb:
    if args.postgres_url:
        from agno.db.postgres import PostgresDb

        return PostgresDb(db_url=args.postgres_url, db_schema=args.namespace)
    if args.redis_url:
        from agno.db.redis import RedisDb

        return RedisDb(db_url=args.redis_url, db_prefix=args.namespace)
    return SqliteDb(db_file=args.db_file)


if __name__ == "__main__":
    main()
