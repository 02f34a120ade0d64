"""Serving the runtime with knowledge bases for tests: on SQLite, or on the pgvector server.

The shared PostgreSQL of ``scripts/services.sh`` has no pgvector, so the ``pgvector`` backend
serves the config's databases on this process's pgvector server (``pgvector_url()``), each in
a schema of its own, dropped afterwards. Embeddings come from the fake OpenAI server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.runtime.api.harness import Served, agent_config, serve_on
from tests.support.pgvector_server import pgvector_url

KNOWLEDGE_BACKENDS = ("sqlite", "pgvector")
DIMENSIONS = 64
UNREACHABLE = "http://127.0.0.1:9/v1"


def embedder(base_url: str) -> dict[str, Any]:
    return {"base_url": base_url, "api_key_env": None, "dimensions": DIMENSIONS, "max_retries": 0}


def knowledge_config(model_url: str, *bases: dict[str, Any], **document: Any) -> str:
    """One agent on the fake model and the knowledge ``bases`` (id, and anything else)."""
    config = yaml.safe_load(agent_config(model_url))
    config["knowledge_bases"] = [{"embedder": embedder(model_url), **base} for base in bases]
    config.update(document)
    return yaml.safe_dump(config)


@asynccontextmanager
async def serve_knowledge(kind: str, config_text: str, tmp_path: Path, **kw: Any) -> AsyncIterator[Served]:
    """``config_text`` on SQLite, or on the pgvector server in schemas of its own, dropped after."""
    if kind == "sqlite":
        async with serve_on("sqlite", config_text, tmp_path, **kw) as served:
            yield served
        return
    url = pgvector_url()
    schemas: list[str] = []
    try:
        async with serve_on("postgres", config_text, tmp_path, urls={"DATABASE_URL": url}, **kw) as served:
            schemas = [str(opened.config.db_schema) for opened in served.context.databases.values()]
            yield served
    finally:
        import psycopg

        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
            for schema in schemas:
                await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
