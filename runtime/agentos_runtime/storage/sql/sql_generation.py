"""Generates ``generated_sql``: the run path's statements and the tables' DDL, compiled once.

    .venv/bin/python -m agentos_runtime.storage.sql.sql_generation > runtime/agentos_runtime/storage/sql/generated_sql.py

SQLAlchemy stays the one definition of the tables (``tables``) and of the dialect differences
(``dialects``), but importing it costs about 0.2 s and 25 MB, which a runtime that only runs
agents never needs. So the statements every run sends (read a session with its recent runs,
save a run) and the DDL that creates the tables are compiled here, for both dialects, into
plain SQL text with placeholders for the names a config may change (table names, the
PostgreSQL schema); ``statements`` renders them at start-up. A test fails when the generated
file is stale.

A save is two statements in one transaction: an upsert of the session row (``new`` when it is
absent; otherwise ``session_state`` set inside the stored ``session_data`` and ``updated_at``
moved), returning the row, then an upsert of the run row whose position and owner are computed
in SQL (its stored index when it is a rewrite, else one past the session's last; the session's
``user_id``). The session upsert locks the session row on PostgreSQL, and SQLite's ``BEGIN
IMMEDIATE`` holds the write lock, so two saves into one session take turns and each sees the
other's run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    ClauseElement,
    Integer,
    String,
    bindparam,
    create_mock_engine,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine.interfaces import Dialect as DriverDialect
from sqlalchemy.schema import CreateIndex, CreateTable, ExecutableDDLElement

from agentos_runtime.config.databases import TableNames
from agentos_runtime.storage import records
from agentos_runtime.storage.sql.dialects import DIALECTS, Dialect
from agentos_runtime.storage.sql.tables import AGNO_SCHEMA_VERSION, Tables, build_tables

# The names a config may change, compiled as sentinels and turned into ``@@prefix|key|suffix@@``.
SENTINEL = "aos__{}__"
NAMES = TableNames(**{key: SENTINEL.format(key) for key in ("sessions", "memories", "metrics", "evals")})
SCHEMA = SENTINEL.format("schema")
_SENTINEL_IN_IDENTIFIER = re.compile(r"(?<![\w\"])(\w*?)aos__(sessions|memories|metrics|evals|schema)__(\w*)")
# Statuses a recent-runs read can skip; unused slots repeat the first status.
STATUS_SLOTS = 8
# Run ids one read of cancel intents asks about; unused slots repeat the first id.
CANCEL_SLOTS = 16
_URLS = {"sqlite": "sqlite://", "postgresql": "postgresql+psycopg://"}

Compiled = tuple[str, dict[str, Any]]


def placeholders(sql: str) -> str:
    """``sql`` on one line, the names a config may change as ``@@prefix|key|suffix@@``."""
    return _SENTINEL_IN_IDENTIFIER.sub(r"@@\1|\2|\3@@", " ".join(sql.split()))


def compile_template(statement: ClauseElement, driver: DriverDialect) -> Compiled:
    compiled = statement.compile(dialect=driver)
    defaults = {key: value for key, value in compiled.params.items() if value is not None}
    return placeholders(compiled.string), defaults


class RunStatements:
    """The statements of a run's session read and save, built on one set of tables."""

    def __init__(self, tables: Tables, dialect: Dialect) -> None:
        self._tables = tables
        self._dialect = dialect

    def select_session(self, *, by_type: bool, by_user: bool) -> ClauseElement:
        """``session_id`` and, when asked, ``session_type`` / ``user_id``: every column."""
        sessions = self._tables.sessions
        conditions = [sessions.c.session_id == bindparam("session_id", type_=String)]
        if by_type:
            conditions.append(sessions.c.session_type == bindparam("session_type", type_=String))
        if by_user:
            conditions.append(sessions.c.user_id == bindparam("user_id", type_=String))
        return select(sessions).where(*conditions)

    def all_runs(self) -> ClauseElement:
        """``session_id``: every run's ``run_data`` in run order."""
        runs = self._tables.runs
        return (
            select(runs.c.run_data)
            .where(runs.c.session_id == bindparam("session_id", type_=String))
            .order_by(runs.c.run_index, runs.c.created_at, runs.c.run_id)
        )

    def recent_runs(self) -> ClauseElement:
        """``session_id``, ``limit``, ``skip_0`` ... ``skip_7``: top-level runs, newest first."""
        runs = self._tables.runs
        statuses = [bindparam(f"skip_{index}", type_=String) for index in range(STATUS_SLOTS)]
        return (
            select(runs.c.run_data)
            .where(
                runs.c.session_id == bindparam("session_id", type_=String),
                runs.c.parent_run_id.is_(None),
                or_(runs.c.status.is_(None), runs.c.status.not_in(statuses)),
            )
            .order_by(runs.c.run_index.desc(), runs.c.created_at.desc(), runs.c.run_id.desc())
            .limit(bindparam("limit", type_=Integer))
        )

    def upsert_session(self, *, with_state: bool) -> ClauseElement:
        """Every session column by name (JSON as text), ``now``, ``state`` when ``with_state``."""
        sessions = self._tables.sessions
        values = {name: bindparam(name, type_=sessions.c[name].type) for name in records.SESSION_COLUMNS}
        changes: dict[str, Any] = {"updated_at": bindparam("now", type_=BigInteger)}
        if with_state:
            state = bindparam("state", type_=sessions.c.session_data.type)
            changes["session_data"] = self._dialect.json_with_key(sessions.c.session_data, "session_state", state)
        insert = self._dialect.insert(sessions).values(values)
        # A stored session is another user's when the run names a user it does not have: then
        # nothing is updated or returned (and ``upsert_run`` inserts nothing): the caller refuses.
        mine = or_(insert.excluded.user_id.is_(None), sessions.c.user_id == insert.excluded.user_id)
        upsert = insert.on_conflict_do_update(index_elements=["session_id"], set_=changes, where=mine)
        return upsert.returning(*sessions.columns)

    def upsert_run(self) -> ClauseElement:
        """Every run column by name (JSON as text) but ``run_index`` and ``user_id``."""
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
        # Only into a session of the run's user (or any, for a run naming none), as ``upsert_session``.
        owner = bindparam("owner", type_=String)
        ours = select(sessions.c.session_id).where(
            sessions.c.session_id == session_id, or_(owner.is_(None), sessions.c.user_id == owner)
        )
        names = [column.name for column in runs.columns]
        rows = select(*(values[name].label(name) for name in names)).where(ours.exists())
        insert = self._dialect.insert(runs).from_select(names, rows)
        kept = {"run_id", "created_at", "run_index"}
        changed = {column.name: insert.excluded[column.name] for column in runs.columns if column.name not in kept}
        return insert.on_conflict_do_update(index_elements=["run_id"], set_=changed)

    def replace_run(self) -> ClauseElement:
        """``run_id``, ``session_id``, ``expected_status``, ``expected_events``, ``status``,
        ``run_data``, ``now``: the run's row rewritten only while its status is the expected one
        and (when ``expected_events`` is not NULL) its ``run_data`` holds that many events; its
        ``run_id`` returned then."""
        runs = self._tables.runs
        expected_events = bindparam("expected_events", type_=BigInteger)
        held = self._dialect.events_count(runs.c.run_data)
        return (
            update(runs)
            .where(
                runs.c.run_id == bindparam("run_id", type_=String),
                runs.c.session_id == bindparam("session_id", type_=String),
                runs.c.status == bindparam("expected_status", type_=String),
                or_(expected_events.is_(None), held == expected_events),
            )
            .values(
                status=bindparam("new_status", type_=String),
                run_data=bindparam("new_run_data", type_=runs.c.run_data.type),
                updated_at=bindparam("now", type_=BigInteger),
            )
            .returning(runs.c.run_id)
        )

    def request_cancel(self) -> ClauseElement:
        """``run_id``, ``expires_at``: a run's cancel intent, kept until then (a later one wins)."""
        cancels = self._tables.cancels
        insert = self._dialect.insert(cancels).values(
            run_id=bindparam("run_id", type_=String), expires_at=bindparam("expires_at", type_=BigInteger)
        )
        return insert.on_conflict_do_update(index_elements=["run_id"], set_={"expires_at": insert.excluded.expires_at})

    def forget_cancels(self) -> ClauseElement:
        """``now``: the cancel intents that expired, deleted."""
        cancels = self._tables.cancels
        return delete(cancels).where(cancels.c.expires_at <= bindparam("now", type_=BigInteger))

    def cancel_requested(self) -> ClauseElement:
        """``now``, ``run_0`` ... ``run_15``: which of these runs have a cancel intent not expired."""
        cancels = self._tables.cancels
        run_ids = [bindparam(f"run_{index}", type_=String) for index in range(CANCEL_SLOTS)]
        return select(cancels.c.run_id).where(
            cancels.c.run_id.in_(run_ids), cancels.c.expires_at > bindparam("now", type_=BigInteger)
        )

    def stamp_version(self) -> ClauseElement:
        """``table_name``, ``version``, ``stamped_at``: a new table's schema version, kept if there is one."""
        versions = self._tables.versions
        stamped_at = bindparam("stamped_at", type_=String)
        insert = self._dialect.insert(versions).values(
            table_name=bindparam("table_name", type_=String),
            version=bindparam("version", type_=String),
            created_at=stamped_at,
            updated_at=stamped_at,
        )
        return insert.on_conflict_do_nothing(index_elements=["table_name"])


def ddl(tables: Tables, dialect_name: str) -> list[list[Any]]:
    """What ``metadata.create_all`` sends on ``dialect_name``, as ``[table, [statements]]`` in
    creation order: each table's ``CREATE TABLE IF NOT EXISTS`` then its indexes, sorted by
    name (SQLAlchemy keeps them in a set, in no fixed order)."""
    sent: list[ExecutableDDLElement] = []
    engine = create_mock_engine(_URLS[dialect_name], lambda sql, *_, **__: sent.append(sql))
    tables.metadata.create_all(engine, checkfirst=False)
    driver = DIALECTS[dialect_name].driver()
    groups: list[list[Any]] = []
    for element in sent:
        if isinstance(element, CreateTable):
            groups.append([element.element, CreateTable(element.element, if_not_exists=True), []])
        elif isinstance(element, CreateIndex) and groups and element.element.table is groups[-1][0]:
            groups[-1][2].append(element.element)
        else:
            raise ValueError(f"unexpected DDL from create_all: {element}")
    return [
        [
            placeholders(table.name),
            [
                placeholders(str(statement.compile(dialect=driver)))
                for statement in [
                    create,
                    *(CreateIndex(index, if_not_exists=True) for index in sorted(indexes, key=lambda i: str(i.name))),
                ]
            ],
        ]
        for table, create, indexes in groups
    ]


def templates(dialect_name: str) -> dict[str, Any]:
    """Every template of one dialect: ``ddl``, the statements by name, the session columns, and
    each data table's columns with their types (what ``schema`` checks an existing table has)."""
    dialect = DIALECTS[dialect_name]
    schema = SCHEMA if dialect_name == "postgresql" else None
    driver = dialect.driver()
    compiled: dict[str, Compiled] = {}
    for legacy in (False, True):
        statements = RunStatements(build_tables(NAMES, schema=schema, legacy_runs=legacy), dialect)
        for by_type in (False, True):
            for by_user in (False, True):
                key = f"select_session:{int(by_type)}{int(by_user)}{int(legacy)}"
                compiled[key] = compile_template(statements.select_session(by_type=by_type, by_user=by_user), driver)
    tables = build_tables(NAMES, schema=schema)
    statements = RunStatements(tables, dialect)
    builders: dict[str, Callable[[], ClauseElement]] = {
        "all_runs": statements.all_runs,
        "recent_runs": statements.recent_runs,
        "upsert_session:0": lambda: statements.upsert_session(with_state=False),
        "upsert_session:1": lambda: statements.upsert_session(with_state=True),
        "upsert_run": statements.upsert_run,
        "replace_run": statements.replace_run,
        "stamp_version": statements.stamp_version,
        "request_cancel": statements.request_cancel,
        "forget_cancels": statements.forget_cancels,
        "cancel_requested": statements.cancel_requested,
    }
    for key, build in builders.items():
        compiled[key] = compile_template(build(), driver)
    legacy_columns = build_tables(NAMES, schema=schema, legacy_runs=True).sessions.columns
    return {
        "ddl": ddl(tables, dialect_name),
        "statements": compiled,
        "stamped_tables": [placeholders(table.name) for table in _stamped(tables)],
        "session_columns": [column.name for column in tables.sessions.columns],
        "data_columns": [
            [placeholders(table.name), [[column.name, column.type.compile(dialect=driver)] for column in table.columns]]
            for table in _stamped(tables)
        ],
        "legacy_session_columns": [column.name for column in legacy_columns],
    }


def _stamped(tables: Tables) -> list[Any]:
    """The tables whose schema version is recorded when they are created (as ``connecting`` does)."""
    return [tables.sessions, tables.runs, tables.memories, tables.metrics, tables.evals]


def module_text() -> str:
    """The source of ``generated_sql``: the templates as JSON in a raw string (left alone by
    formatters), read once at import."""
    data = {
        "agno_schema_version": AGNO_SCHEMA_VERSION,
        "status_slots": STATUS_SLOTS,
        "cancel_slots": CANCEL_SLOTS,
        "dialects": {name: templates(name) for name in ("sqlite", "postgresql")},
    }
    text = json.dumps(data, indent=1, sort_keys=True)
    if '"""' in text or text.endswith("\\"):
        raise ValueError("the templates cannot be written in a raw triple-quoted string")
    return (
        '"""Generated by ``agentos_runtime.storage.sql.sql_generation``: do not edit (see its docstring)."""\n\n'
        "import json\n"
        "from typing import Any\n\n"
        f'TEMPLATES: dict[str, Any] = json.loads(\n    r"""\n{text}\n"""\n)\n'
    )


if __name__ == "__main__":
    print(module_text(), end="")  # noqa: T201
