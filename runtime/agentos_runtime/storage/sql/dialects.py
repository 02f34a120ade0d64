"""What differs between PostgreSQL and SQLite, as data: one ``Dialect`` per database.

Everything else in the SQL backend is written once. ``SELECT ... FOR UPDATE`` needs no entry:
SQLite leaves it out and serialises writers with ``BEGIN IMMEDIATE`` instead (see
``connecting``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Integer,
    Table,
    Text,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import psycopg as postgres_psycopg
from sqlalchemy.engine.interfaces import Dialect as DriverDialect
from sqlalchemy.schema import CreateSchema

from agentos_runtime.storage.records import encode_json
from agentos_runtime.storage.sql.schema import creation_lock_key

Insert = postgresql.Insert | sqlite.Insert


@dataclass(frozen=True)
class Dialect:
    name: str
    # INSERT with ON CONFLICT support.
    insert: Callable[[Table], Insert]
    # The text of a JSON column holding a JSON string (a memory), unquoted and unescaped.
    json_string: Callable[[ColumnElement[Any]], ColumnElement[str]]
    # Whether a JSON array column contains ``topic``.
    has_topic: Callable[[ColumnElement[Any], str], ColumnElement[bool]]
    # Statements run before creating tables in ``schema``, in the same transaction.
    ddl_preamble: Callable[[str | None], list[Executable]]
    # The SQLAlchemy dialect that compiles statements for the run path's own driver
    # (``executing``): psycopg's ``%(name)s`` with casts, the sqlite3 module's ``:name``.
    driver: Callable[[], DriverDialect]
    # A JSON object column with one top-level key set to a JSON value (the object made if NULL).
    json_with_key: Callable[[ColumnElement[Any], str, ColumnElement[Any]], ColumnElement[Any]]
    # How many items a run's ``events`` (a top-level key of its JSON column) holds: 0 when it is
    # no array.
    events_count: Callable[[ColumnElement[Any]], ColumnElement[int]]


def _postgres_json_string(column: ColumnElement[Any]) -> ColumnElement[str]:
    return column.op("#>>", return_type=Text)(literal_column("'{}'::text[]"))


def _postgres_has_topic(column: ColumnElement[Any], topic: str) -> ColumnElement[bool]:
    return column.op("@>", return_type=postgresql.BOOLEAN)(cast(literal(encode_json([topic])), JSONB))


def _postgres_ddl_preamble(schema: str | None) -> list[Executable]:
    # Replicas starting together take turns: the lock lasts until the transaction ends.
    lock = select(func.pg_advisory_xact_lock(func.hashtext(creation_lock_key(schema))))
    return [lock, CreateSchema(schema, if_not_exists=True)] if schema else [lock]


def _postgres_json_with_key(column: ColumnElement[Any], key: str, value: ColumnElement[Any]) -> ColumnElement[Any]:
    empty: ColumnElement[Any] = literal_column("'{}'::jsonb")
    return func.jsonb_set(func.coalesce(column, empty), literal_column(f"'{{{key}}}'::text[]"), value)


def _sqlite_json_with_key(column: ColumnElement[Any], key: str, value: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.json_set(func.coalesce(column, literal_column("'{}'")), f"$.{key}", func.json(value))


def _postgres_events_count(column: ColumnElement[Any]) -> ColumnElement[int]:
    events = column.op("->", return_type=JSONB)(literal("events"))
    array = case((func.jsonb_typeof(events) == "array", events), else_=literal_column("'[]'::jsonb"))
    return func.jsonb_array_length(array, type_=Integer)


def _sqlite_events_count(column: ColumnElement[Any]) -> ColumnElement[int]:
    array = func.json_type(column, "$.events") == "array"
    return case((array, func.json_array_length(column, "$.events", type_=Integer)), else_=0)


def _sqlite_ddl_preamble(_schema: str | None) -> list[Executable]:
    return []


def _sqlite_json_string(column: ColumnElement[Any]) -> ColumnElement[str]:
    return func.json_extract(column, "$", type_=Text)


def _sqlite_has_topic(column: ColumnElement[Any], topic: str) -> ColumnElement[bool]:
    elements = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(elements).where(elements.c.value == topic))


POSTGRES = Dialect(
    name="postgresql",
    insert=postgresql.insert,
    json_string=_postgres_json_string,
    has_topic=_postgres_has_topic,
    ddl_preamble=_postgres_ddl_preamble,
    driver=postgres_psycopg.dialect,
    json_with_key=_postgres_json_with_key,
    events_count=_postgres_events_count,
)
SQLITE = Dialect(
    name="sqlite",
    insert=sqlite.insert,
    json_string=_sqlite_json_string,
    has_topic=_sqlite_has_topic,
    ddl_preamble=_sqlite_ddl_preamble,
    driver=lambda: sqlite.dialect(paramstyle="named"),
    json_with_key=_sqlite_json_with_key,
    events_count=_sqlite_events_count,
)
DIALECTS = {dialect.name: dialect for dialect in (POSTGRES, SQLITE)}
