"""Agno's Redis key layout, and which index entries a write adds and removes.

Each record is a JSON string at ``{prefix}:{table}:{id}`` where ``table`` is the literal
``sessions``, ``runs`` or ``memories`` (the configured table names are not used in keys, as in
Agno). Index SETs ``{prefix}:{table}:index:{field}:{value}`` hold record ids; each session's
run ids sit in the sorted set ``{prefix}:runs:by_session:{session_id}``, scored by run index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SESSIONS = "sessions"
RUNS = "runs"
MEMORIES = "memories"

# What a record of each table is called in errors and logs (``records.DamagedRecord``).
_KINDS = {SESSIONS: "session", RUNS: "run", MEMORIES: "memory", "evals": "eval run", "metrics": "metrics row"}


def kind_of(table: str) -> str:
    return _KINDS.get(table, table)


# The field of a table's records that holds the id its key names (a metrics row's ``id`` is
# Agno's own row id, not its key's).
_ID_FIELDS = {SESSIONS: "session_id", RUNS: "run_id", MEMORIES: "memory_id", "evals": "run_id"}


def identified(table: str, record_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as read from the key of ``record_id``: its id field says that id, whatever the
    stored one said (another writer's, or none), so a record is always the one its key names:
    what is deleted, listed or rewritten under that id."""
    field = _ID_FIELDS.get(table)
    if field is not None:
        record[field] = record_id
    return record


SESSION_INDEX_FIELDS = ("user_id", "agent_id", "team_id", "workflow_id", "session_type")
RUN_INDEX_FIELDS = ("session_id", "user_id", "agent_id", "team_id", "workflow_id", "run_type", "status")
MEMORY_INDEX_FIELDS = ("user_id", "agent_id", "team_id", "workflow_id")

# Glob metacharacters of SCAN's MATCH, escaped so a prefix only ever matches itself.
_GLOB = re.compile(r"([*?\[\]\\])")


def record_key(prefix: str, table: str, record_id: str) -> str:
    return f"{prefix}:{table}:{record_id}"


def index_key(prefix: str, table: str, field: str, value: object) -> str:
    return f"{prefix}:{table}:index:{field}:{value}"


def runs_by_session_key(prefix: str, session_id: str) -> str:
    return f"{prefix}:{RUNS}:by_session:{session_id}"


def cancel_key(prefix: str, run_id: str) -> str:
    """Where a run's cancel intent waits for the replica running it (expiring with the intent)."""
    return f"{prefix}:run_cancels:{run_id}"


def record_pattern(prefix: str, table: str) -> str:
    """The SCAN pattern of a table's keys (index and helper keys are filtered out after)."""
    escaped = _GLOB.sub(r"\\\1", prefix)
    return f"{escaped}:{table}:*"


def is_record_key(key: str, prefix: str, table: str) -> bool:
    """Whether a scanned key is a record, not an index SET or a runs-by-session helper."""
    helpers = (f"{prefix}:{table}:index:", f"{prefix}:{RUNS}:by_session:")
    return key.startswith(f"{prefix}:{table}:") and not key.startswith(helpers)


def record_id(key: str, prefix: str, table: str) -> str:
    return key[len(f"{prefix}:{table}:") :]


def ready_key(prefix: str) -> str:
    """The key each readiness check writes (``RedisDatabase.ping``); no table's scan matches it."""
    return f"{prefix}:ready"


def schema_version_key(prefix: str, table_name: str) -> str:
    """Where Agno's migration manager reads a table's schema version."""
    return f"{prefix}:agno_schema_versions:{table_name}"


def index_entries(prefix: str, table: str, record: Mapping[str, Any] | None, fields: tuple[str, ...]) -> set[str]:
    """The index SETs that list ``record`` (none for a missing record or a ``None`` field)."""
    if record is None:
        return set()
    return {index_key(prefix, table, field, record[field]) for field in fields if record.get(field) is not None}


def index_changes(
    prefix: str,
    table: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    fields: tuple[str, ...],
) -> tuple[set[str], set[str]]:
    """The index SETs to remove the record from and to add it to when ``old`` becomes ``new``."""
    before = index_entries(prefix, table, old, fields)
    after = index_entries(prefix, table, new, fields)
    return before - after, after - before
