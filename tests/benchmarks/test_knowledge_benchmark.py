"""The knowledge benchmark's harness: its data, its measuring loop, and a run end to end.

Not timed tests: they check the harness measures what it says (chunks stored, CPU, latency
percentiles, whether the hits are the right ones), not how fast anything is. The figures come
from ``python -m benchmarks.knowledge.run`` (see ``benchmarks/knowledge/README.md``).
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
from collections.abc import Sequence

from benchmarks.knowledge.dataset import Document, documents, queries, relevant
from benchmarks.knowledge.measure import Spec, measure, percentile
from tests.benchmarks.running import run_module
from tests.support.fake_embeddings import fake_embedding


def test_the_same_seed_gives_the_same_documents_and_each_query_names_the_document_it_was_drawn_from() -> None:
    first = list(documents(5, seed=3))
    again = list(documents(5, seed=3))
    other = list(documents(5, seed=4))
    asked = queries(20, documents_count=5, seed=3)

    assert first == again and first != other
    assert all(4000 < len(document.text) <= 20 * 500 for document in first)
    by_name = {document.name: document.text for document in first}
    for query in asked:
        assert relevant(by_name[query.document], query)
        assert not any(relevant(text, query) for name, text in by_name.items() if name != query.document)
        assert all(word in by_name[query.document].split() for word in query.text.split())


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(100, 0, -1)]

    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (50.0, 99.0, 100.0)
    assert percentile([7.0], 0.99) == 7.0


class InMemory:
    """A tiny exact search over fake embeddings, with fixed-size chunks: the harness's reference."""

    def __init__(self, *, wrong: bool = False) -> None:
        self.chunks: list[tuple[str, list[float]]] = []
        self.wrong = wrong

    @property
    def measured_pid(self) -> int:
        return os.getpid()

    async def ingest(self, batch: Sequence[Document]) -> None:
        for document in batch:
            for start in range(0, len(document.text), 500):
                piece = document.text[start : start + 500]
                self.chunks.append((piece, fake_embedding(piece, 256)))

    async def chunk_count(self) -> int:
        return len(self.chunks)

    async def search(self, query: str, limit: int) -> list[str]:
        target = fake_embedding(query, 256)
        scored = sorted(self.chunks, key=lambda chunk: -sum(a * b for a, b in zip(chunk[1], target, strict=True)))
        return [text for text, _ in (self.chunks if self.wrong else scored)[:limit]]  # wrong: ignores the query


async def test_measure_counts_each_phase_and_tells_right_hits_from_wrong_ones() -> None:
    spec = Spec(sizes=[40, 100], embedder_url="unused", dimensions=256, chunk_chars=500, queries=10, warmup=2)

    right = await measure(InMemory(), spec)
    wrong = await measure(InMemory(wrong=True), spec)

    phases = right["phases"]
    assert [phase["size"] for phase in phases] == [40, 100]
    assert [phase["ingest"]["documents"] for phase in phases] == [2, 3]
    assert phases[1]["ingest"]["chunks_added"] == phases[1]["chunks"] - phases[0]["chunks"] > 0
    for phase in phases:
        search = phase["search"]
        assert search["queries"] == 10
        assert 0 < search["p50_ms"] <= search["p99_ms"]
        assert search["top_hit_relevant"] == 1.0 and search["precision_at_k"] >= 0.8
        assert "db_cpu_ms_per_search" not in search  # no database server to measure
    last_wrong = wrong["phases"][-1]["search"]
    assert last_wrong["top_hit_relevant"] < 0.5 and last_wrong["precision_at_k"] < 0.5


def test_the_harness_measures_every_side_end_to_end_and_reports_them(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "knowledge.json"
    sides = ["agno-pgvector", "ours-pgvector", "ours-sqlite", "ours-sqlite-http"]
    argv = ["--sides", ",".join(sides), "--sizes", "40,80", "--queries", "5"]
    argv += ["--dimensions", "256", "--agno-python", sys.executable, "--output", str(output)]

    run = run_module("benchmarks.knowledge.run", *argv, timeout=600)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    document = json.loads(output.read_text())
    assert sorted(document["sides"]) == sorted(sides)
    for name, side in document["sides"].items():
        phases = side["phases"]
        assert [phase["size"] for phase in phases] == [40, 80], name
        # About one chunk per 500 characters on each side; the exact cut is each side's chunker's.
        assert all(0.8 * phase["size"] <= phase["chunks"] <= 1.3 * phase["size"] for phase in phases), name
        # CPU is read in clock ticks (10 ms): a few dozen small chunks may take less than one.
        assert all(
            phase["ingest"]["wall_s"] > 0
            and phase["ingest"]["cpu_s"] >= 0
            and (phase["ingest"]["chunks_per_cpu_s"] is None) == (phase["ingest"]["cpu_s"] == 0)
            and (phase["ingest"]["chunks_per_cpu_s"] or 1) > 0
            for phase in phases
        ), name
        assert all(phase["search"]["top_hit_relevant"] == 1.0 for phase in phases), name
        assert ("db_cpu_s" in phases[0]["ingest"]) == ("pgvector" in name), name
    assert any(phase["ingest"]["cpu_s"] > 0 for side in document["sides"].values() for phase in side["phases"])
    assert all(document["sides"][name]["storage"]["table_mb"] > 0 for name in ("agno-pgvector", "ours-pgvector"))
    assert document["machine"]["calibration_s"] > 0
    assert "| chunks per CPU second, to 80 chunks |" in run.stdout
    assert "| p50 / p99 ms at 40 |" in run.stdout
