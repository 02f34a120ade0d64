"""Turn a runtime benchmark result into Markdown tables and a verdict on each target.

    .venv/bin/python -m benchmarks.runtime.report [benchmarks/results/runtime-latest.json]

Ratios compare each of our servers with Agno's AgentOS on SQLite (the target's reference), and,
where the run has it, with Agno on the same storage (``agno-postgres`` for ``ours-postgres``,
Agno's own ``PostgresDb``; ``agno-redis``, its ``RedisDb``), scenario by scenario: the target
holds against both. A scenario run in rounds (servers taking turns) gives one ratio per
round, and the median of those is the scenario's ratio. Throughput per core is 1000 / (server CPU ms per request): both
servers are pinned to one core, but at concurrency 1 neither keeps it busy (the request
rate is bound by latency, the load driver and the model server), so requests per second
alone understate what a core serves; both figures are shown, the verdict uses per-core
throughput, as the target is stated. Time to first content is compared with the model
server's own time to first chunk at concurrency 1. Cold start, time to first content and
memory are absolute targets: the machine's calibration (a fixed loop's seconds on CPU 0) is
printed with them, as the shared VM's speed changes from hour to hour.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AGNO = "agno-sqlite"
THROUGHPUT_RATIO = 3.0
TTFT_ABOVE_MODEL_MS = 2.0
COLD_START_S = 0.6
RSS_MB = 80.0
# Peak RSS under load as a share of Agno's, the memory goal stated as a ratio.
RSS_SHARE_OF_AGNO = 0.6


def scenario_rows(results: dict[str, Any], server: str) -> dict[str, dict[str, Any]]:
    return {row["scenario"]: row for row in results["servers"][server]["scenarios"]}


def per_core_ratio(ours: dict[str, Any], agno: dict[str, Any]) -> tuple[float, float, float]:
    """Agno's CPU per request over ours: the median, lowest and highest of the rounds' ratios
    (each round measured both servers within the same minutes); one ratio of the totals for a
    result without rounds."""
    mine, theirs = ours.get("server_cpu_ms_per_request_rounds"), agno.get("server_cpu_ms_per_request_rounds")
    if not mine or not theirs or len(mine) != len(theirs):
        ratio = agno["server_cpu_ms_per_request"] / ours["server_cpu_ms_per_request"]
        return ratio, ratio, ratio
    ratios = [other / own for own, other in zip(mine, theirs, strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


def ours(results: dict[str, Any]) -> list[str]:
    return [server for server in results["servers"] if server.startswith("ours-")]


def same_storage_agno(results: dict[str, Any], server: str) -> str | None:
    """Agno's server on the storage ``server`` uses, when the run has it and it is not ``AGNO``."""
    twin = "agno-" + server.removeprefix("ours-")
    return twin if twin != AGNO and twin in results["servers"] else None


def throughput_table(results: dict[str, Any], server: str, against: str = AGNO) -> tuple[list[str], float]:
    """One server's scenarios side by side with an Agno server's; the lowest per-core throughput ratio."""
    mine, agno = scenario_rows(results, server), scenario_rows(results, against)
    lines = [
        "| scenario | ours req/s | Agno req/s | req/s ratio | ours CPU ms/req | Agno CPU ms/req "
        "| per-core ratio (rounds: lowest-highest) | ours p50 / p99 ms | errors (ours / Agno) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lowest = float("inf")
    for name, row in mine.items():
        other = agno[name]
        rps_ratio = row["rps"] / other["rps"]
        per_core, low, high = per_core_ratio(row, other)
        lowest = min(lowest, per_core)
        lines.append(
            f"| {name} | {row['rps']:.0f} | {other['rps']:.0f} | {rps_ratio:.1f}x "
            f"| {row['server_cpu_ms_per_request']:.2f} | {other['server_cpu_ms_per_request']:.2f} | {per_core:.1f}x ({low:.1f}-{high:.1f}) "
            f"| {row['p50_ms']:.1f} / {row['p99_ms']:.1f} | {row['errors']} / {other['errors']} |"
        )
    return lines, lowest


def model_first_chunk_ms(results: dict[str, Any]) -> float:
    return float(next(r["first_chunk_p50_ms"] for r in results["model_server"] if r["scenario"] == "model stream c=1"))


def first_content_above_model_ms(results: dict[str, Any], server: str) -> float | None:
    """Time to first content p50 at c=1 (fresh session), less the model server's own first chunk;
    None when the run left that scenario out (``--only``)."""
    row = scenario_rows(results, server).get("stream c=1 fresh")
    if row is None or row["first_content_p50_ms"] is None:
        return None
    return float(row["first_content_p50_ms"]) - model_first_chunk_ms(results)


def peak_rss_mb(results: dict[str, Any], server: str) -> float:
    return max(float(row["peak_rss_mb"]) for row in scenario_rows(results, server).values())


def summary(results: dict[str, Any]) -> list[str]:
    model_ttft = model_first_chunk_ms(results)
    lines = [
        "| server | lowest per-core ratio to Agno on SQLite / on the same storage | TTFT p50 c=1 (above model) "
        "| cold start: first / restart | RSS after start / peak under load | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for server, data in results["servers"].items():
        rows = scenario_rows(results, server)
        ratio = "-"
        if server in ours(results):
            twin = same_storage_agno(results, server)
            ratio = f"{throughput_table(results, server)[1]:.1f}x / " + (
                f"{throughput_table(results, server, twin)[1]:.1f}x" if twin else "-"
            )
        ttft = rows.get("stream c=1 fresh", {}).get("first_content_p50_ms")
        ttft_text = f"{ttft:.2f} ms (+{ttft - model_ttft:.2f})" if ttft is not None else "-"
        peak = peak_rss_mb(results, server)
        errors = sum(row["errors"] for row in rows.values())
        lines.append(
            f"| {server} | {ratio} | {ttft_text} | {data['cold_start_s']:.3f} / {data['restart_s']:.3f} s "
            f"| {data['rss_after_start_mb']:.1f} / {peak:.1f} MB | {errors} |"
        )
    return lines


def relative_to_agno(results: dict[str, Any]) -> list[str]:
    """The absolute targets as fractions of Agno's figures in the same run, which drift far less
    with the machine's speed than the figures do. The issue's Agno figures (cold start ~1.6 s)
    put the cold-start target at 0.6 / 1.6 = 0.375 of Agno's."""
    if AGNO not in results["servers"]:
        return []
    agno = results["servers"][AGNO]
    agno_ttft = first_content_above_model_ms(results, AGNO)
    lines = [
        "| server | cold start / Agno's (first, restart) | TTFT above the model / Agno's | peak RSS / Agno's |",
        "| --- | ---: | ---: | ---: |",
    ]
    agno_peak = peak_rss_mb(results, AGNO)
    for server in ours(results):
        data = results["servers"][server]
        ttft = first_content_above_model_ms(results, server)
        ttft_share = f"{ttft / agno_ttft:.2f}" if ttft is not None and agno_ttft else "-"
        peak = peak_rss_mb(results, server)
        lines.append(
            f"| {server} | {data['cold_start_s'] / agno['cold_start_s']:.2f}, "
            f"{data['restart_s'] / agno['restart_s']:.2f} | {ttft_share} | {peak / agno_peak:.2f} |"
        )
    return lines


def verdicts(results: dict[str, Any]) -> list[str]:
    servers = ours(results)
    lines = ["| target | measured | met |", "| --- | --- | --- |"]

    def add(target: str, measured: str, met: bool) -> None:
        lines.append(f"| {target} | {measured} | {'yes' if met else '**no**'} |")

    ratios = {server: throughput_table(results, server)[1] for server in servers}
    add(
        f"throughput per core >= {THROUGHPUT_RATIO:.0f}x Agno's on SQLite, every scenario",
        ", ".join(f"{s}: lowest {r:.1f}x" for s, r in ratios.items()),
        all(r >= THROUGHPUT_RATIO for r in ratios.values()),
    )
    twins = {server: twin for server in servers if (twin := same_storage_agno(results, server))}
    if twins:
        ratios = {server: throughput_table(results, server, twin)[1] for server, twin in twins.items()}
        add(
            f"throughput per core >= {THROUGHPUT_RATIO:.0f}x Agno's on the same storage, every scenario",
            ", ".join(f"{s} / {twins[s]}: lowest {r:.1f}x" for s, r in ratios.items()),
            all(r >= THROUGHPUT_RATIO for r in ratios.values()),
        )
    ttfts = {s: first_content_above_model_ms(results, s) for s in servers}
    measured = {s: t for s, t in ttfts.items() if t is not None}
    if measured:
        add(
            f"TTFT p50 at c=1 <= model's own + {TTFT_ABOVE_MODEL_MS:.0f} ms",
            ", ".join(f"{s}: +{t:.2f} ms" for s, t in measured.items()),
            all(t <= TTFT_ABOVE_MODEL_MS for t in measured.values()),
        )
    for key, when in (("cold_start_s", "first start, storage set up"), ("restart_s", "restart, storage exists")):
        colds = {s: results["servers"][s][key] for s in servers}
        add(
            f"cold start <= {COLD_START_S} s ({when})",
            ", ".join(f"{s}: {c:.3f} s" for s, c in colds.items()),
            all(c <= COLD_START_S for c in colds.values()),
        )
    peaks = {s: peak_rss_mb(results, s) for s in servers}
    add(
        f"RSS under load <= {RSS_MB:.0f} MB",
        ", ".join(f"{s}: {p:.1f} MB" for s, p in peaks.items()),
        all(p <= RSS_MB for p in peaks.values()),
    )
    agno_peak = peak_rss_mb(results, AGNO)
    add(
        f"peak RSS under load <= {RSS_SHARE_OF_AGNO:.0%} of Agno's",
        ", ".join(f"{s}: {p / agno_peak:.0%}" for s, p in peaks.items()),
        all(p <= RSS_SHARE_OF_AGNO * agno_peak for p in peaks.values()),
    )
    errors = {s: sum(r["errors"] for r in scenario_rows(results, s).values()) for s in servers}
    add("zero errors in every scenario", ", ".join(f"{s}: {e}" for s, e in errors.items()), not any(errors.values()))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "results", nargs="?", type=Path, default=ROOT / "benchmarks" / "results" / "runtime-latest.json"
    )
    results = json.loads(parser.parse_args().results.read_text())
    machine = results["machine"]
    calibration = machine.get("calibration_s")
    print(
        f"Run of commit `{results.get('commit') or 'unrecorded'}`, {results['requests_per_scenario']} requests "
        f"per scenario, {machine['cpus']} CPUs, Python {machine['python']}"
        + (f", calibration {calibration:.2f} s (a 10M-step loop on CPU 0)." if calibration else "."),
        end="\n\n",
    )
    print("\n".join(verdicts(results)), end="\n\n")
    print("\n".join(summary(results)), end="\n\n")
    print("\n".join(relative_to_agno(results)), end="\n\n")
    for server in ours(results):
        for against in filter(None, (AGNO, same_storage_agno(results, server))):
            print(f"### {server} against {against}\n")
            print("\n".join(throughput_table(results, server, against)[0]), end="\n\n")


if __name__ == "__main__":
    main()
