"""The client-cost benchmark measures each client it names and compares each with the bare HTTP library.

Not a timed test: it checks the harness runs every mode and reports what it says (CPU per
request, import time, memory), not how fast anything is. The figures come from
``python -m benchmarks.runtime.client_cost`` (see ``benchmarks/runtime/README.md``).
"""

from __future__ import annotations

import json
import pathlib

import pytest

from benchmarks.runtime.client_cost import report
from tests.benchmarks.running import run_module


def test_the_client_cost_benchmark_reads_every_answer_through_each_client(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "client-cost.json"
    argv = ["--requests", "20", "--variants", "httpx2,runtime", "--output", str(output)]

    run = run_module("benchmarks.runtime.client_cost", *argv, timeout=240)

    assert run.returncode == 0, run.stdout + run.stderr
    rows = json.loads(output.read_text())["rows"]
    assert [(row["mode"], row["variant"]) for row in rows] == [
        ("json", "httpx2"),
        ("json", "runtime"),
        ("stream", "httpx2"),
        ("stream", "runtime"),
    ]
    assert all(row["cpu_ms_per_request"] > 0 and row["peak_rss_mb"] > 0 for row in rows)
    # The runtime's requests go through the SDK; the baseline is the HTTP library alone.
    assert [row["sdk_loaded"] for row in rows] == [False, True, False, True]
    assert "| stream | `runtime` |" in run.stdout


def test_the_report_shows_each_client_above_the_http_library_of_its_mode() -> None:
    rows = [
        {"variant": "httpx2", "mode": "json", "cpu_ms_per_request": 0.5, "import_s": 0.01, "peak_rss_mb": 40.0},
        {"variant": "sdk", "mode": "json", "cpu_ms_per_request": 2.0, "import_s": 0.4, "peak_rss_mb": 62.0},
    ]

    table = report(rows)

    assert "| json | `sdk` | 2.00 | +1.50 | 0.40 | 62.0 |" in table


def test_the_report_refuses_rows_without_the_http_library_baseline() -> None:
    rows = [{"variant": "sdk", "mode": "stream", "cpu_ms_per_request": 2.0, "import_s": 0.4, "peak_rss_mb": 62.0}]

    with pytest.raises(ValueError, match="httpx2"):
        report(rows)
