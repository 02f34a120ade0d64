"""The operator benchmark's targets, checked against its results, and the results as Markdown."""

from __future__ import annotations

from typing import Any

COLD_START_SECONDS = 60.0
EXTRA_WRITES_PER_CREATE = 2  # the status, and one Event saying what was created
RSS_MB = 150.0
# A retry storm is more than one retry per hundred resources.
RETRIES_PER_RESOURCE = 0.01
VERBS = ("GET", "LIST", "WATCH", "POST", "PATCH", "PUT", "DELETE")


def _phase(results: dict[str, Any], scenario: str, name: str) -> dict[str, Any] | None:
    for phase in (results.get(scenario) or {}).get("phases", []):
        if phase["name"] == name:
            return dict(phase)
    return None


def check_targets(results: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Each target with the figure it is judged on; only targets whose scenario ran."""
    targets: list[dict[str, Any]] = []

    def add(name: str, wanted: str, value: Any, met: bool) -> None:
        targets.append({"target": name, "wanted": wanted, "value": value, "met": bool(met)})

    start = _phase(results, "cold-start", "cold start")
    if start is not None:
        seconds = start["total_seconds"]
        add(f"cold start, all {count} reconciled", f"<= {COLD_START_SECONDS:.0f} s", seconds, seconds <= 60.0)
    created = _phase(results, "create", "create")
    if created is not None:
        allowed = results["create"]["children_per_resource"] + EXTRA_WRITES_PER_CREATE
        writes = created["writes_per_resource"]
        add("API writes per created resource", f"<= children + 2 = {allowed:g}", writes, writes <= allowed)
    resync = _phase(results, "cold-start", "no-op resync")
    if resync is not None:
        writes = sum(resync["requests"][verb] for verb in ("POST", "PATCH", "PUT", "DELETE"))
        add(f"API writes on a no-op resync of {count}", "0", writes, writes == 0)
    peaks = [scenario["rss_mb"]["peak"] for scenario in results.values()]
    if peaks:
        add(
            f"operator peak RSS at {count} resources", f"<= {RSS_MB:.0f} MB", round(max(peaks), 1), max(peaks) <= RSS_MB
        )
    for name, scenario in results.items():
        log = scenario["log"]
        errors = sum(n for level, n in log["lines_by_level"].items() if level in ("ERROR", "CRITICAL", "UNPARSED"))
        allowed_retries = int(count * RETRIES_PER_RESOURCE)
        value = {"errors": errors, "retries": log["retries"], "exit_code": scenario["exit_code"]}
        met = errors == 0 and log["retries"] <= allowed_retries and scenario["exit_code"] == 0
        add(
            f"{name}: no error or retry storm in the log", f"0 errors, <= {allowed_retries} retries, exit 0", value, met
        )
    return targets


def markdown(document: dict[str, Any]) -> str:
    lines = [f"Command: `{document['command']}`", ""]
    lines += ["| phase | resources | total s | p50 s | p99 s | " + " | ".join(VERBS) + " | writes/res | reconciles |"]
    lines += ["|" + " --- |" * (len(VERBS) + 7)]
    for scenario in document["scenarios"].values():
        for phase in scenario["phases"]:
            latency = phase["latency_seconds"]
            per = phase["requests_per_resource"]
            reconciles = sum(phase["reconciles"].values())
            lines.append(
                f"| {phase['name']} | {phase['resources']} | {phase['total_seconds']} | {latency.get('p50', '-')} | "
                f"{latency.get('p99', '-')} | " + " | ".join(f"{per[verb]:g}" for verb in VERBS) + " | "
                f"{phase['writes_per_resource']:g} | {reconciles:g} |"
            )
    lines += ["", "| target | wanted | value | met |", "| --- | --- | --- | --- |"]
    for target in document["targets"]:
        lines.append(
            f"| {target['target']} | {target['wanted']} | {target['value']} | {'yes' if target['met'] else 'NO'} |"
        )
    return "\n".join(lines)
