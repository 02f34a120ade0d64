"""Agno's own knowledge, driven by the benchmark (run with benchmarks/.venv-agno/bin/python).

``Knowledge`` with ``PgVector`` (chunks, schema ``ai`` by default) and ``PostgresDb`` (the
``agno_knowledge`` contents table) on the benchmark's pgvector server, Agno's
``OpenAIEmbedder`` on the fake OpenAI server's embeddings, batched as ours (``enable_batch``, 100 texts
per request; Agno's default is one request per chunk), and Agno's ``TextReader`` with
``FixedSizeChunking`` at the benchmark's chunk size. Documents go in one after another through
``Knowledge.ainsert(text_content=...)``, which returns once they are stored; searches through
``Knowledge.asearch``. Agno's defaults otherwise (no vector index: ``PgVector`` builds one only
when ``optimize()`` is called).

    benchmarks/.venv-agno/bin/python -m benchmarks.knowledge.agno_side '<Spec as JSON>'

prints the figures as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from benchmarks.knowledge.dataset import Document
from benchmarks.knowledge.measure import Spec, measure


class AgnoSide:
    def __init__(self, spec: Spec) -> None:
        from agno.db.postgres import PostgresDb
        from agno.knowledge.chunking.fixed import FixedSizeChunking
        from agno.knowledge.embedder.openai import OpenAIEmbedder
        from agno.knowledge.knowledge import Knowledge
        from agno.knowledge.reader.text_reader import TextReader
        from agno.vectordb.pgvector import PgVector

        if spec.postgres_url is None:
            raise ValueError("Agno's side runs on PostgreSQL: the spec needs postgres_url")
        url = spec.postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
        embedder = OpenAIEmbedder(
            id="text-embedding-3-small",
            dimensions=spec.dimensions,
            base_url=spec.embedder_url,
            api_key="benchmark-key",
            enable_batch=True,
            batch_size=100,
        )
        self.vector_db = PgVector(table_name=spec.table, schema=spec.schema, db_url=url, embedder=embedder)
        self.knowledge = Knowledge(
            name="bench",
            vector_db=self.vector_db,
            contents_db=PostgresDb(db_url=url, db_schema=spec.schema),
            max_results=spec.max_results,
        )
        self.reader = TextReader(chunking_strategy=FixedSizeChunking(chunk_size=spec.chunk_chars))

    @property
    def measured_pid(self) -> int:
        return os.getpid()

    async def ingest(self, batch: Sequence[Document]) -> None:
        for document in batch:
            await self.knowledge.ainsert(name=document.name, text_content=document.text, reader=self.reader)

    async def chunk_count(self) -> int:
        return int(self.vector_db.get_count())

    async def search(self, query: str, limit: int) -> list[str]:
        return [hit.content for hit in await self.knowledge.asearch(query, max_results=limit)]


async def _main(spec: Spec) -> dict[str, Any]:
    side = AgnoSide(spec)
    return await measure(side, spec)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_main(Spec.from_json(sys.argv[1])))))
