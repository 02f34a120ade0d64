"""Pure record shaping shared by every backend: Agno's row dicts, run rows, and session edits.

Each backend stores the same dicts Agno stores (a session row without runs, one row per run,
one row per memory), so the conversions live here once. Nothing in this module does I/O; the
clock arrives as a ``now`` argument.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any, cast

from agentos_runtime import jsontext
from agentos_runtime.errors import Conflict
from agentos_runtime.storage.ports import JSON, MemoryRow, RecentRuns, SessionChanges, SessionRow, SessionType

SESSION_TYPES: tuple[SessionType, ...] = ("agent", "team", "workflow")

# The columns of Agno's sessions table (v3: the runs live in their own table).
SESSION_COLUMNS: tuple[str, ...] = (
    "session_id",
    "session_type",
    "agent_id",
    "team_id",
    "workflow_id",
    "user_id",
    "session_data",
    "agent_data",
    "team_data",
    "workflow_data",
    "metadata",
    "summary",
    "created_at",
    "updated_at",
)
SESSION_JSON_COLUMNS = ("session_data", "agent_data", "team_data", "workflow_data", "metadata", "summary")

MEMORY_COLUMNS: tuple[str, ...] = (
    "memory_id",
    "memory",
    "input",
    "feedback",
    "agent_id",
    "team_id",
    "user_id",
    "topics",
    "created_at",
    "updated_at",
)


def encode_json(value: Any) -> str:
    """Serialise ``value`` as stored text (UTF-8 kept readable); raise ``TypeError`` if it is not JSON."""
    return jsontext.dumps(value)


def copy_json(value: Any) -> Any:
    """A deep copy through JSON, so a stored value never aliases the caller's and non-JSON fails."""
    return json.loads(jsontext.dumps(value))


def stored_as(stored: Any, value: Any) -> bool:
    """Whether ``stored``, read back from a backend, is the JSON value ``value`` once stored.

    PostgreSQL's ``jsonb`` keeps a number as the decimal it spells: a float written with an
    exponent (``1e+23``) reads back as that integer (``100000000000000000000000``), which is not
    the float's exact value, so Python's ``==`` tells them apart; such a number is compared as
    the float it was. A boolean is never a number (``true`` is not ``1``, as ``==`` says). A
    value that is not JSON, or nested deeper than a comparison goes, is not the same.
    """
    try:
        return _same_json(stored, copy_json(value))
    except (TypeError, ValueError, RecursionError):
        return False


def _same_json(stored: Any, written: Any) -> bool:
    if isinstance(stored, dict) and isinstance(written, dict):
        return stored.keys() == written.keys() and all(_same_json(stored[key], written[key]) for key in stored)
    if isinstance(stored, list) and isinstance(written, list):
        return len(stored) == len(written) and all(map(_same_json, stored, written))
    if isinstance(stored, bool) or isinstance(written, bool):
        return stored is written
    if isinstance(written, float) and isinstance(stored, int):
        try:
            return float(stored) == written
        except OverflowError:
            return False
    return type(stored) is type(written) and bool(stored == written)


class DamagedRecord(Exception):
    """A stored record that cannot be read: its kind (``session``, ``memory``...), its id and a
    short reason that never quotes the stored content. The backend's store turns it into
    ``UnreadableRecord`` naming the database (``damage``); a listing leaves the record out."""

    def __init__(self, kind: str, record_id: object, reason: str) -> None:
        super().__init__(f"stored {kind} {str(record_id)!r} cannot be read ({reason})")
        self.kind = kind
        self.record_id = str(record_id)
        self.reason = reason


def decode_record(kind: str, record_id: object, text: str | bytes) -> JSON:
    """A record stored as JSON text (Redis): the object it holds, else ``DamagedRecord``."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise DamagedRecord(kind, record_id, "its value is not JSON") from None
    if not isinstance(value, dict):
        raise DamagedRecord(kind, record_id, "its value is not a JSON object")
    return value


def stored_run(value: Any, *, session_id: object) -> JSON:
    """A run's stored ``run_data``; a run that is not an object makes its session unreadable."""
    run = decode_json(value)
    if not isinstance(run, dict):
        raise DamagedRecord("session", session_id, "one of its runs is not a JSON object")
    return cast(JSON, run)


def _required(columns: Mapping[Any, Any], name: str, kind: str, record_id: object) -> Any:
    value = columns.get(name)
    if value is None:
        raise DamagedRecord(kind, record_id, f"it has no {name}")
    return value


def _whole(value: Any, name: str, kind: str, record_id: object) -> int | None:
    """``value`` as the whole number a time column holds (``None`` stays ``None``)."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise DamagedRecord(kind, record_id, f"its {name} is not a whole number") from None


def decode_json(value: Any) -> Any:
    """A JSON column's value: drivers (and Agno on SQLite) sometimes hand back the encoded text."""
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def decode_json_value(value: Any) -> Any:
    """A JSON column's object or list, also when it holds that value's JSON text as a JSON
    string: Agno 2's ``SqliteDb`` encoded session columns before its JSON column encoded them
    again, and Agno's 3.0 migration keeps them so."""
    decoded = decode_json(value)
    return decode_json(decoded) if isinstance(decoded, str) else decoded


def _json_object(value: Any) -> JSON | None:
    decoded = decode_json_value(value)
    return cast(JSON, decoded) if isinstance(decoded, dict) else None


def session_columns(row: SessionRow) -> JSON:
    """The session row as Agno's sessions-table columns (no runs; values not copied)."""
    return {name: getattr(row, name) for name in SESSION_COLUMNS}


def session_from_columns(columns: Mapping[Any, Any], runs: Sequence[JSON] | None) -> SessionRow:
    """Build a ``SessionRow`` from stored columns (any extra keys, e.g. a legacy ``runs``, ignored);
    ``DamagedRecord`` when they do not make one."""
    session_id = columns.get("session_id")
    session_type = _required(columns, "session_type", "session", session_id)
    if session_type not in SESSION_TYPES:
        raise DamagedRecord("session", session_id, f"its session_type is not one of {', '.join(SESSION_TYPES)}")
    created_at = _whole(_required(columns, "created_at", "session", session_id), "created_at", "session", session_id)
    json_values = {name: _json_object(columns.get(name)) for name in SESSION_JSON_COLUMNS}
    return SessionRow(
        session_id=str(session_id),
        session_type=session_type,
        created_at=cast(int, created_at),
        agent_id=columns.get("agent_id"),
        team_id=columns.get("team_id"),
        workflow_id=columns.get("workflow_id"),
        user_id=columns.get("user_id"),
        runs=list(runs) if runs is not None else None,
        updated_at=_whole(columns.get("updated_at"), "updated_at", "session", session_id),
        **json_values,
    )


def run_id_of(run: Mapping[str, Any]) -> str:
    """The ``run_id`` of a run dict; a run without one cannot be stored."""
    run_id = run.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise ValueError("a run must carry a non-empty string 'run_id'")
    return run_id


def run_type_of(run: Mapping[str, Any]) -> SessionType:
    """Which kind of run a run dict is, the way Agno tells them apart."""
    if run.get("agent_id") or run.get("agent_name"):
        return "agent"
    if run.get("team_id") or run.get("team_name"):
        return "team"
    return "workflow"


def run_columns(run: JSON, *, session_id: str, user_id: str | None, run_index: int, now: int) -> JSON:
    """One row of Agno's runs table for ``run`` at position ``run_index`` of its session."""
    return {
        "run_id": run_id_of(run),
        "session_id": session_id,
        "run_type": run_type_of(run),
        "agent_id": run.get("agent_id"),
        "team_id": run.get("team_id"),
        "workflow_id": run.get("workflow_id"),
        "user_id": user_id,
        "parent_run_id": run.get("parent_run_id"),
        "status": run.get("status"),
        "run_index": run_index,
        "run_data": run,
        "created_at": run.get("created_at") or now,
        "updated_at": now,
    }


def events_held(run: Mapping[str, Any]) -> int:
    """How many items a run's ``events`` holds (none when it is no list), as ``replace_run`` counts them."""
    held = run.get("events")
    return len(held) if isinstance(held, list) else 0


def stored_with(run: JSON, *, status: str, events: int | None) -> bool:
    """Whether a stored ``run`` has ``status`` and, when ``events`` is given, that many events
    (``replace_run``'s condition)."""
    return run.get("status") == status and (events is None or events_held(run) == events)


def merge_run(runs: Sequence[JSON], run: JSON) -> list[JSON]:
    """``runs`` with ``run`` replacing the run of the same ``run_id`` in place, else appended."""
    run_id = run_id_of(run)
    merged = [run if existing.get("run_id") == run_id else existing for existing in runs]
    if not any(existing.get("run_id") == run_id for existing in runs):
        merged.append(run)
    return merged


def merge_legacy_runs(stored_runs: Sequence[JSON], legacy: Any) -> list[JSON]:
    """Runs of a session Agno 2 left in its row's ``runs`` field, merged with the stored runs.

    Agno 3 keeps that field as a backup after moving runs out; the legacy order comes first,
    a stored run replaces the legacy run with its ``run_id``, and runs only stored follow.
    """
    legacy_runs = decode_json_value(legacy)
    if not isinstance(legacy_runs, list) or not legacy_runs:
        return list(stored_runs)
    by_id = {run.get("run_id"): run for run in stored_runs}
    merged = [by_id.get(run.get("run_id"), run) for run in legacy_runs if isinstance(run, dict)]
    legacy_ids = {run.get("run_id") for run in merged}
    return merged + [run for run in stored_runs if run.get("run_id") not in legacy_ids]


def is_recent_candidate(run: Mapping[str, Any], window: RecentRuns) -> bool:
    """Whether ``window`` may pick ``run``: a top-level run with a status it does not skip."""
    return run.get("parent_run_id") is None and run.get("status") not in window.skip_statuses


def select_recent(runs: Sequence[JSON], window: RecentRuns) -> list[JSON]:
    """The runs ``window`` picks from a session's runs (in run order), oldest first."""
    if window.limit <= 0:
        return []
    return [run for run in runs if is_recent_candidate(run, window)][-window.limit :]


def with_session_data(session_data: JSON | None, **entries: Any) -> JSON:
    """``session_data`` with ``entries`` set (entries whose value is ``None`` are left alone)."""
    updated = dict(session_data or {})
    updated.update({key: value for key, value in entries.items() if value is not None})
    return updated


def with_state(session_data: JSON | None, state: JSON | None) -> JSON | None:
    """``session_data`` after a run that ended with ``state`` (``None``: left as it is)."""
    return with_session_data(session_data, session_state=state) if state is not None else session_data


def owned_by_another(stored: SessionRow | None, new: SessionRow) -> bool:
    """Whether ``save_run`` of ``new`` would write into another user's session: one is stored, and
    the run names a user it does not have (a run naming none may continue any session)."""
    return stored is not None and new.user_id is not None and stored.user_id != new.user_id


def another_users_session(session_id: str) -> Conflict:
    """What ``save_run`` raises, writing nothing, for a session ``owned_by_another``."""
    return Conflict(
        f"session '{session_id}' belongs to another user: send another session_id, or none for a new session"
    )


def saved_session(stored: SessionRow | None, new: SessionRow, *, state: JSON | None, now: int) -> SessionRow:
    """The session row (without runs) ``save_run`` writes: ``new`` when nothing is stored."""
    base = stored if stored is not None else new
    return replace(base, runs=None, session_data=with_state(base.session_data, state), updated_at=now)


def apply_run(stored: SessionRow | None, new: SessionRow, run: JSON, *, state: JSON | None, now: int) -> SessionRow:
    """The session after ``save_run``: ``new`` when nothing is stored, the run merged, the state set."""
    base = stored if stored is not None else new
    session_data = with_session_data(base.session_data, session_state=state) if state is not None else base.session_data
    return replace(base, runs=merge_run(base.runs or [], run), session_data=session_data, updated_at=now)


def apply_changes(stored: SessionRow, changes: SessionChanges, *, now: int) -> SessionRow:
    """The session after a PATCH/rename: name and state live in ``session_data``, as in Agno."""
    session_data = stored.session_data
    if changes.session_name is not None or changes.session_state is not None:
        session_data = with_session_data(
            session_data, session_name=changes.session_name, session_state=changes.session_state
        )
    return replace(
        stored,
        session_data=session_data,
        metadata=changes.metadata if changes.metadata is not None else stored.metadata,
        summary=changes.summary if changes.summary is not None else stored.summary,
        updated_at=now,
    )


def stamp_session(row: SessionRow, *, now: int) -> SessionRow:
    """``row`` as written by ``upsert_session``: ``updated_at`` defaults to now."""
    return row if row.updated_at is not None else replace(row, updated_at=now)


def owned_memory(stored: MemoryRow | None, user_id: str | None) -> bool:
    """Whether ``stored`` exists and is ``user_id``'s (anyone's, for ``None``)."""
    return stored is not None and (user_id is None or stored.user_id == user_id)


def memory_columns(row: MemoryRow) -> JSON:
    """The memory row as Agno's memories-table columns."""
    values = asdict(row)
    return {name: values[name] for name in MEMORY_COLUMNS}


def memory_from_columns(columns: Mapping[Any, Any]) -> MemoryRow:
    """Build a ``MemoryRow`` from stored columns; ``memory`` is JSON text, or an object Agno stored.
    ``DamagedRecord`` when they do not make one."""
    memory_id = columns.get("memory_id")
    memory = _required(columns, "memory", "memory", memory_id)
    topics = decode_json(columns.get("topics"))
    return MemoryRow(
        memory_id=str(memory_id),
        memory=memory if isinstance(memory, str) else encode_json(memory),
        user_id=columns.get("user_id"),
        agent_id=columns.get("agent_id"),
        team_id=columns.get("team_id"),
        topics=[str(topic) for topic in topics] if isinstance(topics, list) else [],
        input=columns.get("input"),
        feedback=columns.get("feedback"),
        created_at=_whole(columns.get("created_at"), "created_at", "memory", memory_id),
        updated_at=_whole(columns.get("updated_at"), "updated_at", "memory", memory_id),
    )


def stamp_memory(row: MemoryRow, stored: MemoryRow | None, *, now: int) -> MemoryRow:
    """``row`` as written by ``upsert_memory``: the stored ``created_at`` is kept, times default to now."""
    created_at = stored.created_at if stored is not None and stored.created_at is not None else row.created_at
    return replace(
        row,
        created_at=created_at if created_at is not None else now,
        updated_at=row.updated_at if row.updated_at is not None else now,
    )
