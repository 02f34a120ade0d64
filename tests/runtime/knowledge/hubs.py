"""Knowledge hubs on a fresh spot of each database, with an in-process embedder.

``KnowledgeSpace`` is one database (a SQLite data directory of the test's own, or a schema of
its own on the pgvector server, dropped after); ``open`` gives a hub on it each call, so two
calls are two replicas sharing the database. ``FakeEmbedder`` embeds with ``fake_embedding``,
counts what it embedded and fails as scripted; ``ManualClock`` is the time the hub sees.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.config.knowledge import EmbedderConfig, KnowledgeBaseConfig
from agentos_runtime.errors import ModelProviderError
from agentos_runtime.knowledge.base import Schedule, call_later
from agentos_runtime.knowledge.hub import KnowledgeHub, StoreOpener, open_knowledge
from agentos_runtime.knowledge.ingestion import MAX_HELD_BYTES
from agentos_runtime.knowledge.metrics import KnowledgeMetrics

from tests.support.databases import unique_name
from tests.support.fake_embeddings import fake_embedding
from tests.support.pgvector_server import pgvector_url

DIMENSIONS = 64


class ManualClock:
    """Epoch seconds that move only when the test says."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeEmbedder:
    """``fake_embedding`` in process; ``fail_with`` makes every call raise it; ``gate`` (when
    set) holds every call until it is set."""

    def __init__(self, dimensions: int = DIMENSIONS) -> None:
        self._dimensions = dimensions
        self.calls: list[list[str]] = []
        self.fail_with: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.closed = False

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def texts(self) -> list[str]:
        return [text for call in self.calls for text in call]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return [fake_embedding(text, self._dimensions) for text in texts]

    async def close(self) -> None:
        self.closed = True


def provider_error(detail: str = "the embeddings endpoint answered 500") -> ModelProviderError:
    return ModelProviderError(detail)


@dataclass
class KnowledgeSpace:
    """One database for knowledge hubs; ``open`` starts a new hub (a replica) on it."""

    kind: str
    database: DatabaseConfig
    environ: dict[str, str]
    data_dir: Path
    clock: ManualClock = field(default_factory=ManualClock)
    hubs: list[KnowledgeHub] = field(default_factory=list)
    embedders: list[FakeEmbedder] = field(default_factory=list)

    def base(self, base_id: str = "docs", **fields: Any) -> KnowledgeBaseConfig:
        document = {"id": base_id, "db": self.database.id, "embedder": {"dimensions": DIMENSIONS}, **fields}
        return KnowledgeBaseConfig.model_validate(document)

    async def open(
        self,
        *bases: KnowledgeBaseConfig,
        embedder: FakeEmbedder | None = None,
        metrics: KnowledgeMetrics | None = None,
        start: bool = True,
        concurrency: int = 2,
        open_store: StoreOpener | None = None,
        max_held_bytes: int = MAX_HELD_BYTES,
        schedule: Schedule = call_later,
    ) -> KnowledgeHub:
        """A hub of ``bases`` (one ``docs`` base by default), started without its maintenance
        loop (tests call ``heartbeat``/``sweep`` themselves)."""
        fake = embedder or FakeEmbedder()
        self.embedders.append(fake)

        def build(config: EmbedderConfig, environ: Mapping[str, str]) -> FakeEmbedder:
            return fake

        hub = await open_knowledge(
            list(bases) or [self.base()],
            [self.database],
            default_db_id=self.database.id,
            environ=self.environ,
            data_dir=self.data_dir,
            metrics=metrics,
            build_embedder=build,
            open_store=open_store,
            concurrency=concurrency,
            max_held_bytes=max_held_bytes,
            clock=self.clock,
            schedule=schedule,
        )
        assert hub is not None
        self.hubs.append(hub)
        if start:
            await hub.start(maintain=False)
        return hub

    @property
    def embedder(self) -> FakeEmbedder:
        return self.embedders[-1]


class knowledge_space:  # noqa: N801 - used as a context manager, reads like a function
    def __init__(self, kind: str, tmp_path: Path) -> None:
        name = unique_name("knowledge")
        database = DatabaseConfig.model_validate({"id": name.replace("_", "-"), "type": kind, "db_schema": name})
        environ = {"DATABASE_URL": pgvector_url()} if kind == "postgres" else {}
        self.space = KnowledgeSpace(kind, database, environ, tmp_path / "data")
        self.space.data_dir.mkdir(parents=True, exist_ok=True)
        self.schema = name

    async def __aenter__(self) -> KnowledgeSpace:
        return self.space

    async def __aexit__(self, *_: object) -> None:
        for hub in self.space.hubs:
            await hub.close()
        if self.space.kind == "postgres":
            async with await psycopg.AsyncConnection.connect(pgvector_url(), autocommit=True) as connection:
                await connection.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
