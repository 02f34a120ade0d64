"""The ``/metrics`` family: daily totals, a refresh (waited for or in the background), its status.

A read refreshes the selected database's metrics first when they were not refreshed in the
last minute (Agno's lazy refresh), so totals follow the runs without anyone calling refresh.
Without ``user_id`` each day is one row summing every owner; with it (or with user isolation,
the caller's own), that owner's rows.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.context import OpenDatabase
from agentos_runtime.api.deps import ContextDep, DatabaseDep
from agentos_runtime.api.forms import FormRoute
from agentos_runtime.api.responses import DATABASE_ERRORS, DayMetrics, Metrics, RefreshStarted, RefreshStatus, answers
from agentos_runtime.api.routes.metrics_schemas import (
    day_view,
    metrics_view,
    refresh_started_view,
    refresh_status_view,
)
from agentos_runtime.metrics import aggregating
from agentos_runtime.metrics.refreshing import RefreshTracker
from agentos_runtime.storage.ports import MetricsRow

router = APIRouter(route_class=FormRoute, tags=["Metrics"], responses=DATABASE_ERRORS)
log = logging.getLogger(__name__)

JSON = dict[str, Any]
UserParam = Annotated[str | None, Query(description="Only this user's metrics.")]


async def get_refresh_tracker(request: Request) -> RefreshTracker:
    """The app's refresh tracker, made on first use (its state is per process, as in Agno)."""
    tracker: RefreshTracker | None = getattr(request.app.state, "metrics_refresh", None)
    if tracker is None:
        tracker = request.app.state.metrics_refresh = RefreshTracker()
    return tracker


TrackerDep = Annotated[RefreshTracker, Depends(get_refresh_tracker)]


@router.get("/metrics", responses=answers(Metrics, "Daily metrics", 400, 503))
async def get_metrics(
    database: DatabaseDep,
    tracker: TrackerDep,
    caller: CallerDep,
    starting_date: Annotated[date | None, Query(description="First day (YYYY-MM-DD).")] = None,
    ending_date: Annotated[date | None, Query(description="Last day (YYYY-MM-DD).")] = None,
    user_id: UserParam = None,
) -> JSON:
    """Daily metrics in a date range."""
    user_id = caller.scoped_user_id(user_id)
    store = database.database.metrics
    if tracker.is_due(database.config.id):
        tracker.start(database.config.id)
        await tracker.run(database.config.id, store)
    rows = await store.list_metrics(starting_date=starting_date, ending_date=ending_date, user_id=user_id)
    return metrics_view(_shaped(rows, user_id))


@router.post(
    "/metrics/refresh",
    response_model=None,
    responses={
        **answers(list[DayMetrics] | RefreshStarted, "The refreshed days, or that a refresh is running", 503),
        202: {"model": RefreshStarted, "description": "background=true: the refresh started, or one is running"},
    },
)
async def refresh_metrics(
    database: DatabaseDep,
    tracker: TrackerDep,
    context: ContextDep,
    caller: CallerDep,
    response: Response,
    user_id: UserParam = None,
    background: Annotated[bool, Query(description="Answer 202 at once and refresh in the background.")] = False,
) -> list[JSON] | JSON:
    """Recompute the daily metrics from the stored sessions."""
    user_id = caller.scoped_user_id(user_id)
    db_id = database.config.id
    if background:
        response.status_code = 202
        if tracker.is_running(db_id):
            return refresh_started_view(already_running=True)
        tracker.start(db_id)
        context.runs.track(asyncio.get_running_loop().create_task(_refresh_quietly(tracker, database)))
        return refresh_started_view(already_running=False)
    if tracker.is_running(db_id):  # one refresh at a time: its answer is this one's too
        rows = await tracker.outcome(db_id)
    else:
        tracker.start(db_id)
        rows = await tracker.run(db_id, database.database.metrics)
    if user_id is not None:
        rows = [row for row in rows if row.user_id == user_id]
    return [day_view(row) for row in _shaped(rows, user_id)]


@router.get("/metrics/refresh/status", responses=answers(RefreshStatus, "The latest refresh"))
async def get_refresh_status(database: DatabaseDep, tracker: TrackerDep) -> JSON:
    """The status of the latest metrics refresh of the database."""
    return refresh_status_view(tracker.status(database.config.id))


def _shaped(rows: list[MetricsRow], user_id: str | None) -> list[MetricsRow]:
    return aggregating.totals_by_day(rows) if user_id is None else aggregating.owner_rows(rows, user_id)


async def _refresh_quietly(tracker: RefreshTracker, database: OpenDatabase) -> None:
    """A background refresh: its failure is in the tracked status, and logged here once."""
    try:
        await tracker.run(database.config.id, database.database.metrics)
    except Exception:  # the background task's boundary: nobody awaits it, the status reports it
        log.exception("metrics refresh of database %s failed", database.config.id)
