"""The runtime benchmark's harness runs end to end on our SQLite server, and its report judges every target.

Not a timed test: it checks the harness measures what it says (requests, errors, time to
first content, CPU, memory, cold start), not how fast anything is. The figures come from
``python -m benchmarks.runtime.run`` (see ``benchmarks/runtime/README.md``).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from tests.benchmarks.running import run_module


def test_the_runtime_benchmark_measures_each_scenario_and_the_report_reads_it(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "runtime.json"
    argv = ["--servers", "ours-sqlite", "--requests", "10", "--rounds", "3", "--only", "c=1", "--output", str(output)]

    run = run_module("benchmarks.runtime.run", *argv, timeout=300)

    assert run.returncode == 0, run.stdout + run.stderr
    document = json.loads(output.read_text())
    server = document["servers"]["ours-sqlite"]
    rows = {row["scenario"]: row for row in server["scenarios"]}
    assert sorted(rows) == ["json c=1 fresh", "json c=1 reused", "stream c=1 fresh", "stream c=1 reused"]
    assert all(row["requests"] == 10 and row["errors"] == 0 for row in rows.values())
    assert all(
        len(row["server_cpu_ms_per_request_rounds"]) == 3 and min(row["server_cpu_ms_per_request_rounds"]) > 0
        for row in rows.values()
    )
    assert (
        rows["stream c=1 fresh"]["first_content_p50_ms"] > 0 and rows["json c=1 fresh"]["first_content_p50_ms"] is None
    )
    assert all(
        row["server_cpu_ms_per_request"] > 0 and row["peak_rss_mb"] >= row["rss_mb"] > 0 for row in rows.values()
    )
    assert 0 < server["cold_start_s"] < 30 and 0 < server["restart_s"] < 30
    assert document["machine"]["calibration_s"] > 0

    # The report compares with Agno's server; reuse our rows as a stand-in to exercise it.
    document["servers"]["agno-sqlite"] = server
    output.write_text(json.dumps(document))
    report = run_module("benchmarks.runtime.report", str(output))

    assert report.returncode == 0, report.stderr
    verdicts = [
        line
        for line in report.stdout.splitlines()
        if line.startswith("| ") and line.endswith(("| yes |", "| **no** |"))
    ]
    assert len(verdicts) == 7
    assert "| peak RSS under load <= 60% of Agno's | ours-sqlite: 100% | **no** |" in verdicts
    assert "| json c=1 fresh |" in report.stdout and "1.0x" in report.stdout
    assert "| ours-sqlite | 1.00, 1.00 | 1.00 | 1.00 |" in report.stdout  # each figure over itself


def test_the_per_core_ratio_of_a_scenario_in_rounds_is_the_median_of_the_rounds_ratios() -> None:
    from benchmarks.runtime.report import per_core_ratio

    ours = {"server_cpu_ms_per_request": 2.0, "server_cpu_ms_per_request_rounds": [1.0, 2.0, 4.0]}
    agno = {"server_cpu_ms_per_request": 9.0, "server_cpu_ms_per_request_rounds": [3.0, 12.0, 8.0]}

    assert per_core_ratio(ours, agno) == (3.0, 2.0, 6.0)


def test_a_result_without_rounds_gives_the_ratio_of_its_totals() -> None:
    from benchmarks.runtime.report import per_core_ratio

    assert per_core_ratio({"server_cpu_ms_per_request": 2.0}, {"server_cpu_ms_per_request": 7.0}) == (3.5, 3.5, 3.5)


def _server(cpu_ms_rounds: list[float], peak_rss_mb: float = 50.0) -> dict[str, object]:
    row = {
        "scenario": "json c=1 fresh",
        "requests": 10,
        "errors": 0,
        "rps": 100.0,
        "p50_ms": 5.0,
        "p99_ms": 9.0,
        "first_content_p50_ms": None,
        "server_cpu_ms_per_request": sum(cpu_ms_rounds) / len(cpu_ms_rounds),
        "server_cpu_ms_per_request_rounds": cpu_ms_rounds,
        "rss_mb": peak_rss_mb,
        "peak_rss_mb": peak_rss_mb,
    }
    return {"cold_start_s": 0.5, "restart_s": 0.5, "rss_after_start_mb": 40.0, "scenarios": [row]}


def test_each_of_our_servers_is_judged_against_agno_on_sqlite_and_against_agno_on_its_own_storage() -> None:
    from benchmarks.runtime.report import throughput_table, verdicts

    results = {
        "servers": {
            "ours-postgres": _server([1.0, 1.0, 1.0]),
            "agno-sqlite": _server([2.5, 2.5, 2.5], peak_rss_mb=100.0),
            "agno-postgres": _server([4.0, 4.0, 4.0], peak_rss_mb=100.0),
        }
    }

    lines = verdicts(results)

    assert (
        "| throughput per core >= 3x Agno's on SQLite, every scenario | ours-postgres: lowest 2.5x | **no** |" in lines
    )
    assert (
        "| throughput per core >= 3x Agno's on the same storage, every scenario "
        "| ours-postgres / agno-postgres: lowest 4.0x | yes |"
    ) in lines
    assert throughput_table(results, "ours-postgres", "agno-postgres")[1] == 4.0


def test_without_agno_on_the_same_storage_only_the_sqlite_comparison_is_judged() -> None:
    from benchmarks.runtime.report import verdicts

    results = {"servers": {"ours-redis": _server([1.0]), "agno-sqlite": _server([3.5], peak_rss_mb=100.0)}}

    lines = verdicts(results)

    assert not any("same storage" in line for line in lines)
    assert "| throughput per core >= 3x Agno's on SQLite, every scenario | ours-redis: lowest 3.5x | yes |" in lines


def test_agno_servers_run_on_sqlite_postgres_or_redis_and_nothing_else(tmp_path: pathlib.Path) -> None:
    import pytest

    from benchmarks.runtime.run import agno_server

    postgres = agno_server("postgres", "http://127.0.0.1:1/v1", tmp_path)
    redis = agno_server("redis", "http://127.0.0.1:1/v1", tmp_path)

    assert postgres.name == "agno-postgres" and "--postgres-url" in postgres.argv and "--namespace" in postgres.argv
    assert redis.name == "agno-redis" and "--redis-url" in redis.argv
    namespaces = [server.argv[server.argv.index("--namespace") + 1] for server in (postgres, redis)]
    assert (postgres.postgres_schema, redis.redis_prefix) == tuple(namespaces)  # discarded after the run
    assert agno_server("sqlite", "http://127.0.0.1:1/v1", tmp_path).argv[-1] == str(tmp_path / "agno.db")
    with pytest.raises(ValueError, match="sqlite, postgres or redis"):
        agno_server("mysql", "http://127.0.0.1:1/v1", tmp_path)


def test_the_threads_of_processes_with_a_given_command_name_are_found_in_proc(tmp_path: pathlib.Path) -> None:
    from benchmarks.runtime.procstat import tasks_named

    for pid, name, threads in [(10, "postgres", [10]), (11, "redis-server", [11, 12, 13]), (14, "python3", [14])]:
        (tmp_path / str(pid) / "task").mkdir(parents=True)
        (tmp_path / str(pid) / "comm").write_text(name + "\n")
        for thread in threads:
            (tmp_path / str(pid) / "task" / str(thread)).mkdir()
    (tmp_path / "self").mkdir()
    (tmp_path / "15").mkdir()  # ended while listed: no comm file any more

    assert tasks_named(frozenset({"postgres", "redis-server"}), proc=tmp_path) == [10, 11, 12, 13]


def test_services_are_moved_to_the_drivers_cpu_for_the_run_and_put_back_after(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from benchmarks.runtime import procstat, run

    service = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        everywhere = os.sched_getaffinity(service.pid)
        monkeypatch.setattr(procstat, "tasks_named", lambda names: [service.pid, 2**22 + 7])  # the second: gone
        with run.services_on("0") as moved:
            assert moved == 1
            assert os.sched_getaffinity(service.pid) == {0}
        assert os.sched_getaffinity(service.pid) == everywhere
    finally:
        service.kill()
        service.wait()


def test_what_the_servers_stored_in_redis_and_postgresql_is_discarded_and_nothing_else() -> None:
    import uuid

    import psycopg
    import redis

    from benchmarks.runtime.run import POSTGRES_URL, REDIS_URL, Server, discard_stored

    tag = uuid.uuid4().hex[:8]
    ours, agno, other = f"bench{tag}", f"agno_{tag}", f"other{tag}"
    with redis.Redis.from_url(REDIS_URL) as client, psycopg.connect(POSTGRES_URL.replace("+psycopg", "")) as pg:
        for prefix in (ours, agno, other):
            client.mset({f"{prefix}:runs:{n}": "{}" for n in range(1500)})  # more than one batch
        client.set(f"{ours}x:runs:1", "{}")  # a prefix that only starts like one
        for schema in (f"bench_{tag}", f"keep_{tag}"):
            pg.execute(f"CREATE SCHEMA {schema}")
            pg.execute(f"CREATE TABLE {schema}.runs (id int)")
        pg.commit()
        try:
            discard_stored(
                [
                    Server("ours-redis", [], {}, 1, redis_prefix=ours),
                    Server("agno-redis", [], {}, 2, redis_prefix=agno),
                    Server("ours-postgres", [], {}, 3, postgres_schema=f"bench_{tag}"),
                    Server("ours-sqlite", [], {}, 4),
                ]
            )

            assert list(client.scan_iter(match=f"{ours}:*")) == [] and list(client.scan_iter(match=f"{agno}:*")) == []
            assert len(list(client.scan_iter(match=f"{other}:*", count=1000))) == 1500
            assert client.exists(f"{ours}x:runs:1")
            found = pg.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"%{tag}",)).fetchall()
            assert found == [(f"keep_{tag}",)]
        finally:
            for key in client.scan_iter(match=f"*{tag}*", count=1000):
                client.unlink(key)
            pg.execute(f"DROP SCHEMA IF EXISTS bench_{tag} CASCADE")
            pg.execute(f"DROP SCHEMA IF EXISTS keep_{tag} CASCADE")
            pg.commit()


def test_a_storage_service_that_cannot_be_reached_leaves_a_warning_not_a_lost_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.runtime import run
    from tests.support.ports import free_port

    closed = free_port()
    monkeypatch.setattr(run, "REDIS_URL", f"redis://127.0.0.1:{closed}/15")
    monkeypatch.setattr(run, "POSTGRES_URL", f"postgresql+psycopg://postgres@127.0.0.1:{closed}/test")

    run.discard_stored([run.Server("ours-redis", [], {}, 1, redis_prefix="bench0", postgres_schema="bench_0")])

    warnings = capsys.readouterr().err.splitlines()
    assert warnings[0].startswith("warning: Redis keys under bench0 are left: ")
    assert warnings[1].startswith("warning: PostgreSQL schemas bench_0 are left: ")


def test_a_key_prefix_that_would_match_other_keys_is_refused() -> None:
    from benchmarks.runtime.run import Server, discard_stored

    with pytest.raises(ValueError, match="not letters, digits and underscores"):
        discard_stored([Server("ours-redis", [], {}, 1, redis_prefix="bench*")])
