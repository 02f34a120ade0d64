"""Our knowledge, driven by the benchmark: in-process (``KnowledgeBase``) or through the runtime's HTTP API.

Both use one knowledge base (chunks of the benchmark's size, cut by the ``fixed`` strategy
unless the spec says ``recursive``; the fake embedder, batches of 100) on PostgreSQL with pgvector or on the embedded SQLite file with sqlite-vec,
built from the same runtime file.

- ``inprocess``, as Agno's side is measured: the worker opens the base as the runtime does
  (``open_knowledge``, the hub started), adds each document with ``KnowledgeBase.add`` (text),
  waits with ``wait_idle`` and searches with ``KnowledgeBase.search``; the CPU measured is the
  worker's.
- ``http``: the worker starts ``agentos serve`` pinned to CPU 0 and moves itself to CPU 1; it
  uploads with ``POST /knowledge/content`` (``text_content``, a few in flight), waits until
  ``GET /knowledge/content/{id}/status`` says ``completed`` and searches with ``POST
  /knowledge/search``; the CPU measured is the server's.

Chunks are counted by the store (in-process) or read from the runtime's Prometheus metrics
(``agentos_knowledge_chunks``; no route counts them). Nothing else opens the database: a
second SQLite library on the same file in one process would break SQLite's locking.

    .venv/bin/python -m benchmarks.knowledge.ours_side pgvector|sqlite inprocess|http '<Spec as JSON>'

prints the figures as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import yaml

from benchmarks.knowledge.dataset import Document
from benchmarks.knowledge.measure import Spec, measure
from benchmarks.runtime.run import DRIVER_CPU, ROOT, SERVER_CPU, Running, running, wait_healthy
from tests.support.ports import free_port

if TYPE_CHECKING:
    from agentos_runtime.knowledge.hub import KnowledgeHub

BASE_ID = "bench"
UPLOADS_IN_FLIGHT = 4
STATUS_POLL_S = 0.05


def runtime_config(backend: str, spec: Spec) -> dict[str, Any]:
    """The runtime file: one knowledge base, on the declared PostgreSQL or on the default SQLite file."""
    base: dict[str, Any] = {
        "id": BASE_ID,
        "table": spec.table,
        "chunking": {"strategy": spec.ours_chunking, "size": spec.chunk_chars, "overlap": 0},
        "max_results": spec.max_results,
        "vector_index": spec.ours_vector_index,
        "embedder": {
            "model": "text-embedding-3-small",
            "base_url": spec.embedder_url,
            "dimensions": spec.dimensions,
            "batch_size": 100,
            "api_key_env": "BENCH_EMBEDDER_KEY",
        },
    }
    databases: list[dict[str, Any]] = []
    if backend == "pgvector":
        databases = [{"id": "bench-db", "type": "postgres", "db_schema": spec.schema}]
        base["db"] = "bench-db"
    return {"os_id": "bench-knowledge", "databases": databases, "knowledge_bases": [base]}


class OursOverHttp:
    def __init__(self, spec: Spec, server: Running, port: int, metrics_port: int) -> None:
        self.spec = spec
        self.server = server
        self.base = f"http://127.0.0.1:{port}"
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=UPLOADS_IN_FLIGHT))

    @property
    def measured_pid(self) -> int:
        return self.server.pid

    async def ingest(self, batch: Sequence[Document]) -> None:
        todo = iter(batch)
        ids: list[str] = []

        async def upload() -> None:
            for document in todo:
                form = aiohttp.FormData({"name": document.name, "text_content": document.text})
                async with self.http.post(f"{self.base}/knowledge/content", data=form) as response:
                    body = await response.json()
                    if response.status != 202:
                        raise RuntimeError(f"upload answered {response.status}: {body}")
                    ids.append(body["id"])

        await asyncio.gather(*(upload() for _ in range(UPLOADS_IN_FLIGHT)))
        for content_id in ids:
            await self._wait_completed(content_id)

    async def _wait_completed(self, content_id: str) -> None:
        while True:
            async with self.http.get(f"{self.base}/knowledge/content/{content_id}/status") as response:
                body = await response.json()
            if body.get("status") == "completed":
                return
            if body.get("status") != "processing":
                raise RuntimeError(f"content {content_id} ended {body}")
            if self.server.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.server.stderr_tail()}")
            await asyncio.sleep(STATUS_POLL_S)

    async def chunk_count(self) -> int:
        return await metrics_chunks(self.http, self.metrics_url)

    async def search(self, query: str, limit: int) -> list[str]:
        payload = {"query": query, "max_results": limit}
        async with self.http.post(f"{self.base}/knowledge/search", json=payload) as response:
            body = await response.json()
            if response.status != 200:
                raise RuntimeError(f"search answered {response.status}: {body}")
        return [hit["content"] for hit in body["data"]]

    async def close(self) -> None:
        await self.http.close()


async def metrics_chunks(http: aiohttp.ClientSession, metrics_url: str) -> int:
    """The base's chunks as the runtime's Prometheus metrics report them (refreshed after each content)."""
    async with http.get(metrics_url) as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(f'agentos_knowledge_chunks{{knowledge_base="{BASE_ID}"}}'):
            return int(float(line.rsplit(" ", 1)[1]))
    raise RuntimeError("the runtime's metrics do not report the knowledge base's chunks")


def data_dir(spec: Spec) -> Path:
    return Path(spec.work_dir) / "data"


def serve(backend: str, spec: Spec, stack: ExitStack) -> tuple[Running, int, int]:
    config = Path(spec.work_dir) / "agentos.yaml"
    config.write_text(yaml.safe_dump(runtime_config(backend, spec)))
    port = free_port()
    argv = [str(ROOT / ".venv" / "bin" / "agentos"), "serve", "--config", str(config), "--port", str(port)]
    argv += ["--data-dir", str(data_dir(spec))]
    metrics_port = free_port()
    env = {"BENCH_EMBEDDER_KEY": "benchmark-key", "AGENTOS_METRICS_PORT": str(metrics_port)}
    if spec.postgres_url is not None:
        env["DATABASE_URL"] = spec.postgres_url
    server = stack.enter_context(running(argv, env, SERVER_CPU))
    wait_healthy(f"http://127.0.0.1:{port}/health", server)
    wait_healthy(f"http://127.0.0.1:{port}/ready", server)
    return server, port, metrics_port


class OursInProcess:
    def __init__(self, hub: KnowledgeHub) -> None:
        self.hub = hub
        self.base = hub[BASE_ID]

    @property
    def measured_pid(self) -> int:
        return os.getpid()

    async def ingest(self, batch: Sequence[Document]) -> None:
        from agentos_runtime.knowledge.base import Upload

        added = [await self.base.add(Upload(name=document.name, text=document.text)) for document in batch]
        await self.base.wait_idle()
        for content in added:
            status = (await self.base.status(content.id)).status
            if status != "completed":
                raise RuntimeError(f"content {content.name} ended {status}")

    async def chunk_count(self) -> int:
        _, chunks = await self.base.store.counts()
        return chunks

    async def search(self, query: str, limit: int) -> list[str]:
        return [hit.content for hit in await self.base.search(query, max_results=limit)]


async def open_hub(backend: str, spec: Spec) -> KnowledgeHub:
    from agentos_runtime.api.assembly import database_configs
    from agentos_runtime.config.loading import parse_config
    from agentos_runtime.knowledge.hub import open_knowledge

    config = parse_config(runtime_config(backend, spec))
    databases = database_configs(config, data_dir(spec))
    data_dir(spec).mkdir(parents=True, exist_ok=True)
    environ = {"BENCH_EMBEDDER_KEY": "benchmark-key", "DATABASE_URL": spec.postgres_url or ""}
    hub = await open_knowledge(
        config.knowledge_bases, databases, default_db_id=databases[0].id, environ=environ, data_dir=data_dir(spec)
    )
    assert hub is not None
    await hub.start()
    return hub


async def _main(backend: str, surface: str, spec: Spec) -> dict[str, Any]:
    if surface == "inprocess":
        hub = await open_hub(backend, spec)
        try:
            return await measure(OursInProcess(hub), spec)
        finally:
            await hub.close()
    with ExitStack() as stack:
        server, port, metrics_port = serve(backend, spec, stack)
        side = OursOverHttp(spec, server, port, metrics_port)
        try:
            return await measure(side, spec)
        finally:
            await side.close()


if __name__ == "__main__":
    backend, surface = sys.argv[1], sys.argv[2]
    if surface == "http" and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(DRIVER_CPU)})  # the server gets CPU 0 to itself
    print(json.dumps(asyncio.run(_main(backend, surface, Spec.from_json(sys.argv[3])))))
