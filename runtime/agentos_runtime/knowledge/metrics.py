"""What knowledge bases are measured by, in the runtime's metrics format.

Contents and chunks are gauges read from the store (``counts()``) after each change this
replica makes and at every sweep of the hub (every half lease, 30 s), which also shows other
replicas' changes.
Embedding requests are counted per request the runtime sends (one per batch), ingestions per
content processed, by how they ended.
"""

from __future__ import annotations

from agentos_runtime.observability.instruments import Counter, Gauge, Histogram, render

# An embeddings request takes tens of milliseconds (a local model, a few texts) to a minute
# (a full batch on a loaded endpoint).
EMBEDDING_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# A search is one embedding of the query plus one index lookup.
SEARCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Ingesting a document: from a short text (tens of milliseconds) to a large PDF (minutes).
INGESTION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class KnowledgeMetrics:
    """Contents and chunks per base, embedding requests and their duration, searches and
    ingestions (``completed`` or ``failed``) and their duration."""

    def __init__(self) -> None:
        self.contents = Gauge(
            "agentos_knowledge_contents", "Contents (documents) a knowledge base holds.", ("knowledge_base",)
        )
        self.chunks = Gauge(
            "agentos_knowledge_chunks", "Chunks (searchable pieces) a knowledge base holds.", ("knowledge_base",)
        )
        self.processing = Gauge(
            "agentos_knowledge_contents_processing",
            "Contents this replica is reading, chunking or embedding.",
            ("knowledge_base",),
        )
        self.ingestions = Counter(
            "agentos_knowledge_ingestions_total",
            "Contents processed, by knowledge base and outcome (completed, failed).",
            ("knowledge_base", "outcome"),
        )
        self.ingestion_seconds = Histogram(
            "agentos_knowledge_ingestion_duration_seconds",
            "Time to read, chunk, embed and store one content.",
            ("knowledge_base",),
            INGESTION_BUCKETS,
        )
        self.embedding_requests = Counter(
            "agentos_knowledge_embedding_requests_total",
            "Requests to the embeddings endpoint, by knowledge base and outcome (ok, error).",
            ("knowledge_base", "outcome"),
        )
        self.embedding_seconds = Histogram(
            "agentos_knowledge_embedding_duration_seconds",
            "Duration of requests to the embeddings endpoint.",
            ("knowledge_base",),
            EMBEDDING_BUCKETS,
        )
        self.search_seconds = Histogram(
            "agentos_knowledge_search_duration_seconds",
            "Duration of searches (embedding the query included).",
            ("knowledge_base",),
            SEARCH_BUCKETS,
        )

    def observe_counts(self, base_id: str, contents: int, chunks: int) -> None:
        self.contents.set((base_id,), contents)
        self.chunks.set((base_id,), chunks)

    def observe_embedding(self, base_id: str, *, ok: bool, seconds: float) -> None:
        self.embedding_requests.inc((base_id, "ok" if ok else "error"))
        self.embedding_seconds.observe((base_id,), seconds)

    def observe_ingestion(self, base_id: str, *, completed: bool, seconds: float) -> None:
        self.ingestions.inc((base_id, "completed" if completed else "failed"))
        self.ingestion_seconds.observe((base_id,), seconds)

    def observe_search(self, base_id: str, seconds: float) -> None:
        self.search_seconds.observe((base_id,), seconds)

    def instruments(self) -> list[Counter | Histogram | Gauge]:
        return [
            self.contents,
            self.chunks,
            self.processing,
            self.ingestions,
            self.ingestion_seconds,
            self.embedding_requests,
            self.embedding_seconds,
            self.search_seconds,
        ]

    def render(self) -> bytes:
        return render(self.instruments())
