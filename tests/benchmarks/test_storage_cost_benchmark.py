"""The storage-cost benchmark measures our server with and without its storage, on fresh sessions.

Not a timed test: it checks that the server "without storage" really keeps nothing and answers
every run, and that the harness reports what it says (CPU per run, ratios, the storage's cost),
not how fast anything is. The figures come from ``python -m benchmarks.runtime.storage_cost``
(see ``benchmarks/runtime/README.md``).
"""

from __future__ import annotations

import json
import pathlib
import sqlite3
import sys
import urllib.parse
import urllib.request

import pytest
import yaml

from benchmarks.runtime.run import model_server, running, wait_healthy
from benchmarks.runtime.storage_cost import fresh_scenarios, report, storage_cost
from tests.benchmarks.running import run_module
from tests.support.ports import free_port


def _row(scenario: str, rounds: list[float]) -> dict[str, object]:
    return {
        "scenario": scenario,
        "server_cpu_ms_per_request": sum(rounds) / len(rounds),
        "server_cpu_ms_per_request_rounds": rounds,
    }


def test_a_server_without_storage_answers_runs_and_keeps_none_of_them(tmp_path: pathlib.Path) -> None:
    with model_server() as model_url:
        config = {
            "models": [{"id": "fake", "base_url": model_url, "api_key_env": "BENCH_KEY"}],
            "agents": [{"id": "bench", "model": "fake", "add_history_to_context": True}],
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        port = free_port()
        argv = [sys.executable, "-m", "benchmarks.runtime.without_storage", "serve", "--config", str(path)]
        argv += ["--port", str(port), "--data-dir", str(tmp_path / "data")]
        with running(argv, {"BENCH_KEY": "benchmark-key"}, "0") as server:
            wait_healthy(f"http://127.0.0.1:{port}/health", server)
            form = urllib.parse.urlencode({"message": "hi", "stream": "false", "session_id": "s-1"}).encode()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/agents/bench/runs", data=form) as answer:
                run = json.load(answer)

    assert run["status"] == "COMPLETED" and run["session_id"] == "s-1" and run["content"]
    database = tmp_path / "data" / "agentos.db"  # the embedded default, its tables made at start
    assert database.exists()
    with sqlite3.connect(database) as stored:
        assert stored.execute("SELECT count(*) FROM agno_sessions").fetchone() == (0,)
        assert stored.execute("SELECT count(*) FROM agno_runs").fetchone() == (0,)


def test_the_storage_cost_benchmark_measures_each_server_in_rounds(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "storage-cost.json"
    argv = ["--servers", "ours-sqlite,ours-sqlite-nostorage", "--requests", "20", "--rounds", "2"]

    done = run_module("benchmarks.runtime.storage_cost", *argv, "--output", str(output), timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    servers = json.loads(output.read_text())["servers"]
    assert sorted(servers) == ["ours-sqlite", "ours-sqlite-nostorage"]
    for result in servers.values():
        (row,) = result["scenarios"]
        assert row["scenario"] == "json c=1 fresh" and row["requests"] == 20 and row["errors"] == 0
        assert len(row["server_cpu_ms_per_request_rounds"]) == 2 and min(row["server_cpu_ms_per_request_rounds"]) > 0
    assert "| ours-sqlite-nostorage |" in done.stdout and "Storage's cost per run" in done.stdout


def test_the_report_gives_each_server_its_ratio_to_each_agno_server_and_each_storage_its_cost() -> None:
    rows = {
        "ours-redis": _row("json c=1 fresh", [2.0, 2.2, 2.4]),
        "ours-redis-nostorage": _row("json c=1 fresh", [1.5, 1.5, 1.6]),
        "agno-redis": _row("json c=1 fresh", [6.0, 5.5, 6.0]),
    }

    table = report({name: {"scenarios": [row]} for name, row in rows.items()})

    assert "| server | CPU ms per run (median of rounds) | agno-redis / this |" in table
    assert "| ours-redis | 2.20 | 2.50x (2.50-3.00) |" in table
    assert "| ours-redis-nostorage | 1.50 | 3.75x (3.67-4.00) |" in table
    assert "| agno-redis | 6.00 | - |" in table
    assert "ours-redis: 0.70 ms" in table


def test_the_storage_cost_is_the_median_of_the_rounds_differences() -> None:
    on_it, without = _row("json c=1 fresh", [2.0, 3.0, 2.5]), _row("json c=1 fresh", [1.0, 1.0, 2.4])

    assert storage_cost(on_it, without) == pytest.approx(1.0)


def test_only_fresh_scenarios_can_be_measured_without_storage() -> None:
    assert fresh_scenarios("json c=1 fresh") == ["json c=1 fresh"]
    with pytest.raises(ValueError, match="json c=1 reused"):
        fresh_scenarios("json c=1")
    with pytest.raises(ValueError, match="selects no scenario"):
        fresh_scenarios("json c=99")
