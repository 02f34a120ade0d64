"""The operator benchmark's harness runs end to end: every scenario and phase, every target judged.

Not timed tests: they check the harness measures what it says (requests by verb, writes, dry
runs apart, memory, logs), not how fast anything is. The figures come from
``python -m benchmarks.operator.run``, against the emulator or (``--mode real``) a real control plane.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from benchmarks.operator import cluster

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_operator_benchmark_runs_every_phase_and_judges_every_target(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "operator.json"
    argv = ["--resources", "5", "--quiet-seconds", "0.5", "--timeout", "60", "--output", str(output)]

    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.operator.run", *argv], cwd=ROOT, capture_output=True, text=True, timeout=180
    )

    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(output.read_text())
    phases = {p["name"]: p for scenario in document["scenarios"].values() for p in scenario["phases"]}
    assert list(phases) == ["cold start", "spec change", "no-op resync", "restart", "create"]
    assert phases["create"]["requests"]["PATCH"] > 0 and phases["create"]["requests_by_kind"]["deployments"]
    # The operator dry-runs each child before writing it: counted, but not as a write.
    assert phases["create"]["requests"]["DRY-RUN"] >= 5
    assert phases["cold start"]["latency_seconds"]["p99"] <= phases["cold start"]["total_seconds"]
    assert phases["cold start"]["ready_seconds"] is None  # no controller runs pods in the emulator
    assert sum(phases["no-op resync"]["reconciles"].values()) >= 5
    assert document["scenarios"]["create"]["children_per_resource"] == 6
    assert len(document["targets"]) == 8 and all(target["met"] for target in document["targets"])
    assert "| no-op resync | 5 |" in result.stdout


def _control_plane_built() -> bool:
    return cluster.cached_binaries(cluster.versions()[0]) is not None


@pytest.mark.skipif(
    not _control_plane_built(),
    reason="the control plane is not built yet (scripts/control-plane.sh build; scripts/test.sh builds it)",
)
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
