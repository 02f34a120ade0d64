"""What the storage costs a run: our server on its storage, the same server without it, and Agno.

    .venv/bin/python -m benchmarks.runtime.storage_cost [--requests 2000] [--rounds 8]

The set-up and the rounds of ``run.py`` (servers pinned to CPU 0, taking turns within each
scenario; everything they talk to on CPU 1), on the fresh scenarios only. Server names:

- ``ours-<storage>`` and ``agno-<storage>``, as in ``run.py`` (``sqlite``, ``postgres``, ``redis``);
- ``ours-<storage>-nostorage``: our server configured for that storage, started through
  ``without_storage``, whose session store answers a new session's read and save in memory (no
  round trip, no encoding, no write). On a fresh scenario it does everything else a run does,
  so its CPU per run is the floor any storage adds to.

Printed as Markdown: each server's CPU per run (median of the rounds), its per-core ratio to
each Agno server in the run (median of the rounds' ratios), and what each storage costs a run
(the server on it minus the same server without it, per round). Written to
``benchmarks/results/storage-cost-latest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.runtime.report import per_core_ratio
from benchmarks.runtime.run import (
    DRIVER_CPU,
    ROOT,
    Server,
    agno_server,
    bench_interleaved,
    compile_for,
    describe_run,
    model_server,
    our_server,
    scenarios,
    services_on,
)

NO_STORAGE = "-nostorage"
DEFAULT_SERVERS = "ours-sqlite,ours-redis,ours-redis-nostorage,agno-sqlite,agno-redis"


def fresh_scenarios(only: str) -> list[str]:
    """The scenario names ``only`` selects; raises ``ValueError`` when it selects a reused one
    (a server without storage starts a reused session over each run: not the same work)."""
    names = [scenario.name for scenario in scenarios(1) if only in scenario.name]
    if not names:
        raise ValueError(f"--only {only!r} selects no scenario")
    reused = [name for name in names if "fresh" not in name]
    if reused:
        raise ValueError(f"--only {only!r} selects {', '.join(reused)}: only fresh scenarios measure storage")
    return names


def server(name: str, model_url: str, work: Path) -> Server:
    """The server ``name`` stands for (see the module's docstring), its files under ``work``."""
    place = work / name
    place.mkdir()
    if name.startswith("agno-"):
        return agno_server(name.removeprefix("agno-"), model_url, place)
    if not name.startswith("ours-"):
        raise ValueError(f"unknown server {name!r}: ours-<storage>, ours-<storage>{NO_STORAGE} or agno-<storage>")
    storage = name.removeprefix("ours-").removesuffix(NO_STORAGE)
    ours = our_server(storage, model_url, place)
    if not name.endswith(NO_STORAGE):
        return ours
    python = str(ROOT / ".venv" / "bin" / "python")
    command = [python, "-m", "benchmarks.runtime.without_storage", *ours.argv[1:]]
    return replace(ours, name=name, argv=command)


def report(servers: dict[str, Any]) -> str:
    """The Markdown tables of a run's ``servers`` (as ``bench_interleaved`` returns them)."""
    by_scenario: dict[str, dict[str, dict[str, Any]]] = {}
    for name, result in servers.items():
        for row in result["scenarios"]:
            by_scenario.setdefault(row["scenario"], {})[name] = row
    agno = [name for name in servers if name.startswith("agno-")]
    lines: list[str] = []
    for scenario, rows in by_scenario.items():
        lines += [f"#### {scenario}", ""]
        columns = ["server", "CPU ms per run (median of rounds)", *(f"{other} / this" for other in agno)]
        lines += ["| " + " | ".join(columns) + " |", "| --- |" + " ---: |" * (len(columns) - 1)]
        for name, row in rows.items():
            cells = [f"{_median(row):.2f}"]
            for other in agno:
                if name in agno:  # Agno's servers are what the others are measured against
                    cells.append("-")
                    continue
                ratio, low, high = per_core_ratio(row, rows[other])
                cells.append(f"{ratio:.2f}x ({low:.2f}-{high:.2f})")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        costs = [
            f"{name}: {storage_cost(rows[name], rows[name + NO_STORAGE]):.2f} ms"
            for name in rows
            if name.startswith("ours-") and name + NO_STORAGE in rows
        ]
        if costs:
            lines += ["", "Storage's cost per run (on it minus without it, median of the rounds): " + ", ".join(costs)]
        lines.append("")
    return "\n".join(lines)


def storage_cost(on_it: dict[str, Any], without: dict[str, Any]) -> float:
    """The median over the rounds of the server's CPU per run on its storage minus without it."""
    pairs = zip(on_it["server_cpu_ms_per_request_rounds"], without["server_cpu_ms_per_request_rounds"], strict=True)
    return float(statistics.median(own - floor for own, floor in pairs))


def _median(row: dict[str, Any]) -> float:
    return float(statistics.median(row["server_cpu_ms_per_request_rounds"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--servers", default=DEFAULT_SERVERS)
    parser.add_argument("--only", default="json c=1 fresh", help="the fresh scenarios whose name contains this")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "storage-cost-latest.json")
    args = parser.parse_args()
    try:
        fresh_scenarios(args.only)
    except ValueError as error:
        parser.error(str(error))
    names = args.servers.split(",")
    os.sched_setaffinity(0, {int(DRIVER_CPU)})
    results = describe_run(args.requests, args.rounds)
    compile_for(names)
    with tempfile.TemporaryDirectory() as tmp, services_on(DRIVER_CPU) as moved, model_server() as model_url:
        results["machine"]["service_threads_on_driver_cpu"] = moved
        servers = [server(name, model_url, Path(tmp)) for name in names]
        results["servers"] = bench_interleaved(servers, args.requests, args.only, args.rounds)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nCommit {results['commit']}, calibration {results['machine']['calibration_s']} s\n")
    print(report(results["servers"]))


if __name__ == "__main__":
    main()
