"""The bodies of the ``/metrics`` routes: Agno's ``DayAggregatedMetrics`` and refresh answers.

Views are pure functions of stored rows; dates and times are ISO-8601 UTC strings, a day as
its midnight (``2026-03-01T00:00:00Z``), as Agno's schemas serialise them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from agentos_runtime.api.timestamps import iso_utc
from agentos_runtime.metrics.refreshing import RefreshStatus
from agentos_runtime.storage.ports import MetricsRow

JSON = dict[str, Any]


def day_view(row: MetricsRow) -> JSON:
    """One ``DayAggregatedMetrics``."""
    created_at = iso_utc(row.created_at)
    return {
        "id": row.id,
        "agent_runs_count": row.agent_runs_count,
        "agent_sessions_count": row.agent_sessions_count,
        "team_runs_count": row.team_runs_count,
        "team_sessions_count": row.team_sessions_count,
        "workflow_runs_count": row.workflow_runs_count,
        "workflow_sessions_count": row.workflow_sessions_count,
        "users_count": row.users_count,
        "token_metrics": row.token_metrics,
        "model_metrics": row.model_metrics,
        "date": datetime.combine(row.date, datetime.min.time(), tzinfo=UTC).isoformat().replace("+00:00", "Z"),
        "created_at": created_at,
        "updated_at": iso_utc(row.updated_at) if row.updated_at is not None else created_at,
    }


def metrics_view(rows: Sequence[MetricsRow]) -> JSON:
    """``GET /metrics``: the days and when the latest of them was updated."""
    updated = [row.updated_at for row in rows if row.updated_at is not None]
    return {"metrics": [day_view(row) for row in rows], "updated_at": iso_utc(max(updated)) if updated else None}


def refresh_started_view(*, already_running: bool) -> JSON:
    """The answer to a refresh request that is not waited for."""
    if already_running:
        return {"status": "already_running", "message": "A metrics refresh is already in progress for this database"}
    return {"status": "started", "message": "Metrics refresh started in background"}


def refresh_status_view(status: RefreshStatus) -> JSON:
    return {
        "status": status.status,
        "started_at": iso_utc(status.started_at),
        "finished_at": iso_utc(status.finished_at),
        "error": status.error,
    }
