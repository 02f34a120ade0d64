"""Pure shaping and listing of eval runs, shared by every backend.

An eval run is stored as Agno stores it in ``agno_eval_runs`` (``eval_data`` the result,
``eval_input`` what was asked). The in-process and Redis backends filter, order and page here;
SQL compiles the same rules: the same sortable columns (others fall back to ``created_at``),
``updated_at`` falling back to ``created_at``, missing values last, ties broken by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, replace
from typing import Any

from agentos_runtime.storage import querying
from agentos_runtime.storage.ports import JSON, EvalQuery, EvalRow, Page
from agentos_runtime.storage.records import DamagedRecord, decode_json

EVAL_COLUMNS: tuple[str, ...] = (
    "run_id",
    "eval_type",
    "eval_data",
    "eval_input",
    "name",
    "agent_id",
    "team_id",
    "workflow_id",
    "model_id",
    "model_provider",
    "evaluated_component_name",
    "user_id",
    "created_at",
    "updated_at",
)
EVAL_SORT_FIELDS = frozenset(
    {"created_at", "updated_at", "run_id", "eval_type", "name", "agent_id", "team_id", "workflow_id", "model_id"}
)
DEFAULT_EVAL_SORT = "created_at"
# The id column of each kind of evaluated component (``GET /eval-runs?type=``).
# What an eval run is called in ``DamagedRecord`` and ``UnreadableRecord``.
EVAL_KIND = "eval run"
COMPONENT_COLUMNS = {"agent": "agent_id", "team": "team_id", "workflow": "workflow_id"}


def eval_sort_field(sort_by: str) -> str:
    return sort_by if sort_by in EVAL_SORT_FIELDS else DEFAULT_EVAL_SORT


def eval_columns(row: EvalRow) -> JSON:
    values = asdict(row)
    return {name: values[name] for name in EVAL_COLUMNS}


def eval_from_columns(columns: Mapping[Any, Any]) -> EvalRow:
    """Build an ``EvalRow`` from stored columns (JSON columns may arrive as text); ``DamagedRecord``
    when they do not make one."""
    run_id = columns.get("run_id")
    data = decode_json(columns.get("eval_data"))
    given = decode_json(columns.get("eval_input"))
    eval_type = columns.get("eval_type")
    if run_id is None:
        raise DamagedRecord(EVAL_KIND, run_id, "it has no run_id")
    if eval_type is None:
        raise DamagedRecord(EVAL_KIND, run_id, "it has no eval_type")
    return EvalRow(
        run_id=str(run_id),
        eval_type=str(eval_type),
        eval_data=data if isinstance(data, dict) else {},
        eval_input=given if isinstance(given, dict) else {},
        name=_text(columns.get("name")),
        agent_id=_text(columns.get("agent_id")),
        team_id=_text(columns.get("team_id")),
        workflow_id=_text(columns.get("workflow_id")),
        model_id=_text(columns.get("model_id")),
        model_provider=_text(columns.get("model_provider")),
        evaluated_component_name=_text(columns.get("evaluated_component_name")),
        user_id=_text(columns.get("user_id")),
        created_at=_number(columns.get("created_at"), "created_at", run_id),
        updated_at=_number(columns.get("updated_at"), "updated_at", run_id),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any, name: str, run_id: object) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise DamagedRecord(EVAL_KIND, run_id, f"its {name} is not a whole number") from None


def stamp_eval(row: EvalRow, *, now: int) -> EvalRow:
    """``row`` as ``create_eval`` writes it: missing times are now."""
    return replace(
        row,
        created_at=row.created_at if row.created_at is not None else now,
        updated_at=row.updated_at if row.updated_at is not None else now,
    )


def eval_matches(row: EvalRow, query: EvalQuery) -> bool:
    """Whether ``row`` passes every filter of ``query``."""
    for name in ("agent_id", "team_id", "workflow_id", "model_id", "user_id"):
        wanted = getattr(query, name)
        if wanted is not None and getattr(row, name) != wanted:
            return False
    if query.component is not None and getattr(row, COMPONENT_COLUMNS[query.component]) is None:
        return False
    return not query.eval_types or row.eval_type in query.eval_types


def eval_sort_value(row: EvalRow, field: str) -> Any:
    if field == "updated_at":
        return row.updated_at if row.updated_at is not None else row.created_at
    return getattr(row, field)


def list_evals(rows: Iterable[EvalRow], query: EvalQuery) -> Page[EvalRow]:
    field = eval_sort_field(query.sort_by)
    matching = querying.sort_records(
        (row for row in rows if eval_matches(row, query)),
        value=lambda row: eval_sort_value(row, field),
        ident=lambda row: row.run_id,
        order=query.sort_order,
    )
    return querying.paginate(matching, limit=query.limit, page=query.page)
