"""PostgreSQL's side of the knowledge tables: Agno's layouts as DDL, and embeddings in binary.

The contents table is Agno's ``PostgresDb`` ``agno_knowledge`` (stamped in
``agno_schema_versions`` so Agno's migrations leave it alone); a chunk table is Agno's
``PgVector`` table with its indexes, and the HNSW cosine index Agno's ``optimize`` makes (its
name, ``m`` and ``ef_construction``) when pgvector can index that many dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from pgvector import Vector
from psycopg.adapt import Dumper
from psycopg.pq import Format

from agentos_runtime.storage.sql.executing import Step
from agentos_runtime.storage.sql.statements import Statement, quote

# pgvector's HNSW index holds vectors of at most this many dimensions (Agno indexes none above).
HNSW_MAX_DIMENSIONS = 2000
# Agno's ``HNSW()`` defaults, so an index made here is the one Agno's ``optimize`` makes.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
# Agno's stamp on tables it did not have to migrate (see storage.sql.tables).
AGNO_SCHEMA_VERSION = "3.0.0"


def creation_steps(
    *, schema: str, contents_table: str, chunks_table: str, dimensions: int, create_extension: bool, hnsw: bool
) -> list[Step]:
    """The statements creating what is missing of a base's tables and indexes (idempotent),
    ``agno_schema_versions`` among them (``contents_stamp`` stamps the contents table there)."""
    contents, chunks, namespace = contents_table, chunks_table, quote(schema)
    contents_sql = f"{namespace}.{quote(contents)}"
    chunks_sql = f"{namespace}.{quote(chunks)}"
    sql = [] if not create_extension else ["CREATE EXTENSION IF NOT EXISTS vector"]
    sql += [
        f"CREATE SCHEMA IF NOT EXISTS {namespace}",
        f"CREATE TABLE IF NOT EXISTS {contents_sql} (id VARCHAR NOT NULL PRIMARY KEY, name VARCHAR NOT NULL, "
        "description TEXT NOT NULL, metadata JSONB, type VARCHAR, size BIGINT, linked_to VARCHAR, "
        "access_count BIGINT, status VARCHAR, status_message TEXT, created_at BIGINT, updated_at BIGINT, "
        "external_id VARCHAR, user_id VARCHAR)",
        # Tables Agno 2 made have no ``user_id`` yet (Agno 3 adds it the same way).
        f"ALTER TABLE {contents_sql} ADD COLUMN IF NOT EXISTS user_id VARCHAR",
        f"CREATE INDEX IF NOT EXISTS {quote(f'idx_{contents}_user_id')} ON {contents_sql} (user_id)",
        f"CREATE INDEX IF NOT EXISTS {quote(f'idx_{contents}_user_id_linked_to')} "
        f"ON {contents_sql} (user_id, linked_to)",
        f"CREATE TABLE IF NOT EXISTS {namespace}.agno_schema_versions (table_name VARCHAR NOT NULL PRIMARY KEY, "
        "version VARCHAR NOT NULL, created_at VARCHAR NOT NULL, updated_at VARCHAR)",
        f"CREATE TABLE IF NOT EXISTS {chunks_sql} (id VARCHAR NOT NULL PRIMARY KEY, name VARCHAR, "
        "meta_data JSONB DEFAULT '{}'::jsonb, filters JSONB DEFAULT '{}'::jsonb, content TEXT, "
        f"embedding vector({dimensions}), usage JSONB, created_at TIMESTAMP WITH TIME ZONE DEFAULT now(), "
        "updated_at TIMESTAMP WITH TIME ZONE, content_hash VARCHAR, content_id VARCHAR, user_id VARCHAR)",
    ]
    sql += [f"ALTER TABLE {chunks_sql} ADD COLUMN IF NOT EXISTS user_id VARCHAR"]
    sql += [
        f"CREATE INDEX IF NOT EXISTS {quote(f'idx_{chunks}_{column}')} ON {chunks_sql} ({column})"
        for column in ("id", "name", "content_hash", "content_id", "user_id")
    ]
    if hnsw and dimensions <= HNSW_MAX_DIMENSIONS:
        sql.append(
            f"CREATE INDEX IF NOT EXISTS {quote(f'{chunks}_hnsw_index')} ON {chunks_sql} "
            f"USING hnsw (embedding vector_cosine_ops) WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
        )
    return [(Statement(statement), {}) for statement in sql]


def contents_stamp(schema: str, contents_table: str) -> Step:
    """The statement stamping the contents table as made, when it is not yet (Agno's migrations
    leave a stamped table alone)."""
    return (
        Statement(
            f"INSERT INTO {quote(schema)}.agno_schema_versions (table_name, version, created_at, updated_at) "
            "VALUES (%(table)s, %(version)s, extract(epoch FROM now())::bigint::text, "
            "extract(epoch FROM now())::bigint::text) ON CONFLICT (table_name) DO NOTHING"
        ),
        {"table": contents_table, "version": AGNO_SCHEMA_VERSION},
    )


class Embedding:
    """An embedding sent in pgvector's binary format (formatting 1,536 floats as text costs about
    a millisecond of CPU per chunk; packing them, a few microseconds)."""

    __slots__ = ("values",)

    def __init__(self, values: Sequence[float]) -> None:
        self.values = values


class _EmbeddingDumper(Dumper):
    """pgvector's ``vector_recv`` input, as the pgvector package writes it. No type oid: the
    statement casts the parameter (``%(x)b::vector``), so the server reads it as its database's
    ``vector``, whatever oid the extension got there."""

    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return bytes(Vector(list(obj.values)).to_binary())


# Only for our own ``Embedding`` type: no other value is dumped differently.
psycopg.adapters.register_dumper(Embedding, _EmbeddingDumper)
