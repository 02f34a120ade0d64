"""Pure shaping of daily metrics rows and session activity, shared by every backend.

A metrics row is stored as Agno stores it in ``agno_metrics``: one row per owner (``user_id``,
``""`` for sessions without one), day and aggregation period, unique on those three. The
in-process and Redis backends filter and order rows here; SQL compiles the same rules.
Nothing in this module does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from datetime import date, datetime
from typing import Any

import orjson

from agentos_runtime.storage.ports import JSON, MetricsDays, MetricsRow, RunUsage, SessionActivity, SessionRow
from agentos_runtime.storage.records import DamagedRecord, decode_json

METRICS_COLUMNS: tuple[str, ...] = (
    "id",
    "agent_runs_count",
    "team_runs_count",
    "workflow_runs_count",
    "agent_sessions_count",
    "team_sessions_count",
    "workflow_sessions_count",
    "users_count",
    "token_metrics",
    "model_metrics",
    "date",
    "aggregation_period",
    "user_id",
    "created_at",
    "updated_at",
    "completed",
)
COUNT_COLUMNS = (
    "agent_runs_count",
    "team_runs_count",
    "workflow_runs_count",
    "agent_sessions_count",
    "team_sessions_count",
    "workflow_sessions_count",
    "users_count",
)

MetricsKey = tuple[str, date, str]


def metrics_columns(row: MetricsRow) -> JSON:
    """The row as Agno's metrics-table columns (``date`` stays a ``date``)."""
    values = asdict(row)
    return {name: values[name] for name in METRICS_COLUMNS}


def day_of(value: Any) -> date:
    """A stored ``date``: a date, a datetime, or ISO text (how key-value stores and SQLite keep
    it); ``ValueError`` for anything else (never quoting it)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        return date.fromisoformat(value[:10])
    raise ValueError("a metrics date must be a day")


METRICS_KIND = "metrics row"


def metrics_from_columns(columns: Mapping[Any, Any], *, record_id: object = None) -> MetricsRow:
    """Build a ``MetricsRow`` from stored columns; ``DamagedRecord`` (naming ``record_id``, else
    the row's ``id``) when they do not hold one: no id, a date that is not a day, a count or a
    time that is not a whole number."""
    name = record_id if record_id is not None else columns.get("id")
    if columns.get("id") is None:
        raise DamagedRecord(METRICS_KIND, name, "it has no id")
    try:
        day = day_of(columns.get("date"))
    except ValueError:
        raise DamagedRecord(METRICS_KIND, name, "its date is not a day") from None
    numbers: dict[str, int | None] = {}
    for column in (*COUNT_COLUMNS, "created_at", "updated_at"):
        value = columns.get(column)
        if value is None:
            numbers[column] = None if column == "updated_at" else 0
        elif (whole := _whole(value)) is not None:
            numbers[column] = whole
        else:
            raise DamagedRecord(METRICS_KIND, name, f"its {column} is not a whole number")
    tokens = decode_json(columns.get("token_metrics"))
    models = decode_json(columns.get("model_metrics"))
    return MetricsRow(
        id=str(columns["id"]),
        date=day,
        user_id=str(columns.get("user_id") or ""),
        aggregation_period=str(columns.get("aggregation_period") or "daily"),
        token_metrics=dict(tokens) if isinstance(tokens, dict) else {},
        model_metrics=[dict(model) for model in models if isinstance(model, dict)] if isinstance(models, list) else [],
        completed=bool(columns.get("completed")),
        created_at=numbers.pop("created_at") or 0,
        updated_at=numbers.pop("updated_at"),
        **{column: numbers[column] or 0 for column in COUNT_COLUMNS},
    )


def _whole(value: object) -> int | None:
    """A stored count or time as an int (an int, an integral float, or decimal digits in text
    as other programs may write them); ``None`` when it is none, or past a 64-bit column."""
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and 0 < len(value) <= 20 and value.lstrip("-").isdigit() and value.isascii():
        number = int(value)
    return number if number is not None and -(2**63) <= number < 2**63 else None


def key_of(row: MetricsRow) -> MetricsKey:
    """What a metrics row is unique on."""
    return (row.user_id, row.date, row.aggregation_period)


def keep_identity(row: MetricsRow, stored: MetricsRow | None) -> MetricsRow:
    """``row`` as it replaces ``stored``: the stored ``id`` and ``created_at`` are kept."""
    if stored is None:
        return row
    return replace(row, id=stored.id, created_at=stored.created_at)


def select_metrics(
    rows: Iterable[MetricsRow], *, starting_date: date | None, ending_date: date | None, user_id: str | None
) -> list[MetricsRow]:
    """Rows in the inclusive date range (of one owner when ``user_id`` is given), by date then owner."""
    chosen = [
        row
        for row in rows
        if (starting_date is None or row.date >= starting_date)
        and (ending_date is None or row.date <= ending_date)
        and (user_id is None or row.user_id == user_id)
    ]
    return sorted(chosen, key=lambda row: (row.date, row.user_id, row.aggregation_period))


def metrics_days(rows: Iterable[MetricsRow]) -> MetricsDays:
    """The latest completed day, and the earliest incomplete day after it."""
    listed = list(rows)
    completed = [row.date for row in listed if row.completed]
    latest = max(completed, default=None)
    incomplete = [row.date for row in listed if not row.completed and (latest is None or row.date > latest)]
    return MetricsDays(latest_completed=latest, earliest_incomplete=min(incomplete, default=None))


# How deep runs held in runs are followed (teams of teams inside workflow steps ...): far
# beyond any the runtime nests, and a bound on what a stored record can make a read walk.
NESTING_LIMIT = 16


def run_usage(run: Mapping[str, Any], *, depth: int = 0) -> RunUsage:
    """The model and token counts of a stored run dict, with those of the runs it holds (its
    members' and its steps', to ``NESTING_LIMIT`` levels); entries that are no run are left out."""

    def held(field: str) -> tuple[RunUsage, ...]:
        listed = _decoded(run.get(field)) if depth < NESTING_LIMIT else None
        if not isinstance(listed, list):
            return ()
        return tuple(run_usage(item, depth=depth + 1) for item in listed if isinstance(item, dict))

    metrics = _decoded(run.get("metrics"))
    return RunUsage(
        model=_text(run.get("model")),
        model_provider=_text(run.get("model_provider")),
        metrics=metrics if isinstance(metrics, dict) else None,
        run_id=_text(run.get("run_id")),
        parent_run_id=_text(run.get("parent_run_id")),
        members=held("member_responses"),
        steps=held("step_executor_runs"),
    )


def _decoded(value: Any) -> Any:
    """A JSON column's value, its text decoded (by orjson: a team's run holds its members' runs,
    messages and all); ``None`` for text that is no JSON or nested too deep to decode (the runs it
    holds are then not counted, the run itself still is)."""
    if not isinstance(value, str | bytes):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:  # NaN (which another writer's JSON may hold), or past its depth
        pass
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


def session_activity(row: SessionRow) -> SessionActivity:
    """A stored session as the metrics see it."""
    session_metrics = (row.session_data or {}).get("session_metrics")
    return SessionActivity(
        session_id=row.session_id,
        session_type=row.session_type,
        created_at=row.created_at,
        user_id=row.user_id,
        session_metrics=session_metrics if isinstance(session_metrics, dict) else None,
        runs=[run_usage(run) for run in row.runs or []],
    )


def created_between(activity: Sequence[SessionActivity], *, start: int, end: int) -> list[SessionActivity]:
    return [session for session in activity if start <= session.created_at < end]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
