"""Two declared databases that are one store once their paths and URLs are read: refused by
``shared_stores`` with both named, the URL never quoted; what it cannot tell is left to the open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.storage.sharing import shared_stores

# Parts of the URLs below that no message may show.
SECRETS = ("pw-one", "pw-two", "ana", "bob", "db.internal", "6543", "orders", "/run/pg", "10.1.2.3")


def postgres(id_: str, env: str, **fields: Any) -> DatabaseConfig:
    return DatabaseConfig(id=id_, type="postgres", url_env=env, **fields)


def redis(id_: str, env: str, **fields: Any) -> DatabaseConfig:
    return DatabaseConfig(id=id_, type="redis", url_env=env, **fields)


def check(configs: list[DatabaseConfig], environ: dict[str, str], data_dir: Path = Path("/nowhere")) -> list[str]:
    problems = shared_stores(configs, environ, data_dir)
    for problem in problems:
        for secret in SECRETS:
            assert secret not in problem, f"{secret!r} shown in: {problem}"
    return problems


def test_two_sqlite_databases_that_resolve_to_one_file_are_refused(tmp_path: Path) -> None:
    configs = [
        DatabaseConfig(id="one", type="sqlite"),
        DatabaseConfig(id="two", type="sqlite", path=str(tmp_path / "x" / ".." / "one.db")),
        DatabaseConfig(id="three", type="sqlite", path=str(tmp_path / "three.db")),
    ]

    assert shared_stores(configs, {}, tmp_path) == [
        f"databases[1] ('two') and databases[0] ('one') are both the SQLite file {(tmp_path / 'one.db').resolve()}:"
        " give each database a path of its own, or declare one database and refer to it from both"
    ]


def test_two_postgres_variables_naming_one_server_database_and_schema_are_refused_without_the_url() -> None:
    environ = {
        # Host case, the default port and the scheme differ; the users and passwords too.
        "MAIN_URL": "postgresql://ana:pw-one@DB.Internal:6543/orders",
        "AUDIT_URL": "postgres://bob:pw-two@db.internal:6543/orders",
    }
    configs = [postgres("main", "MAIN_URL"), postgres("audit", "AUDIT_URL")]

    assert check(configs, environ) == [
        "databases[1] ('audit') and databases[0] ('main') are one PostgreSQL schema: AUDIT_URL and MAIN_URL hold"
        " the same server and database, and both use schema 'ai': give each database a schema of its own"
        " (db_schema), or declare one database and refer to it from both"
    ]


def test_the_default_postgres_port_and_a_spelt_out_one_are_one_server() -> None:
    environ = {"A_URL": "postgresql://ana@db.internal/orders", "B_URL": "postgresql://bob@db.internal:5432/orders"}
    configs = [postgres("a", "A_URL", db_schema="s"), postgres("b", "B_URL", db_schema="s")]

    assert len(check(configs, environ)) == 1


def test_a_port_left_out_is_libpqs_pgport_from_the_same_environment() -> None:
    urls = {"A_URL": "postgresql://ana@db.internal/orders", "B_URL": "postgresql://bob@db.internal:5432/orders"}
    configs = [postgres("a", "A_URL"), postgres("b", "B_URL")]

    assert check(configs, {**urls, "PGPORT": "6543"}) == []  # 6543 and 5432: two servers
    assert len(check(configs, {**urls, "B_URL": "postgresql://bob@db.internal:6543/orders", "PGPORT": "6543"})) == 1


def test_a_unix_socket_given_as_query_host_or_percent_encoded_host_is_one_server() -> None:
    environ = {"A_URL": "postgresql://ana@/orders?host=/run/pg/", "B_URL": "postgresql://bob@%2Frun%2Fpg/orders"}
    configs = [postgres("a", "A_URL"), postgres("b", "B_URL")]

    assert len(check(configs, environ)) == 1


def test_one_ipv6_address_spelt_two_ways_is_one_server() -> None:
    environ = {"A_URL": "postgresql://ana@[::1]/orders", "B_URL": "postgresql://bob@[0:0::0:1]:5432/orders"}

    assert len(check([postgres("a", "A_URL"), postgres("b", "B_URL")], environ)) == 1


@pytest.mark.parametrize(
    ("second_url", "second_schema"),
    [
        ("postgresql://bob@db.internal:6543/orders", "other"),  # another schema
        ("postgresql://bob@db.internal:6543/invoices", "ai"),  # another database
        ("postgresql://bob@db.internal:6544/orders", "ai"),  # another port
        ("postgresql://bob@db2.internal:6543/orders", "ai"),  # another host
        # Not resolved: they may or may not be one server, depending on where the runtime runs.
        ("postgresql://bob@127.0.0.1:6543/orders", "ai"),
        ("postgresql://bob@db.internal.:6543/orders", "ai"),
        ("postgresql://bob@db.internal:6543/orders?service=x", "ai"),  # the service file decides
    ],
)
def test_postgres_databases_that_may_be_apart_are_allowed(second_url: str, second_schema: str) -> None:
    environ = {"A_URL": "postgresql://ana@db.internal:6543/orders", "B_URL": second_url}
    configs = [postgres("a", "A_URL"), postgres("b", "B_URL", db_schema=second_schema)]

    assert check(configs, environ) == []


def test_two_lists_of_servers_are_not_compared_as_the_one_that_answers_is_not_known() -> None:
    hosts = "postgresql://ana@/orders?host=db.internal,db2.internal&port=6543"
    environ = {"A_URL": hosts, "B_URL": hosts.replace("ana", "bob")}

    assert check([postgres("a", "A_URL"), postgres("b", "B_URL")], environ) == []


def test_localhost_and_its_address_are_not_equated() -> None:
    environ = {"A_URL": "postgresql://ana@localhost/orders", "B_URL": "postgresql://bob@127.0.0.1/orders"}

    assert check([postgres("a", "A_URL"), postgres("b", "B_URL")], environ) == []


@pytest.mark.parametrize(
    "broken",
    [
        None,  # variable unset
        "",
        "garbage",
        "postgresql://bob@db.internal:6543/orders?bogus=1",  # a parameter libpq refuses
        "postgresql://bob@db.internal:notaport/orders",
        "postgresql://bob@db.internal:6543/\udc80orders",  # a lone surrogate
        "postgresql://bob@db.internal:0/orders",
        "redis://db.internal:6543/0",  # not a PostgreSQL URL
    ],
)
def test_a_postgres_url_that_cannot_be_read_is_left_to_the_open(broken: str | None) -> None:
    environ = {"A_URL": "postgresql://ana@db.internal:6543/orders", "C_URL": "postgresql://ana@db.internal:6543/orders"}
    if broken is not None:
        environ["B_URL"] = broken
    configs = [postgres("a", "A_URL"), postgres("b", "B_URL"), postgres("c", "C_URL")]

    problems = check(configs, environ)

    # The unreadable one is skipped; the two readable ones that are one store are still found.
    assert [problem.split(" are ")[0] for problem in problems] == ["databases[2] ('c') and databases[0] ('a')"]


def test_one_variable_is_left_to_the_configs_own_check() -> None:
    environ = {
        "DATABASE_URL": "postgresql://ana@db.internal/orders",
        "OTHER_URL": "postgresql://ana@db.internal/invoices",
        "REDIS_URL": "redis://db.internal",
        "CACHE_URL": "redis://db.internal/1",
    }
    configs = [
        postgres("a", "DATABASE_URL"),
        postgres("b", "DATABASE_URL"),
        postgres("other", "OTHER_URL"),  # another variable, so the URLs are read
        redis("c", "REDIS_URL"),
        redis("d", "REDIS_URL"),
        redis("cache", "CACHE_URL"),
    ]

    assert check(configs, environ) == []


def test_every_later_database_is_reported_once_against_the_first_it_shares_with_in_order() -> None:
    url = "postgresql://ana@db.internal/orders"
    environ = {
        "A_URL": url,
        "B_URL": url,
        "C_URL": url,
        "R1_URL": "redis://db.internal",
        "R2_URL": "redis://db.internal",
    }
    configs = [
        postgres("a", "A_URL"),
        redis("r1", "R1_URL"),
        postgres("b", "B_URL"),
        redis("r2", "R2_URL"),
        postgres("c", "C_URL"),
    ]

    problems = check(configs, environ)

    assert [problem.split(" are ")[0].split(" share ")[0] for problem in problems] == [
        "databases[2] ('b') and databases[0] ('a')",
        "databases[3] ('r2') and databases[1] ('r1')",
        "databases[4] ('c') and databases[0] ('a')",
    ]


@pytest.mark.parametrize(
    ("first", "second", "prefixes"),
    [
        ("agno", "agno", "both use key prefix 'agno'"),
        ("app", "app:cache", "key prefixes 'app:cache' and 'app' nest"),
    ],
)
def test_two_redis_variables_naming_one_server_and_db_with_nesting_prefixes_are_refused(
    first: str, second: str, prefixes: str
) -> None:
    environ = {
        # The default port and database against spelt-out ones, the number in the path and in ?db=.
        "CACHE_URL": "redis://ana:pw-one@DB.INTERNAL",
        "QUEUE_URL": "rediss://bob:pw-two@db.internal:6379?db=0",
    }
    configs = [redis("cache", "CACHE_URL", key_prefix=first), redis("queue", "QUEUE_URL", key_prefix=second)]

    assert check(configs, environ) == [
        "databases[1] ('queue') and databases[0] ('cache') share Redis keys: QUEUE_URL and CACHE_URL hold the same"
        f" server and Redis database number, and {prefixes}: give each database a key prefix that does not nest"
        " in the other's (key_prefix), or declare one database and refer to it from both"
    ]


def test_one_redis_database_number_in_the_path_or_the_query_is_one_database() -> None:
    environ = {"A_URL": "redis://db.internal:6543/3", "B_URL": "redis://db.internal:6543?db=3"}

    assert len(check([redis("a", "A_URL"), redis("b", "B_URL")], environ)) == 1


def test_one_redis_socket_path_spelt_two_ways_is_one_server() -> None:
    environ = {"A_URL": "unix:///run/pg/redis.sock?db=1", "B_URL": "unix:///run/pg/./redis.sock?db=1"}

    assert len(check([redis("a", "A_URL"), redis("b", "B_URL")], environ)) == 1


@pytest.mark.parametrize(
    ("second_url", "second_prefix"),
    [
        ("redis://db.internal:6543/1", "agno"),  # another Redis database number
        ("redis://db.internal:6543?db=2", "agno"),
        ("redis://db.internal:6543/0", "agnostic"),  # a prefix that does not nest
        ("redis://db.internal:6543/0", "other"),
        ("redis://db2.internal:6543/0", "agno"),  # another server
        ("redis://10.1.2.3:6543/0", "agno"),  # not resolved
        ("unix:///run/pg/redis.sock", "agno"),  # a socket, not the TCP server
    ],
)
def test_redis_databases_that_are_apart_are_allowed(second_url: str, second_prefix: str) -> None:
    environ = {"A_URL": "redis://db.internal:6543", "B_URL": second_url}
    configs = [redis("a", "A_URL"), redis("b", "B_URL", key_prefix=second_prefix)]

    assert check(configs, environ) == []


@pytest.mark.parametrize(
    "broken",
    [
        None,
        "redis://db.internal:99999/0",  # no such port
        "redis://db.internal:6543/zero",  # a database that is not a number
        "redis://db.internal:6543/0?db=1",  # named twice
        "redis://db.internal:6543?socket_timeout=soon",  # a query value redis-py refuses
        "redis://db.internal:6543/\udc80",  # lone surrogates
        "redis://db\udc80.internal:6543/0",
        "unix://?db=0",  # no socket path
        "postgresql://db.internal:6543/0",  # not a Redis URL
    ],
)
def test_a_redis_url_that_cannot_be_read_is_left_to_the_open(broken: str | None) -> None:
    environ = {"A_URL": "redis://db.internal:6543/0"}
    if broken is not None:
        environ["B_URL"] = broken

    assert check([redis("a", "A_URL"), redis("b", "B_URL")], environ) == []


def test_a_postgres_and_a_redis_database_on_one_address_are_not_compared() -> None:
    environ = {"A_URL": "postgresql://ana@db.internal:6543/orders", "B_URL": "redis://db.internal:6543/0"}
    configs = [postgres("a", "A_URL"), redis("b", "B_URL"), postgres("c", "C_URL"), redis("d", "D_URL")]

    assert check(configs, environ) == []


def test_a_sqlite_path_that_is_a_symbolic_link_loop_is_compared_as_written_and_left_to_the_open(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.db").symlink_to(tmp_path / "b.db")
    (tmp_path / "b.db").symlink_to(tmp_path / "a.db")
    looping = DatabaseConfig(id="one", type="sqlite", path=str(tmp_path / "a.db"))
    again = DatabaseConfig(id="two", type="sqlite", path=str(tmp_path / "x" / ".." / "a.db"))

    assert shared_stores([looping], {}, tmp_path) == []
    assert shared_stores([looping, DatabaseConfig(id="two", type="sqlite")], {}, tmp_path) == []
    assert shared_stores([looping, again], {}, tmp_path) == [
        f"databases[1] ('two') and databases[0] ('one') are both the SQLite file {tmp_path / 'a.db'}:"
        " give each database a path of its own, or declare one database and refer to it from both"
    ]
