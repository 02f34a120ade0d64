"""Pure decisions of the daily metrics: which days to recompute, a day's rows, and daily totals.

Agno's rules, kept so a database both write reads the same: a session counts on the UTC day it
was created, with all its runs; tokens are the session's ``session_metrics`` (what Agno keeps
there: each run's with its team members' and workflow steps'), else the same sum made from its
runs (``runs_tokens``); each run with a model counts once for its (model, provider); rows are
per owner (``""`` for sessions without a user, counting no user); a day becomes ``completed``
once it is over, and days stored completed are never recomputed. A team member's run counts as
a run of the team's session, as Agno, which stores it apart too, counts it: where a session
holds it apart (Agno's) it counts there, else (the runtime's) inside its team's run, never in
both. A workflow step's run counts in the workflow's tokens only, as in Agno. A
session of a type the runtime does not know (``SESSION_TYPES``; another writer's or an older
version's) is not counted at all, neither its session, runs, tokens nor models, as Agno, which
only walks the known types, does not count it.

Rows are built in one pass over the sessions, bucketed by (day, owner): a day without sessions
has no row and costs nothing, so a lone session in 1970 does not make a refresh walk every day
since.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from agentos_runtime.epochs import utc_datetime
from agentos_runtime.storable import count_or_zero
from agentos_runtime.storage.ports import JSON, MetricsDays, MetricsRow, RunUsage, SessionActivity

TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "audio_total_tokens",
    "audio_input_tokens",
    "audio_output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
COUNT_FIELDS = (
    "agent_runs_count",
    "team_runs_count",
    "workflow_runs_count",
    "agent_sessions_count",
    "team_sessions_count",
    "workflow_sessions_count",
    "users_count",
)
# The session types with counts of their own (``<type>_sessions_count``, ``<type>_runs_count``).
SESSION_TYPES = ("agent", "team", "workflow")
DAILY = "daily"


def utc_day(epoch: float) -> date:
    """The UTC day of ``epoch``; a time no date holds is on the nearest day there is."""
    moment = utc_datetime(epoch)
    return (moment or datetime.fromtimestamp(0, tz=UTC)).date()


def day_start(day: date) -> int:
    """Epoch seconds of the UTC midnight that starts ``day``."""
    return int(datetime.combine(day, datetime.min.time(), tzinfo=UTC).timestamp())


def resume_day(days: MetricsDays, first_session_at: int | None, *, today: date) -> date | None:
    """The first day a refresh recomputes (never after today); ``None``: nothing to compute.

    The earliest day stored as not final after the latest final one, else the day after that
    final one, else (no rows yet) the day of the first session.
    """
    if days.earliest_incomplete is not None:
        resume = days.earliest_incomplete
    elif days.latest_completed is not None:
        resume = days.latest_completed + timedelta(days=1)
    elif first_session_at is not None:
        resume = utc_day(first_session_at)
    else:
        return None
    return min(resume, today)


@dataclass
class _Bucket:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_FIELDS, 0))
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_FIELDS, 0))
    models: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, session: SessionActivity) -> None:
        counted = counted_runs(session.runs)
        self.counts[f"{session.session_type}_sessions_count"] += 1
        self.counts[f"{session.session_type}_runs_count"] += len(counted)
        for run in counted:
            if run.model:
                key = (run.model, run.model_provider or "")
                self.models[key] = self.models.get(key, 0) + 1
        for name, value in session_tokens(session).items():
            self.tokens[name] += value


def counted_runs(runs: Sequence[RunUsage]) -> list[RunUsage]:
    """The runs a session counts: each stored run, and each member's run held inside a team's
    run (to any depth) unless the session stores it apart too (Agno stores it both ways)."""
    stored = {run.run_id for run in runs if run.run_id is not None}
    counted = list(runs)
    stack = [member for run in runs for member in run.members]
    while stack:
        member = stack.pop()
        if member.run_id is not None and member.run_id in stored:
            continue  # counted as stored, and its members from there
        counted.append(member)
        stack.extend(member.members)
    return counted


def runs_tokens(runs: Sequence[RunUsage]) -> dict[str, int]:
    """The tokens of a session's runs (those of each of ``token_runs``)."""
    totals = dict.fromkeys(TOKEN_FIELDS, 0)
    for run in token_runs(runs):
        if run.metrics:
            for name in TOKEN_FIELDS:
                totals[name] += count_or_zero(run.metrics.get(name))
    return totals


def token_runs(runs: Sequence[RunUsage]) -> list[RunUsage]:
    """The runs whose own metrics a session's tokens sum: each stored run with the runs it holds
    (members', steps', to any depth), but for a run stored apart that another stored run also
    holds (a member's, as Agno stores them), counted there."""
    held = {
        inner.run_id
        for run in runs
        for inner in _with_held(run)
        if inner is not run and inner.run_id is not None and inner.run_id != run.run_id
    }
    return [inner for run in runs if run.run_id is None or run.run_id not in held for inner in _with_held(run)]


def _with_held(run: RunUsage) -> list[RunUsage]:
    """``run`` and every run it holds, members' and steps', to any depth."""
    found: list[RunUsage] = []
    stack = [run]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(current.members)
        stack.extend(current.steps)
    return found


def session_tokens(session: SessionActivity) -> dict[str, int]:
    """The session's token counts: its ``session_metrics``, else its runs' (``runs_tokens``)."""
    if session.session_metrics:
        return {name: count_or_zero(session.session_metrics.get(name)) for name in TOKEN_FIELDS}
    return runs_tokens(session.runs)


def daily_rows(sessions: Iterable[SessionActivity], *, first: date, now: int, today: date) -> list[MetricsRow]:
    """One row per day from ``first`` to ``today`` and owner with sessions that day, by day then owner."""
    return _rows(_buckets(sessions, first=first, last=today), now=now, today=today)


def day_rows(day: date, sessions: Iterable[SessionActivity], *, now: int, today: date) -> list[MetricsRow]:
    """One row per owner with sessions created on ``day``."""
    return _rows(_buckets(sessions, first=day, last=day), now=now, today=today)


def is_counted(session: SessionActivity) -> bool:
    return session.session_type in SESSION_TYPES


def _buckets(sessions: Iterable[SessionActivity], *, first: date, last: date) -> dict[tuple[date, str], _Bucket]:
    """The counted sessions created from ``first`` to ``last`` (inclusive), by (day, owner)."""
    buckets: dict[tuple[date, str], _Bucket] = {}
    for session in sessions:
        day = utc_day(session.created_at)
        if first <= day <= last and is_counted(session):
            buckets.setdefault((day, session.user_id or ""), _Bucket()).add(session)
    return buckets


def _rows(buckets: dict[tuple[date, str], _Bucket], *, now: int, today: date) -> list[MetricsRow]:
    return [
        MetricsRow(
            id=str(uuid.uuid4()),
            date=day,
            user_id=owner,
            aggregation_period=DAILY,
            token_metrics=bucket.tokens,
            model_metrics=[
                {"model_id": model, "model_provider": provider, "count": count}
                for (model, provider), count in bucket.models.items()
            ],
            completed=day < today,
            created_at=now,
            updated_at=now,
            **{**bucket.counts, "users_count": 0 if owner == "" else 1},
        )
        for (day, owner), bucket in sorted(buckets.items(), key=lambda item: item[0])
    ]


def is_legacy(row: MetricsRow) -> bool:
    """A row written before rows had owners: unowned yet counting users, so every user's traffic."""
    return row.user_id == "" and row.users_count > 0


def totals_by_day(rows: Iterable[MetricsRow]) -> list[MetricsRow]:
    """One row per day and period summing every owner's (``id`` is ``<date>_<period>``).

    A legacy row is left out of a day that also has owned rows, which already count it.
    """
    listed = list(rows)
    owned = {(row.date, row.aggregation_period) for row in listed if not is_legacy(row)}
    totals: dict[tuple[date, str], MetricsRow] = {}
    for row in listed:
        key = (row.date, row.aggregation_period)
        if is_legacy(row) and key in owned:
            continue
        current = totals.get(key)
        totals[key] = (
            replace(row, id=f"{row.date.isoformat()}_{row.aggregation_period}")
            if current is None
            else _sum(current, row)
        )
    return sorted(totals.values(), key=lambda row: (row.date, row.aggregation_period))


def _sum(total: MetricsRow, row: MetricsRow) -> MetricsRow:
    tokens = dict(total.token_metrics)
    for name, value in row.token_metrics.items():
        tokens[name] = count_or_zero(tokens.get(name)) + count_or_zero(value)
    models: dict[tuple[object, object], JSON] = {}
    for entry in [*total.model_metrics, *row.model_metrics]:
        key = (entry.get("model_id"), entry.get("model_provider"))
        merged = models.setdefault(key, {**entry, "count": 0})
        merged["count"] = count_or_zero(merged["count"]) + count_or_zero(entry.get("count"))
    counts = {name: getattr(total, name) + getattr(row, name) for name in COUNT_FIELDS}
    updated = [value for value in (total.updated_at, row.updated_at) if value is not None]
    return replace(
        total,
        token_metrics=tokens,
        model_metrics=list(models.values()),
        created_at=min(total.created_at, row.created_at),
        updated_at=max(updated) if updated else None,
        completed=total.completed and row.completed,
        **counts,
    )


def owner_rows(rows: Iterable[MetricsRow], user_id: str) -> list[MetricsRow]:
    """One owner's rows, with the id Agno gives them on every backend: ``<date>_<user>_<period>``."""
    return [replace(row, id=f"{row.date.isoformat()}_{user_id}_{row.aggregation_period}") for row in rows]
