"""The operator benchmark's targets, checked against its results, and the results as Markdown."""

from __future__ import annotations

from typing import Any

from benchmarks.operator import counts

COLD_START_SECONDS = 60.0
EXTRA_WRITES_PER_CREATE = 2  # the status, and one Event saying what was created
RSS_MB = 150.0
# A retry storm is more than one retry per hundred resources.
RETRIES_PER_RESOURCE = 0.01
VERBS = counts.VERBS  # dry runs apart: they store nothing and are no writes
WRITES = counts.WRITE_VERBS


def find_phase(results: dict[str, Any], scenario: str, name: str) -> dict[str, Any] | None:
    for phase in (results.get(scenario) or {}).get("phases", []):
        if phase["name"] == name:
            return dict(phase)
    return None


def check_targets(results: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Each target with the figure it is judged on; only targets whose scenario ran."""
    targets: list[dict[str, Any]] = []

    def add(name: str, wanted: str, value: Any, met: bool) -> None:
        targets.append({"target": name, "wanted": wanted, "value": value, "met": bool(met)})

    start = find_phase(results, "cold-start", "cold start")
    if start is not None:
        seconds = start["total_seconds"]
        add(f"cold start: all {count} reconciled", f"<= {COLD_START_SECONDS:.0f} s", seconds, seconds <= 60.0)
    created = find_phase(results, "create", "create")
    if created is not None:
        allowed = results["create"]["children_per_resource"] + EXTRA_WRITES_PER_CREATE
        writes = created["writes_per_resource"]
        add("create: API writes per resource", f"<= children + 2 = {allowed:g}", writes, writes <= allowed)
    for name in ("no-op resync", "restart"):
        phase = find_phase(results, "cold-start", name)
        if phase is not None:
            writes = sum(phase["requests"][verb] for verb in WRITES)
            add(f"{name}: API writes for {count} unchanged resources", "0", writes, writes == 0)
    operators = [
        (f"{scenario}/{role}", found) for scenario, run in results.items() for role, found in run["operators"].items()
    ]
    if operators:
        peak = max(found["rss_mb"]["peak"] for _, found in operators)
        add(f"operator peak RSS at {count} resources", f"<= {RSS_MB:.0f} MiB", round(peak, 1), peak <= RSS_MB)
    for name, found in operators:
        log = found["log"]
        errors = sum(n for level, n in log["lines_by_level"].items() if level in ("ERROR", "CRITICAL", "UNPARSED"))
        allowed_retries = int(count * RETRIES_PER_RESOURCE)
        value = {"errors": errors, "retries": log["retries"], "exit_code": found["exit_code"]}
        met = errors == 0 and log["retries"] <= allowed_retries and found["exit_code"] == 0
        add(
            f"{name}: no error or retry storm in the log", f"0 errors, <= {allowed_retries} retries, exit 0", value, met
        )
    return targets


def markdown(document: dict[str, Any]) -> str:
    """The phases (requests per resource by verb) and the targets, as Markdown tables.

    ``burst s``: how long the benchmark took to create or edit every resource; ``ready s``: until
    every resource was Ready, on an API server that runs pods (else ``-``).
    """
    lines = [f"Command: `{document['command']}`", ""]
    header = (
        "| phase | resources | burst s | total s | p50 s | p99 s | ready s | "
        + " | ".join(VERBS)
        + " | writes/res | reconciles | CPU s |"
    )
    lines += [header, "|" + " --- |" * (len(VERBS) + 10)]
    for scenario in document["scenarios"].values():
        for phase in scenario["phases"]:
            latency = phase["latency_seconds"]
            per = phase["requests_per_resource"]
            ready, burst = phase.get("ready_seconds"), phase.get("burst_seconds")
            cells = [
                phase["name"],
                phase["resources"],
                "-" if burst is None else burst,
                phase["total_seconds"],
                latency.get("p50", "-"),
                latency.get("p99", "-"),
                "-" if ready is None else ready,
                *(f"{per.get(verb, 0):g}" for verb in VERBS),
                f"{phase['writes_per_resource']:g}",
                f"{sum(phase['reconciles'].values()):g}",
                phase["operator_cpu_seconds"],
            ]
            lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines += ["", "| target | wanted | value | met |", "| --- | --- | --- | --- |"]
    for target in document["targets"]:
        met = "yes" if target["met"] else "NO"
        lines.append(f"| {target['target']} | {target['wanted']} | {target['value']} | {met} |")
    return "\n".join(lines)
