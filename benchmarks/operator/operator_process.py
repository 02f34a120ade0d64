"""The operator under test, as its own process: ``python -m agentos_operator`` from a kubeconfig.

Its own process so that its memory is its own (RSS read from /proc) and its CPU too: against the
emulator it is pinned to CPU 0 while the benchmark and the emulator run on CPU 1. It logs JSON
to a file, which is scanned afterwards for warnings, errors and retries; its reconcile counts
come from its Prometheus endpoint.

The code it runs is the working tree's, or that of a commit (``export_source``): other work in
progress in the same checkout then does not end up in figures said to be a commit's.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.runtime import procstat
from tests.support.ports import free_port

OPERATOR_CPU, BENCHMARK_CPU = "0", "1"
IMAGE = "registry.example/agentos-runtime:bench"
RECONCILES = re.compile(r'^agentos_operator_reconciles_total\{result="([^"]+)"\} ([0-9.e+]+)$', re.M)
# Log messages differ by resource name and numbers; these patterns fold them into one line each.
_NAMES = re.compile(r"bench-\d+/agent-\d+|agent-\d+|bench-\d+|\d+(\.\d+)?")


def pin(cpu: str) -> None:
    """Run this process (and its children) on ``cpu`` only, when the machine has more than one."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {int(cpu)})


def write_kubeconfig(path: Path, server: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "bench", "user": {"token": "not-checked"}}],
        "contexts": [{"name": "bench", "context": {"cluster": "emulator", "user": "bench"}}],
        "current-context": "bench",
    }
    path.write_text(json.dumps(config))


@dataclass
class OperatorProcess:
    process: asyncio.subprocess.Process
    log_path: Path
    metrics_port: int
    started: float

    @property
    def pid(self) -> int:
        return self.process.pid

    def memory_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) of the operator process, MiB."""
        return procstat.memory_mb(self.pid)

    def cpu_seconds(self) -> float:
        return procstat.cpu_seconds(self.pid)

    async def reconciles(self) -> dict[str, float]:
        """Reconciles so far by result, from the operator's /metrics."""
        text = await asyncio.to_thread(_fetch, f"http://127.0.0.1:{self.metrics_port}/metrics")
        return {result: float(value) for result, value in RECONCILES.findall(text)}

    def resync(self) -> None:
        """Ask the operator for a resync of every resource now (SIGUSR1)."""
        self.process.send_signal(signal.SIGUSR1)

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout=30)


def export_source(revision: str, into: Path) -> str:
    """Extract the operator's and the runtime's packages as of ``revision``; returns the PYTHONPATH to run them.

    ``git archive`` reads the commit, not the checkout: nothing in the working tree or the index
    is touched. The installed package is an editable one, found after PYTHONPATH's entries.
    """
    root = Path(__file__).resolve().parents[2]
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "operator", "runtime"], cwd=root, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return os.pathsep.join(str(into / package) for package in ("operator", "runtime"))


async def start(
    kubeconfig: Path,
    work: Path,
    *,
    pin_cpu: bool = True,
    pythonpath: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> OperatorProcess:
    """Start the operator with ``kubeconfig`` (all namespaces, resync only on request).

    ``pin_cpu``: run it on ``OPERATOR_CPU`` only; ``pythonpath``: run that code (``export_source``).
    """
    metrics_port = free_port()
    log_path = work / f"operator-{int(time.time() * 1000)}.log"
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "AGENTOS_RUNTIME_IMAGE": IMAGE,
        "AGENTOS_METRICS_PORT": str(metrics_port),
        "AGENTOS_HEALTH_PORT": "0",
        # A day: the benchmark triggers the one resync it measures itself.
        "AGENTOS_RESYNC_SECONDS": "86400",
        "AGENTOS_LOG_FORMAT": "json",
        **({"PYTHONPATH": pythonpath} if pythonpath else {}),
        **(extra_env or {}),
    }
    argv = [sys.executable, "-m", "agentos_operator", "--all-namespaces"]
    if pin_cpu and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        argv = ["taskset", "-c", OPERATOR_CPU, *argv]
    with log_path.open("wb") as log:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(*argv, env=env, stdout=log, stderr=log)
    operator = OperatorProcess(process, log_path, metrics_port, started)
    await _wait_for_metrics(operator, timeout=30)
    return operator


async def _wait_for_metrics(operator: OperatorProcess, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if operator.process.returncode is not None:
            raise RuntimeError(f"the operator exited with {operator.process.returncode}: see {operator.log_path}")
        try:
            await operator.reconciles()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the local operator
        return str(response.read().decode())


def scan_log(path: Path) -> dict[str, Any]:
    """Warnings and errors in the operator's log: counts by level, the distinct messages, retries."""
    levels: collections.Counter[str] = collections.Counter()
    messages: collections.Counter[str] = collections.Counter()
    retries = 0
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            levels["unparsed"] += 1
            messages[line[:200]] += 1
            continue
        level = str(record.get("severity") or record.get("levelname") or "info").upper()
        levels[level] += 1
        message = str(record.get("message", ""))
        if "retry" in message.lower() or "failed temporarily" in message.lower():
            retries += 1
        if level not in ("DEBUG", "INFO"):
            messages[_NAMES.sub("N", message)[:200]] += 1
    return {
        "lines_by_level": dict(sorted(levels.items())),
        "retries": retries,
        "warnings_and_errors": [{"message": m, "count": n} for m, n in messages.most_common(10)],
    }
