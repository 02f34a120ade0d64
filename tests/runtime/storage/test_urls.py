"""Database URLs: which variable, which driver, and never a password in text we produce."""

from __future__ import annotations

import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.urls import database_url, redact


@pytest.mark.parametrize(
    "given",
    [
        "postgres://app:pw@db:5432/agentos",
        "postgresql://app:pw@db:5432/agentos",
        "postgresql+psycopg://app:pw@db:5432/agentos",
        "postgresql+asyncpg://app:pw@db:5432/agentos",
    ],
)
def test_every_postgres_scheme_is_spoken_through_psycopg(given: str) -> None:
    config = DatabaseConfig(id="main", type="postgres")

    assert database_url(config, {"DATABASE_URL": given}) == "postgresql+psycopg://app:pw@db:5432/agentos"


def test_whitespace_around_a_url_is_dropped_and_a_blank_one_is_unset() -> None:
    # A Secret made from a file ends in a newline: PostgreSQL took it as part of the database name.
    postgres = DatabaseConfig(id="main", type="postgres")
    redis = DatabaseConfig(id="cache", type="redis")

    assert database_url(postgres, {"DATABASE_URL": " postgres://app:pw@db/agentos\n"}) == (
        "postgresql+psycopg://app:pw@db/agentos"
    )
    assert database_url(redis, {"REDIS_URL": "redis://cache:6379/0\r\n"}) == "redis://cache:6379/0"
    with pytest.raises(StorageUnavailable, match="environment variable DATABASE_URL is not set"):
        database_url(postgres, {"DATABASE_URL": " \n"})


def test_redis_urls_are_kept_and_read_from_redis_url_by_default() -> None:
    config = DatabaseConfig(id="cache", type="redis")

    assert database_url(config, {"REDIS_URL": "rediss://:pw@cache:6380/2"}) == "rediss://:pw@cache:6380/2"


def test_a_declared_variable_replaces_the_default_one() -> None:
    config = DatabaseConfig(id="main", type="postgres", url_env="MEMORY_DB_URL")

    url = database_url(config, {"DATABASE_URL": "postgres://wrong/db", "MEMORY_DB_URL": "postgres://right/db"})

    assert url == "postgresql+psycopg://right/db"


@pytest.mark.parametrize("environ", [{}, {"DATABASE_URL": ""}])
def test_an_unset_or_empty_variable_is_unavailable_and_named(environ: dict[str, str]) -> None:
    with pytest.raises(StorageUnavailable, match="database 'main': environment variable DATABASE_URL is not set"):
        database_url(DatabaseConfig(id="main", type="postgres"), environ)


@pytest.mark.parametrize(("kind", "given"), [("postgres", "redis://:pw@x/0"), ("redis", "postgres://u:pw@x/db")])
def test_a_url_of_the_wrong_kind_is_refused_without_quoting_it(kind: str, given: str) -> None:
    config = DatabaseConfig(id="main", type=kind)  # type: ignore[arg-type]

    with pytest.raises(StorageUnavailable) as raised:
        database_url(config, {"DATABASE_URL": given, "REDIS_URL": given})

    assert "pw" not in str(raised.value)


def test_redact_removes_credentials_of_any_url_and_the_known_password_anywhere() -> None:
    url = "postgresql+psycopg://app:hunter2@db:5432/x"
    text = "failed for postgresql://app:hunter2@db:5432/x and redis://:other@cache/0; password hunter2 rejected"

    cleaned = redact(text, url)

    assert "hunter2" not in cleaned and "other" not in cleaned
    assert "postgresql://***@<host>:<port>/x" in cleaned and "redis://***@cache/0" in cleaned


@pytest.mark.parametrize(
    ("url", "message", "expected"),
    [
        (
            "postgresql+psycopg://app:pw@db.internal:6543/x",
            'connection to server at "db.internal" (10.0.0.5), port 6543 failed: '
            'FATAL:  password authentication failed for user "app"',
            'connection to server at "<host>" (<host>), port <port> failed: '
            'FATAL:  password authentication failed for user "<user>"',
        ),
        (
            "redis://cache:6380/0",
            "Error 111 connecting to cache:6380. Connection refused.",
            "Error 111 connecting to <host>:<port>. Connection refused.",
        ),
        (
            "redis://[::1]:6380/0",
            "Error 111 connecting to ::1:6380. Connection refused.",
            "Error 111 connecting to <host>:<port>. Connection refused.",
        ),
        (
            "postgresql+psycopg://postgres@127.0.0.1:5432/x",
            'role "postgres" does not exist (server 127.0.0.1 port 5432)',
            'role "<user>" does not exist (server <host> port <port>)',
        ),
        (
            "postgresql+psycopg://app@db.internal:6543/appdb",
            'FATAL:  database "appdb" does not exist',
            'FATAL:  database "<database>" does not exist',
        ),
        (
            "postgresql+psycopg://postgres@/test?host=secret-db.internal.invalid",
            "OperationalError: failed to resolve host 'secret-db.internal.invalid': [Errno -2] Name or service not known",
            "OperationalError: failed to resolve host '<host>': [Errno -2] Name or service not known",
        ),
        (
            "postgresql+psycopg://app@/x?host=db-a.internal,db-b.internal&port=6543,6544&user=svc",
            'connection to server at "db-b.internal", port 6544 failed: role "svc" is not permitted to log in; '
            "db-a.internal:6543 svc",
            'connection to server at "<host>", port <port> failed: role "<user>" is not permitted to log in; '
            "<host>:<port> <user>",
        ),
        (
            "postgresql+psycopg://app@/x?host=/run/pg-secret",
            'connection to server on socket "/run/pg-secret/.s.PGSQL.5432" failed: No such file or directory',
            'connection to server on socket "<socket>" failed: No such file or directory',
        ),
        (
            "postgresql+psycopg://app@db.internal:6543/appdb",
            "discarding broken connection: <psycopg.AsyncConnection [BAD] (host=db.internal port=6543 user=app "
            "database=appdb) at 0x7f00>",
            "discarding broken connection: <psycopg.AsyncConnection [BAD] (host=<host> port=<port> user=<user> "
            "database=<database>) at 0x7f00>",
        ),
    ],
)
def test_redact_hides_where_the_database_is_and_who_connects(url: str, message: str, expected: str) -> None:
    assert redact(message, url) == expected


@pytest.mark.parametrize("port", ["99999", "0", "abc"])
@pytest.mark.parametrize(("kind", "env"), [("redis", "REDIS_URL"), ("postgres", "DATABASE_URL")])
def test_a_url_with_an_invalid_port_is_unavailable_and_named_without_quoting_it(kind: str, env: str, port: str) -> None:
    config = DatabaseConfig(id="main", type=kind)  # type: ignore[arg-type]
    scheme = "redis" if kind == "redis" else "postgresql"

    with pytest.raises(StorageUnavailable) as raised:
        database_url(config, {env: f"{scheme}://u:pw@somewhere:{port}/0"})

    assert raised.value.detail == f"database 'main': {env} has an invalid port (expected 1 to 65535)"


def test_a_url_that_does_not_parse_is_unavailable_and_named_without_quoting_it() -> None:
    config = DatabaseConfig(id="main", type="redis")

    with pytest.raises(StorageUnavailable) as raised:
        database_url(config, {"REDIS_URL": "redis://:pw@[::1/0"})

    assert raised.value.detail == (
        "database 'main': REDIS_URL is not a valid URL (check the brackets around an IPv6 host)"
    )


@pytest.mark.parametrize(
    ("kind", "url", "problem"),
    [
        (
            "postgres",
            "postgresql://app:Zq9Se@cretPw@db.internal:5432/agents",
            "holds '@' in its user or password: percent-encode each one there as %40",
        ),
        ("redis", "redis://:Zq9@cret@cache:6379/0", "holds '@' in its user or password"),
        ("redis", "redis://cache:6379/abc", "names a Redis database that is not a number: end it with /0, /1, ..."),
        ("redis", "redis://cache:6379/7?db=3", "names its Redis database twice (in the path and in ?db=): keep one"),
    ],
)
def test_a_url_drivers_would_read_otherwise_than_written_is_refused_without_quoting_it(
    kind: str, url: str, problem: str
) -> None:
    config = DatabaseConfig(id="main", type=kind)  # type: ignore[arg-type]
    env = "REDIS_URL" if kind == "redis" else "DATABASE_URL"

    with pytest.raises(StorageUnavailable) as raised:
        database_url(config, {env: url})

    assert raised.value.detail.startswith(f"database '{config.id}': {env} {problem}")
    assert "cret" not in raised.value.detail and "cache" not in raised.value.detail


@pytest.mark.parametrize(
    "url", ["redis://cache:6379", "redis://cache:6379/", "redis://:p%40ss@cache:6379/15", "unix:///run/redis.sock?db=2"]
)
def test_redis_urls_naming_one_database_or_none_are_kept(url: str) -> None:
    assert database_url(DatabaseConfig(id="main", type="redis"), {"REDIS_URL": url}) == url
