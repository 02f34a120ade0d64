"""A session's token counts as Agno shows them (``session_data.session_metrics``): pure, no I/O.

Agno adds each run's metrics to ``session_metrics`` as it saves the session: a team run's with
its members' (nested teams' too), a workflow run's with its steps'. The runtime does not write
that sum (a save adds the run alone, atomically, and never reads the session back), so a
session's metrics are worked out here from its stored runs when it holds none, in Agno's shape
(counts that are 0 left out); a session Agno wrote keeps the metrics Agno stored.
"""

from __future__ import annotations

from collections.abc import Iterable

from agentos_runtime.metrics.aggregating import TOKEN_FIELDS
from agentos_runtime.storable import count_or_zero
from agentos_runtime.storage.ports import JSON

# How deep member and step runs are followed (teams of teams inside workflow steps ...): far
# beyond any the runtime nests, and a bound on what a stored record can make it walk.
MAX_NESTING = 16


def run_tokens(run: JSON) -> dict[str, int]:
    """The tokens ``run`` used: its own metrics, its members' and its steps' (recursively)."""
    totals = dict.fromkeys(TOKEN_FIELDS, 0)
    stack: list[tuple[object, int]] = [(run, 0)]
    while stack:
        current, depth = stack.pop()
        if not isinstance(current, dict):
            continue
        metrics = current.get("metrics")
        if isinstance(metrics, dict):
            for name in TOKEN_FIELDS:
                totals[name] += count_or_zero(metrics.get(name))
        if depth >= MAX_NESTING:
            continue
        for nested in ("member_responses", "step_executor_runs"):
            children = current.get(nested)
            if isinstance(children, list):
                stack.extend((child, depth + 1) for child in children)
    return totals


def session_metrics(stored: object, runs: Iterable[JSON] | None) -> JSON | None:
    """``stored`` (the session's ``session_metrics``) when it is an object; else the sum of its
    top-level ``runs``' tokens (``run_tokens``), as Agno's ``SessionMetrics.to_dict`` gives it:
    counts that are 0 left out (``{}`` when every one is). ``None`` without runs to sum."""
    if isinstance(stored, dict):
        return stored
    if runs is None:
        return None
    totals = dict.fromkeys(TOKEN_FIELDS, 0)
    for run in runs:
        if isinstance(run, dict) and run.get("parent_run_id") is None:
            for name, count in run_tokens(run).items():
                totals[name] += count
    return {name: count for name, count in totals.items() if count}
