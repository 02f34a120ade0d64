"""The operator benchmark's real mode runs end to end on a control plane of its own.

Here rather than in tests/benchmarks: scripts/test.sh runs this folder once the control plane's
binaries are built, so the test never meets a machine without them. Not a timed test.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_real_mode_counts_the_operators_requests_on_its_own_control_plane(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "operator-real.json"
    argv = ["--mode", "real", "--resources", "2", "--scenarios", "cold-start", "--quiet-seconds", "0.5"]
    argv += ["--timeout", "120", "--output", str(output)]

    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.operator.run", *argv], cwd=ROOT, capture_output=True, text=True, timeout=300
    )

    assert output.exists(), result.stdout + result.stderr
    document = json.loads(output.read_text())
    unmet = [target for target in document["targets"] if not target["met"]]
    assert result.returncode == (1 if unmet else 0), result.stdout + result.stderr
    assert len(document["targets"]) == 6  # no create scenario: its writes target is not judged
    scenario = document["scenarios"]["cold-start"]
    assert scenario["api_server"].startswith("Kubernetes v") and scenario["children_per_resource"] == 6
    phases = {p["name"]: p for p in scenario["phases"]}
    assert list(phases) == ["cold start", "spec change", "no-op resync", "restart"]
    start = phases["cold start"]
    # Its own identity: its reads are in the audit log, its dry runs apart from its writes.
    assert start["requests"]["LIST"] > 0 and start["requests"]["WATCH"] > 0
    assert start["requests_by_kind"]["deployments"]["DRY-RUN"] == 2
    assert start["requests_by_kind"]["deployments"]["PATCH"] == 2
    assert start["requests_by_kind"]["agentosconfigs/status"]["PATCH"] >= 2
    # Pods really run (kwok): every resource turned Ready, after its status was first written.
    assert start["ready_seconds"] is not None and start["ready_seconds"] >= start["total_seconds"]
    assert phases["spec change"]["ready_seconds"] is not None and phases["spec change"]["burst_seconds"] is not None
    assert sum(phases["restart"]["reconciles"].values()) >= 2
    assert set(scenario["api_server_processes"]) == {"apiserver", "etcd", "controller-manager", "scheduler", "kwok"}
    assert "| no-op resync | 2 |" in result.stdout
