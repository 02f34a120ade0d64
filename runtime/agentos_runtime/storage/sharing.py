"""Declared databases that are one store once the start sees what the config cannot.

The config's own check (``agentos validate``, the operator) compares what the file says: a
SQLite path as written, two PostgreSQL or Redis databases by the NAME of their URL variable.
At start the runtime knows the data directory and the environment, so it also finds two SQLite
paths that resolve to one file and two different variables that hold one server's database.

Decisions only, nothing opened: a driver's URL parser is imported (psycopg's, redis's) only when
two databases of its type name different variables. A variable that is unset or holds a URL no
driver reads is skipped: opening that database reports it, as it does without this check.
Messages name databases by index and id and variables by name, never a URL or any part of it.
"""

from __future__ import annotations

import ipaddress
import posixpath
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.factory import sqlite_path
from agentos_runtime.storage.urls import database_url

POSTGRES_PORT = 5432
REDIS_PORT = 6379
# What redis-py connects to when its URL leaves them out.
REDIS_HOST = "localhost"
REDIS_DB = 0
# libpq's default database is named after the user, and its default user after the process's
# user, the same for every database of one process.
_PROCESS_USER = ("process user",)


@dataclass(frozen=True)
class _Place:
    """Where a database keeps its tables or keys, as far as its URL tells."""

    index: int
    config: DatabaseConfig
    where: Hashable


def shared_stores(configs: Sequence[DatabaseConfig], environ: Mapping[str, str], data_dir: Path) -> list[str]:
    """Why two of ``configs`` cannot be opened together, one line per database that shares the
    store of an earlier one:

    - two SQLite databases that are one file once their paths are resolved (a path and another
      database's default ``<data_dir>/<id>.db``, a relative path and an absolute one);
    - two PostgreSQL databases whose variables (different ones: one variable is the config's
      check) name one server and database, with one schema (the runs table has one name in every
      schema, so two databases there would read each other's sessions);
    - two Redis databases whose variables name one server and Redis database number, with key
      prefixes one of which holds the other's keys (``p`` holds ``p:sessions:...``).
    """
    places = _sqlite_places(configs, data_dir) + _server_places(configs, environ)
    problems: list[tuple[int, str]] = []
    for later in places:
        for earlier in places:
            if earlier.index >= later.index or earlier.config.type != later.config.type:
                continue
            problem = _problem(earlier, later)
            if problem is not None:
                problems.append((later.index, problem))
                break
    return [problem for _, problem in sorted(problems, key=lambda item: item[0])]


def _problem(earlier: _Place, later: _Place) -> str | None:
    one, other = earlier.config, later.config
    both = f"databases[{later.index}] ('{other.id}') and databases[{earlier.index}] ('{one.id}')"
    refer = "or declare one database and refer to it from both"
    if other.type == "sqlite":
        if later.where != earlier.where:
            return None
        return f"{both} are both the SQLite file {later.where}: give each database a path of its own, {refer}"
    if other.url_env_name == one.url_env_name or later.where != earlier.where:
        return None  # one variable: the config's check compared them already
    variables = f"{other.url_env_name} and {one.url_env_name} hold the same server and"
    if other.type == "postgres":
        if other.db_schema != one.db_schema:
            return None
        return (
            f"{both} are one PostgreSQL schema: {variables} database, and both use schema '{other.db_schema}':"
            f" give each database a schema of its own (db_schema), {refer}"
        )
    if not _nested_prefixes(other.key_prefix, one.key_prefix):
        return None
    prefixes = (
        f"both use key prefix '{other.key_prefix}'"
        if other.key_prefix == one.key_prefix
        else f"key prefixes '{other.key_prefix}' and '{one.key_prefix}' nest"
    )
    return (
        f"{both} share Redis keys: {variables} Redis database number, and {prefixes}:"
        f" give each database a key prefix that does not nest in the other's (key_prefix), {refer}"
    )


def _nested_prefixes(one: str, other: str) -> bool:
    return one == other or one.startswith(other + ":") or other.startswith(one + ":")


def _sqlite_places(configs: Sequence[DatabaseConfig], data_dir: Path) -> list[_Place]:
    return [
        _Place(index, config, _sqlite_file(sqlite_path(config, data_dir)))
        for index, config in enumerate(configs)
        if config.type == "sqlite"
    ]


def _sqlite_file(path: Path) -> Path:
    """The file ``path`` names once resolved; where it cannot be (a symbolic link loop, the
    working directory gone), as written, normalised: opening the database reports why."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: Python 3.11's symbolic link loop
        return Path(posixpath.normpath(path))


def _server_places(configs: Sequence[DatabaseConfig], environ: Mapping[str, str]) -> list[_Place]:
    places: list[_Place] = []
    for kind in ("postgres", "redis"):
        of_kind = [(index, config) for index, config in enumerate(configs) if config.type == kind]
        if len({config.url_env_name for _, config in of_kind}) < 2:
            continue  # no two variables to compare: no driver's parser to import
        for index, config in of_kind:
            try:
                url = database_url(config, environ)
            except StorageUnavailable:
                continue  # unset or not a URL of its kind: the open says so
            where = _postgres_place(url, environ) if kind == "postgres" else _redis_place(url)
            if where is not None:
                places.append(_Place(index, config, where))
    return places


def _postgres_place(url: str, environ: Mapping[str, str]) -> Hashable | None:
    """(server, port, database) of a PostgreSQL URL as libpq reads it, with libpq's defaults from
    ``environ`` for what it leaves out (``PGHOST``, ``PGPORT``, ...); None when it cannot tell."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url.replace("postgresql+psycopg://", "postgresql://", 1))
    except (ValueError, psycopg.Error):  # surrogates (UnicodeEncodeError), a query libpq refuses
        return None

    def given(keyword: str, variable: str) -> str:
        # libpq takes an empty value as none given, and then its variable.
        return str(params.get(keyword) or environ.get(variable) or "")

    if given("service", "PGSERVICE"):
        return None  # the service file says the rest: we do not read it
    # `hostaddr` is the address connected to; `host` is then only the name the server is checked by.
    host = given("hostaddr", "PGHOSTADDR") or given("host", "PGHOST")
    port = given("port", "PGPORT") or str(POSTGRES_PORT)
    if "," in host or "," in port:
        return None  # several servers, whichever answers first: we cannot know which
    try:
        number = int(port)
    except ValueError:
        return None
    # No host: libpq's compiled-in socket directory, the same for both databases of one process.
    database = given("dbname", "PGDATABASE") or given("user", "PGUSER") or _PROCESS_USER
    return (_host(host) if host else "", number, database)


def _redis_place(url: str) -> Hashable | None:
    """(server, Redis database number) of a Redis URL as redis-py reads it (it reads no variable of
    its own); None when it cannot tell."""
    from redis.asyncio.connection import parse_url

    try:
        options = parse_url(url)
        db = int(options.get("db", REDIS_DB))
        port = int(options.get("port", REDIS_PORT))
    except ValueError:  # a bad port, or a query value redis-py refuses
        return None
    if url.lower().startswith("unix://"):
        path = options.get("path")
        return (("unix", posixpath.normpath(path)), db) if path else None
    return ((_host(str(options.get("host", REDIS_HOST))), port), db)


def _host(name: str) -> str:
    """A host as compared: a socket directory as written, an IP address in its one spelling, a name
    in lower case. Names are not resolved: ``localhost`` and ``127.0.0.1`` (or a Service's short and
    full names) may be one server or not, depending on the resolver and where the runtime runs, so
    they are not equated. Nor is a trailing dot dropped: ``db.example.com`` may first be looked up
    under a search domain (as in a Kubernetes pod), ``db.example.com.`` never is."""
    if name.startswith(("/", "@")):  # a Unix socket directory (`@`: Linux's abstract namespace)
        return posixpath.normpath(name) if name.startswith("/") else name
    try:
        return ipaddress.ip_address(name).compressed
    except ValueError:
        return name.lower()
