"""The MCP tool-call benchmark calls the tool through each client it names and compares each with
the bare SDK client.

Not a timed test: it checks the harness runs and reports what it says (CPU and wall time per
call, connect time, memory), not how fast anything is. The figures come from
``python -m benchmarks.runtime.mcp_cost`` (see ``benchmarks/runtime/README.md``).
"""

from __future__ import annotations

import json
import pathlib

import pytest

from benchmarks.runtime.mcp_cost import report
from tests.benchmarks.running import run_module


def test_the_mcp_cost_benchmark_calls_the_tool_through_each_client(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "mcp-cost.json"
    argv = ["--calls", "20", "--variants", "sdk,runtime", "--output", str(output)]

    run = run_module("benchmarks.runtime.mcp_cost", *argv, timeout=240)

    assert run.returncode == 0, run.stdout + run.stderr
    rows = json.loads(output.read_text())["rows"]
    assert [row["variant"] for row in rows] == ["sdk", "runtime"]
    assert all(row["cpu_ms_per_call"] > 0 and row["wall_ms_per_call"] > 0 and row["peak_rss_mb"] > 0 for row in rows)
    assert "| `runtime` |" in run.stdout


def test_the_report_shows_each_client_above_the_bare_sdk() -> None:
    rows = [
        {
            "variant": "sdk",
            "cpu_ms_per_call": 2.0,
            "wall_ms_per_call": 8.0,
            "import_and_connect_s": 2.1,
            "peak_rss_mb": 70.0,
        },
        {
            "variant": "agno",
            "cpu_ms_per_call": 8.5,
            "wall_ms_per_call": 40.0,
            "import_and_connect_s": 5.0,
            "peak_rss_mb": 90.0,
        },
    ]

    table = report(rows)

    assert "| `agno` | 8.500 | +6.500 | 40.000 | 5.00 | 90.0 |" in table


def test_the_report_refuses_rows_without_the_sdk_baseline() -> None:
    rows = [
        {
            "variant": "agno",
            "cpu_ms_per_call": 8.5,
            "wall_ms_per_call": 40.0,
            "import_and_connect_s": 5.0,
            "peak_rss_mb": 90.0,
        }
    ]

    with pytest.raises(ValueError, match="sdk"):
        report(rows)
