"""The statements of a run's read and save, built once with SQLAlchemy and kept as driver SQL.

Every run reads its session (with the runs its history replays) and saves itself once. Those
two operations go to the database without SQLAlchemy's per-execution machinery, which costs
several times what the database does: their statements are built here from the same tables
and dialect data as everything else, compiled once to the driver's SQL text and parameter
style, and run by an ``Executor`` (``executing``). Values are passed already encoded (JSON as
text) and rows come back as the driver gives them.

A save is two statements in one transaction: an upsert of the session row (``new`` when it is
absent; otherwise ``session_state`` set inside the stored ``session_data`` and ``updated_at``
moved), then an upsert of the run row whose position is computed in SQL (its stored index when
it is a rewrite, else one past the session's last). The session upsert locks the session row
on PostgreSQL and SQLite's ``BEGIN IMMEDIATE`` holds the write lock, so two saves into one
session take turns and each sees the other's run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import BigInteger, ClauseElement, Integer, String, bindparam, func, or_, select
from sqlalchemy.engine.interfaces import Dialect as DriverDialect

from agentos_runtime.storage import records
from agentos_runtime.storage.ports import JSON, RecentRuns, SessionRow
from agentos_runtime.storage.sql.dialects import Dialect
from agentos_runtime.storage.sql.tables import Tables


@dataclass(frozen=True)
class Statement:
    """Driver SQL and the values SQLAlchemy bound itself (literals); ``bind`` adds ours."""

    sql: str
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def bind(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """The driver's parameters: the literals, then ``values``."""
        return {**self.defaults, **values} if self.defaults else values


def compile_statement(statement: ClauseElement, driver: DriverDialect) -> Statement:
    compiled = statement.compile(dialect=driver)
    return Statement(compiled.string, {k: v for k, v in compiled.params.items() if v is not None})


class SessionStatements:
    """The compiled statements of ``get_session`` and ``save_run`` for one set of tables."""

    def __init__(self, tables: Tables, dialect: Dialect, driver: DriverDialect) -> None:
        self._tables = tables
        self._dialect = dialect
        self._driver = driver
        self._cache: dict[Any, Statement] = {}
        self.session_columns = tuple(column.name for column in tables.sessions.columns)

    def _compiled(self, key: Any, build: Any) -> Statement:
        statement = self._cache.get(key)
        if statement is None:
            statement = self._cache[key] = compile_statement(build(), self._driver)
        return statement

    def select_session(self, *, by_type: bool, by_user: bool) -> Statement:
        """``session_id`` and, when asked, ``session_type`` / ``user_id`` parameters."""

        def build() -> ClauseElement:
            sessions = self._tables.sessions
            conditions = [sessions.c.session_id == bindparam("session_id", type_=String)]
            if by_type:
                conditions.append(sessions.c.session_type == bindparam("session_type", type_=String))
            if by_user:
                conditions.append(sessions.c.user_id == bindparam("user_id", type_=String))
            return select(sessions).where(*conditions)

        return self._compiled(("session", by_type, by_user), build)

    @cached_property
    def all_runs(self) -> Statement:
        """``session_id``: every run's ``run_data`` in run order."""
        runs = self._tables.runs
        statement = (
            select(runs.c.run_data)
            .where(runs.c.session_id == bindparam("session_id", type_=String))
            .order_by(runs.c.run_index, runs.c.created_at, runs.c.run_id)
        )
        return compile_statement(statement, self._driver)

    def recent_runs(self, skipped: int) -> Statement:
        """``session_id``, ``limit`` and ``skip_0`` ... ``skip_<skipped-1>``: the newest runs first."""

        def build() -> ClauseElement:
            runs = self._tables.runs
            conditions = [runs.c.session_id == bindparam("session_id", type_=String), runs.c.parent_run_id.is_(None)]
            if skipped:
                statuses = [bindparam(f"skip_{index}", type_=String) for index in range(skipped)]
                conditions.append(or_(runs.c.status.is_(None), runs.c.status.not_in(statuses)))
            return (
                select(runs.c.run_data)
                .where(*conditions)
                .order_by(runs.c.run_index.desc(), runs.c.created_at.desc(), runs.c.run_id.desc())
                .limit(bindparam("limit", type_=Integer))
            )

        return self._compiled(("recent", skipped), build)

    def upsert_session(self, *, with_state: bool) -> Statement:
        """Every session column by name (JSON as text), ``now``, and ``state`` when ``with_state``."""

        def build() -> ClauseElement:
            sessions = self._tables.sessions
            values = {name: bindparam(name, type_=sessions.c[name].type) for name in records.SESSION_COLUMNS}
            changes: dict[str, Any] = {"updated_at": bindparam("now", type_=BigInteger)}
            if with_state:
                state = bindparam("state", type_=sessions.c.session_data.type)
                changes["session_data"] = self._dialect.json_with_key(sessions.c.session_data, "session_state", state)
            insert = self._dialect.insert(sessions).values(values)
            return insert.on_conflict_do_update(index_elements=["session_id"], set_=changes).returning(
                *sessions.columns
            )

        return self._compiled(("upsert_session", with_state), build)

    @cached_property
    def upsert_run(self) -> Statement:
        """Every run column by name (JSON as text) but ``run_index`` and ``user_id``, which SQL
        computes: the run's stored position or the session's next one, and the session's owner."""
        runs, sessions = self._tables.runs, self._tables.sessions
        run_id = bindparam("run_id", type_=String)
        session_id = bindparam("session_id", type_=String)
        current = select(runs.c.run_index).where(runs.c.run_id == run_id).scalar_subquery()
        following = select(func.max(runs.c.run_index) + 1).where(runs.c.session_id == session_id).scalar_subquery()
        computed = {"run_index", "user_id"}
        values: dict[str, Any] = {
            column.name: bindparam(column.name, type_=column.type)
            for column in runs.columns
            if column.name not in computed
        }
        values["run_index"] = func.coalesce(current, following, 0)
        values["user_id"] = select(sessions.c.user_id).where(sessions.c.session_id == session_id).scalar_subquery()
        insert = self._dialect.insert(runs).values(values)
        kept = {"run_id", "created_at", "run_index"}
        changed = {column.name: insert.excluded[column.name] for column in runs.columns if column.name not in kept}
        return compile_statement(insert.on_conflict_do_update(index_elements=["run_id"], set_=changed), self._driver)


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


def run_params(run: JSON, *, session_id: str, now: int) -> dict[str, Any]:
    """The parameters of ``upsert_run`` (``run_data`` encoded; raises ``TypeError`` if not JSON,
    ``ValueError`` without a ``run_id``)."""
    columns = records.run_columns(run, session_id=session_id, user_id=None, run_index=0, now=now)
    del columns["run_index"], columns["user_id"]
    columns["run_data"] = records.encode_json(run)
    return columns


def window_params(session_id: str, window: RecentRuns) -> dict[str, Any]:
    """The parameters of ``recent_runs(len(window.skip_statuses))``."""
    params: dict[str, Any] = {"session_id": session_id, "limit": window.limit}
    for index, status in enumerate(sorted(window.skip_statuses)):
        params[f"skip_{index}"] = status
    return params


def _encoded(value: Any) -> str | None:
    return None if value is None else records.encode_json(value)
