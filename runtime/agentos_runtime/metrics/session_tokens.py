"""A session's token counts as Agno shows them (``session_data.session_metrics``): pure, no I/O.

Agno adds each run's metrics to ``session_metrics`` as it saves the session: a team run's with
its members' (nested teams' too), a workflow run's with its steps'. The runtime does not write
that sum (a save adds the run alone, atomically, and never reads the session back), so a
session's metrics are worked out here from its stored runs when it holds none, as the daily
metrics sum them (``aggregating.runs_tokens``), in Agno's shape (counts that are 0 left out); a
session Agno wrote keeps the metrics Agno stored.
"""

from __future__ import annotations

from collections.abc import Iterable

from agentos_runtime.metrics.aggregating import runs_tokens
from agentos_runtime.storage.metrics_records import run_usage
from agentos_runtime.storage.ports import JSON


def session_metrics(stored: object, runs: Iterable[JSON] | None) -> JSON | None:
    """``stored`` (the session's ``session_metrics``) when it is an object; else the tokens of
    its ``runs`` (``runs_tokens``), as Agno's ``SessionMetrics.to_dict`` gives them: counts that
    are 0 left out (``{}`` when every one is). ``None`` without runs to sum."""
    if isinstance(stored, dict):
        return stored
    if runs is None:
        return None
    totals = runs_tokens([run_usage(run) for run in runs if isinstance(run, dict)])
    return {name: count for name, count in totals.items() if count}
