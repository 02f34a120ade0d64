"""The measuring loop both sides of the knowledge benchmark share (standard library only).

A side ingests documents (returning once they are searchable), counts its chunks and
searches; ``measure`` drives it through the phases of one run: ingest up to each size
(10k, then 100k chunks), then search at that size. CPU is read from ``/proc`` for the process
under test (the worker itself, or the server it drives) and, for PostgreSQL, for the database
server's processes apart. Both virtualenvs import this module (the Agno side runs in
``benchmarks/.venv-agno``), so it needs nothing outside the standard library.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from benchmarks.knowledge.dataset import Document, documents, queries, relevant
from benchmarks.runtime import procstat

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Spec:
    """What one worker measures; passed to it as JSON."""

    sizes: list[int]
    """Chunk counts to measure search at, ascending; ingestion goes from one to the next."""
    embedder_url: str
    dimensions: int
    chunk_chars: int
    chunks_per_document: int = 20
    ours_chunking: str = "fixed"
    ours_vector_index: str = "none"
    """Our base's ``vector_index`` (``none``: exact scans, Agno's default; ``hnsw`` on PostgreSQL)."""
    """Our base's chunking strategy (``fixed`` cuts at exactly ``chunk_chars``; ``recursive`` at word boundaries)."""
    queries: int = 200
    warmup: int = 20
    max_results: int = 10
    seed: int = 7
    postgres_url: str | None = None
    postmaster_pid: int | None = None
    schema: str = "ai"
    table: str = "knowledge_bench"
    work_dir: str = "/tmp"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Spec:
        return cls(**json.loads(text))


class Side(Protocol):
    """One knowledge implementation, as the benchmark drives it."""

    @property
    def measured_pid(self) -> int:
        """The process whose CPU is the implementation's (this worker, or the server it drives)."""
        ...

    async def ingest(self, batch: Sequence[Document]) -> None:
        """Add the documents; return once every one is searchable (or raise)."""
        ...

    async def chunk_count(self) -> int: ...

    async def search(self, query: str, limit: int) -> list[str]:
        """The contents of the hits, nearest first."""
        ...


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process, of its children that exited, and of its live children (PostgreSQL's postmaster)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(value) for value in fields[11:15]) / _TICKS  # utime, stime, cutime, cstime
    for child in _children(pid):
        try:
            total += procstat.cpu_seconds(child)
        except FileNotFoundError:  # exited meanwhile: its time moves to cutime, read above
            continue
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


async def measure(side: Side, spec: Spec) -> dict[str, Any]:
    """Ingest up to each size in ``spec.sizes`` and search at each; the phases' figures."""
    per_document = spec.chunks_per_document
    total_documents = spec.sizes[-1] // per_document
    corpus = list(
        documents(total_documents, seed=spec.seed, chunks_per_document=per_document, chunk_chars=spec.chunk_chars)
    )
    phases: list[dict[str, Any]] = []
    done = 0
    for size in spec.sizes:
        batch = corpus[done : size // per_document]
        before = _clocks(side, spec)
        await side.ingest(batch)
        after = _clocks(side, spec)
        done = size // per_document
        chunks = await side.chunk_count()
        added = chunks - (phases[-1]["chunks"] if phases else 0)
        ingest = _rates(before, after, added)
        ingest.update(documents=len(batch), chunks_added=added)
        search = await _search_phase(side, spec, documents_count=done)
        phases.append({"size": size, "chunks": chunks, "ingest": ingest, "search": search})
    return {"phases": phases}


def _clocks(side: Side, spec: Spec) -> dict[str, float]:
    clocks = {"wall": time.perf_counter(), "cpu": procstat.cpu_seconds(side.measured_pid)}
    if spec.postmaster_pid is not None:
        clocks["db_cpu"] = tree_cpu_seconds(spec.postmaster_pid)
    return clocks


def _rates(before: dict[str, float], after: dict[str, float], chunks: int) -> dict[str, Any]:
    wall = after["wall"] - before["wall"]
    cpu = after["cpu"] - before["cpu"]
    rates: dict[str, Any] = {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "chunks_per_s": round(chunks / wall, 1) if wall else None,
        "chunks_per_cpu_s": round(chunks / cpu, 1) if cpu else None,
    }
    if "db_cpu" in before:
        db = after["db_cpu"] - before["db_cpu"]
        rates["db_cpu_s"] = round(db, 2)
        rates["chunks_per_cpu_s_with_db"] = round(chunks / (cpu + db), 1) if cpu + db else None
    return rates


async def _search_phase(side: Side, spec: Spec, *, documents_count: int) -> dict[str, Any]:
    asked = queries(spec.warmup + spec.queries, documents_count=documents_count, seed=spec.seed)
    for query in asked[: spec.warmup]:
        await side.search(query.text, spec.max_results)
    latencies, top_hits, precisions = [], 0, []
    before = _clocks(side, spec)
    for query in asked[spec.warmup :]:
        start = time.perf_counter()
        hits = await side.search(query.text, spec.max_results)
        latencies.append(time.perf_counter() - start)
        top_hits += bool(hits) and relevant(hits[0], query)
        precisions.append(sum(relevant(hit, query) for hit in hits) / spec.max_results)
    after = _clocks(side, spec)
    figures: dict[str, Any] = {
        "queries": len(latencies),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(sum(latencies) / len(latencies) * 1000, 2),
        "cpu_ms_per_search": round((after["cpu"] - before["cpu"]) * 1000 / len(latencies), 2),
        "top_hit_relevant": round(top_hits / len(latencies), 3),
        "precision_at_k": round(sum(precisions) / len(precisions), 3),
    }
    if "db_cpu" in before:
        figures["db_cpu_ms_per_search"] = round((after["db_cpu"] - before["db_cpu"]) * 1000 / len(latencies), 2)
    return figures
