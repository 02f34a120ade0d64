"""The run path's SQL and the tables' DDL for one database, from the generated templates.

``sql_generation`` compiled them with SQLAlchemy ahead of time (``generated_sql``); here they
are rendered once per database with its table names and schema, so opening a database and
running agents never imports SQLAlchemy. Substituted names are always double-quoted, which
names exactly the table SQLAlchemy creates and queries (it quotes a name whenever quoting
changes its meaning). The parameter builders encode JSON values as text, raising ``TypeError``
for a value that is not JSON before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentos_runtime.config.databases import TableNames
from agentos_runtime.storage import records
from agentos_runtime.storage.ports import JSON, RecentRuns, SessionRow
from agentos_runtime.storage.sql.generated_sql import TEMPLATES

_PLACEHOLDER = re.compile(r"@@(\w*)\|(\w+)\|(\w*)@@")
AGNO_SCHEMA_VERSION: str = TEMPLATES["agno_schema_version"]
STATUS_SLOTS: int = TEMPLATES["status_slots"]
CANCEL_SLOTS: int = TEMPLATES["cancel_slots"]
# The tables that hold data, in the order of the templates' ``stamped_tables``.
TABLE_KINDS = ("sessions", "runs", "memories", "metrics", "evals")


@dataclass(frozen=True)
class Statement:
    """Driver SQL and the values SQLAlchemy bound itself (literals); ``bind`` adds ours."""

    sql: str
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def bind(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """The driver's parameters: the literals, then ``values``."""
        return {**self.defaults, **values} if self.defaults else values


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class SqlText:
    """The templates of one dialect (``sqlite`` or ``postgresql``) rendered for one database."""

    def __init__(self, dialect: str, names: TableNames, *, schema: str | None) -> None:
        templates = TEMPLATES["dialects"][dialect]
        self.dialect = dialect
        self._names = {
            "sessions": names.sessions,
            "memories": names.memories,
            "metrics": names.metrics,
            "evals": names.evals,
            "schema": schema or "",
        }
        self.ddl: list[tuple[str, list[Statement]]] = [
            (self._render(table, quoted=False), [Statement(self._render(sql)) for sql in statements])
            for table, statements in templates["ddl"]
        ]
        """Each table (its name) with the statements creating it and its indexes, in creation order."""
        self.stamped_tables: list[str] = [self._render(name, quoted=False) for name in templates["stamped_tables"]]
        """The tables that hold data, in ``TABLE_KINDS`` order: their schema versions are recorded."""
        self.tables: dict[str, str] = dict(zip(TABLE_KINDS, self.stamped_tables, strict=True))
        """Each kind of table (``TABLE_KINDS``) by its name in this database."""
        self.session_columns: tuple[str, ...] = tuple(templates["session_columns"])
        self.data_columns: dict[str, dict[str, str]] = {
            self._render(table, quoted=False): dict(columns) for table, columns in templates["data_columns"]
        }
        """Each data table (its name) with its columns and their types (``JSONB``, ``VARCHAR``...)."""
        self.legacy_session_columns: tuple[str, ...] = tuple(templates["legacy_session_columns"])
        self._statements = {
            key: Statement(self._render(sql), defaults) for key, (sql, defaults) in templates["statements"].items()
        }

    def qualified(self, table: str) -> str:
        """``table`` quoted, in this database's schema (PostgreSQL)."""
        schema = self._names["schema"]
        return f"{quote(schema)}.{quote(table)}" if schema else quote(table)

    def index_ddl(self, table: str, index: str) -> Statement:
        """The statement of the generated DDL creating ``index`` (its name) on ``table``."""
        # Names a config may change are quoted in the DDL, fixed ones are not.
        created = tuple(f"CREATE INDEX IF NOT EXISTS {name} " for name in (quote(index), index))
        for name, statements in self.ddl:
            if name == table:
                for statement in statements:
                    if statement.sql.startswith(created):
                        return statement
        raise KeyError(f"no index {index!r} on table {table!r} in the generated DDL")

    def _render(self, sql: str, *, quoted: bool = True) -> str:
        def name(match: re.Match[str]) -> str:
            identifier = match[1] + self._names[match[2]] + match[3]
            return quote(identifier) if quoted else identifier

        return _PLACEHOLDER.sub(name, sql)

    def select_session(self, *, by_type: bool, by_user: bool, legacy: bool) -> Statement:
        """``session_id`` and, when asked, ``session_type`` / ``user_id``: every column."""
        return self._statements[f"select_session:{int(by_type)}{int(by_user)}{int(legacy)}"]

    @property
    def all_runs(self) -> Statement:
        """``session_id``: every run's ``run_data`` in run order."""
        return self._statements["all_runs"]

    @property
    def recent_runs(self) -> Statement:
        """``window_params``: the top-level runs a window may pick, newest first."""
        return self._statements["recent_runs"]

    def upsert_session(self, *, with_state: bool) -> Statement:
        """``session_params``: the session row written, returned with every column."""
        return self._statements[f"upsert_session:{int(with_state)}"]

    @property
    def upsert_run(self) -> Statement:
        """``run_params``: the run row, at its stored position or the session's next one."""
        return self._statements["upsert_run"]

    @property
    def replace_run(self) -> Statement:
        """``replace_params``: the run row rewritten while it has the expected status (its ``run_id`` returned)."""
        return self._statements["replace_run"]

    @property
    def request_cancel(self) -> Statement:
        """``run_id``, ``expires_at``: a run's cancel intent, kept until then."""
        return self._statements["request_cancel"]

    @property
    def forget_cancels(self) -> Statement:
        """``now``: the cancel intents that expired, deleted."""
        return self._statements["forget_cancels"]

    @property
    def cancel_requested(self) -> Statement:
        """``cancel_params``: the run ids among them with a cancel intent not expired."""
        return self._statements["cancel_requested"]

    @property
    def stamp_version(self) -> Statement:
        """``table_name``, ``version``, ``stamped_at``: a created table's schema version."""
        return self._statements["stamp_version"]


def session_params(row: SessionRow, *, now: int, state: JSON | None) -> dict[str, Any]:
    """The parameters of ``upsert_session`` for ``row`` (JSON columns encoded)."""
    values = records.session_columns(row)
    params: dict[str, Any] = {
        name: (_encoded(values[name]) if name in records.SESSION_JSON_COLUMNS else values[name])
        for name in records.SESSION_COLUMNS
    }
    params["now"] = now
    if state is not None:
        params["state"] = records.encode_json(state)
    return params


def run_params(run: JSON, *, session_id: str, owner: str | None, now: int) -> dict[str, Any]:
    """The parameters of ``upsert_run`` (``run_data`` encoded; raises ``TypeError`` if not JSON,
    ``ValueError`` without a ``run_id``); ``owner``: the run's user, whose session it must be."""
    columns = records.run_columns(run, session_id=session_id, user_id=None, run_index=0, now=now)
    del columns["run_index"], columns["user_id"]
    columns["run_data"] = records.encode_json(run)
    columns["owner"] = owner
    return columns


def window_params(session_id: str, window: RecentRuns) -> dict[str, Any]:
    """The parameters of ``recent_runs``; raises ``ValueError`` past ``STATUS_SLOTS`` statuses."""
    statuses = sorted(window.skip_statuses)
    if len(statuses) > STATUS_SLOTS:
        raise ValueError(f"a recent-runs window skips at most {STATUS_SLOTS} statuses")
    # Unused slots repeat a status already skipped (or one no run has), so they change nothing.
    padding = statuses[0] if statuses else ""
    params: dict[str, Any] = {"session_id": session_id, "limit": window.limit}
    for index in range(STATUS_SLOTS):
        params[f"skip_{index}"] = statuses[index] if index < len(statuses) else padding
    return params


def cancel_params(run_ids: Sequence[str], *, now: int) -> list[dict[str, Any]]:
    """The parameters of ``cancel_requested`` asking about ``run_ids``, ``CANCEL_SLOTS`` per read."""
    batches: list[dict[str, Any]] = []
    for start in range(0, len(run_ids), CANCEL_SLOTS):
        batch = list(run_ids[start : start + CANCEL_SLOTS])
        # Unused slots repeat an id already asked about, so they change nothing.
        params: dict[str, Any] = {"now": now}
        for index in range(CANCEL_SLOTS):
            params[f"run_{index}"] = batch[index] if index < len(batch) else batch[0]
        batches.append(params)
    return batches


def _encoded(value: Any) -> str | None:
    return None if value is None else records.encode_json(value)


def replace_params(
    run: JSON, *, session_id: str, expected_status: str, expected_events: int | None, now: int
) -> dict[str, Any]:
    """The parameters of ``replace_run`` (``run_data`` encoded; raises as ``run_params``)."""
    return {
        "run_id": records.run_id_of(run),
        "session_id": session_id,
        "expected_status": expected_status,
        "expected_events": expected_events,
        "new_status": run.get("status"),
        "new_run_data": records.encode_json(run),
        "now": now,
    }
