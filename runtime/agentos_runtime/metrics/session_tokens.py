"""A session's metrics as Agno shows them (``session_data.session_metrics``): pure, no I/O.

Agno adds each run's metrics to ``session_metrics`` as it saves the session: a team run's with
its members' (nested teams' too), a workflow run's with its steps', tokens summed and the
per-model ``details`` merged on (model type, provider, id). The runtime does not write that sum
(a save adds the run alone, atomically, and never reads the session back), so a session's
metrics are worked out here from its stored runs when it holds none, from the runs the daily
metrics sum (``aggregating.token_runs``), in Agno's shape (counts that are 0 left out); a
session Agno wrote keeps the metrics Agno stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from agentos_runtime.metrics.aggregating import TOKEN_FIELDS, token_runs
from agentos_runtime.storable import count_or_zero
from agentos_runtime.storage.metrics_records import run_usage
from agentos_runtime.storage.ports import JSON, RunUsage


def session_metrics(stored: object, runs: Iterable[JSON] | None) -> JSON | None:
    """``stored`` (the session's ``session_metrics``) when it is an object; else the metrics of
    its ``runs`` (``token_runs``) as Agno's ``SessionMetrics.to_dict`` gives them: counts that
    are 0 left out (``{}`` when every one is), ``details`` per model when the runs have any.
    ``None`` without runs to sum."""
    if isinstance(stored, dict):
        return stored
    if runs is None:
        return None
    counted = token_runs([run_usage(run) for run in runs if isinstance(run, dict)])
    totals = dict.fromkeys(TOKEN_FIELDS, 0)
    for run in counted:
        for name in TOKEN_FIELDS:
            totals[name] += count_or_zero((run.metrics or {}).get(name))
    metrics: JSON = {name: count for name, count in totals.items() if count}
    if details := _details(counted):
        metrics["details"] = details
    return metrics


def _details(runs: Sequence[RunUsage]) -> dict[str, list[JSON]]:
    """The runs' per-model token counts (``metrics.details``: model type to a list of entries
    with ``id`` and ``provider``), summed per (type, provider, id); entries that name no model
    are left out."""
    merged: dict[str, dict[tuple[str, str], dict[str, int]]] = {}
    for run in runs:
        details = (run.metrics or {}).get("details")
        if not isinstance(details, dict):
            continue
        for model_type, entries in details.items():
            for entry in entries if isinstance(entries, list) else ():
                model = entry.get("id") if isinstance(entry, dict) else None
                if not isinstance(model, str):
                    continue
                provider = entry.get("provider")
                key = (provider if isinstance(provider, str) else "", model)
                counts = merged.setdefault(str(model_type), {}).setdefault(key, dict.fromkeys(TOKEN_FIELDS, 0))
                for name in TOKEN_FIELDS:
                    counts[name] += count_or_zero(entry.get(name))
    return {
        model_type: [
            {"id": model, "provider": provider, **{name: count for name, count in counts.items() if count}}
            for (provider, model), counts in by_model.items()
        ]
        for model_type, by_model in merged.items()
    }
