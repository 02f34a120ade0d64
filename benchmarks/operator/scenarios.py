"""The benchmark's scenarios, each on a fresh API server with its own operator process(es).

- ``cold-start``: N resources exist, none reconciled, when the operator starts; then every spec
  is changed; then one resync of all N is asked for (SIGUSR1) once nothing changes any more;
  then the operator is stopped and a new one started on the converged cluster (a restart).
- ``create``: the operator runs on an empty cluster, then N resources are created at once.

Every phase waits until each resource's status caught up with its generation (or, for the
resync and the restart, until the operator counted N reconciles), then until the operator made
no request for a while, so the follow-up work a phase causes is counted in it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.operator import apiserver, operator_process, workload
from benchmarks.operator.operator_process import OperatorProcess
from tests.support.emulator import Emulator

# Kinds the operator writes for a resource; events are counted apart (they are not children).
CHILD_KINDS = (
    "v1/configmaps",
    "v1/secrets",
    "v1/services",
    "v1/persistentvolumeclaims",
    "apps/v1/deployments",
    "autoscaling/v2/horizontalpodautoscalers",
    "policy/v1/poddisruptionbudgets",
    "networking.k8s.io/v1/networkpolicies",
)


@dataclass(frozen=True)
class Setup:
    """What every scenario runs with; ``quiet``: how long without a request ends a phase."""

    resources: int
    foreign_secrets: int
    work: Path
    timeout: float
    quiet: float = 2.0


@dataclass
class Phase:
    """What one phase cost: time to converge, API requests by verb, reconciles, operator CPU."""

    name: str
    resources: int
    total_seconds: float
    latency_seconds: dict[str, float]
    requests: dict[str, int]
    requests_per_resource: dict[str, float]
    writes_per_resource: float
    requests_by_kind: dict[str, dict[str, int]]
    reconciles: dict[str, float]
    operator_cpu_seconds: float
    notes: list[str] = field(default_factory=list)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values`` (``fraction`` 0.5 for the median)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_summary(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    return {
        "p50": round(percentile(latencies, 0.50), 3),
        "p99": round(percentile(latencies, 0.99), 3),
        "max": round(max(latencies), 3),
    }


def children_per_resource(api: Emulator, count: int) -> float:
    """How many objects the operator made per resource (everything its resources control)."""
    owned = 0
    for kind in CHILD_KINDS:
        for body in api.list_objects(kind):
            refs = body["metadata"].get("ownerReferences") or []
            owned += any(ref.get("kind") == "AgentOSConfig" and ref.get("controller") for ref in refs)
    return owned / count


@dataclass
class Meter:
    """The readings taken at a phase's start, to subtract at its end."""

    api: Emulator
    operator: OperatorProcess
    mark: int
    reconciles: Mapping[str, float]
    cpu: float

    @classmethod
    async def start(cls, api: Emulator, operator: OperatorProcess) -> Meter:
        return cls(api, operator, api.mark(), await operator.reconciles(), operator.cpu_seconds())

    async def phase(self, name: str, count: int, *, total: float, latencies: list[float], note: str) -> Phase:
        requests = self.api.requests_since(self.mark)
        verbs = apiserver.count_verbs(requests)
        after = await self.operator.reconciles()
        writes = sum(verbs[verb] for verb in apiserver.WRITE_VERBS)
        return Phase(
            name=name,
            resources=count,
            total_seconds=round(total, 3),
            latency_seconds=latency_summary(latencies),
            requests=verbs,
            requests_per_resource={verb: round(n / count, 2) for verb, n in verbs.items()},
            writes_per_resource=round(writes / count, 2),
            requests_by_kind=apiserver.count_by_kind(requests),
            reconciles={k: v - self.reconciles.get(k, 0.0) for k, v in after.items() if v != self.reconciles.get(k)},
            operator_cpu_seconds=round(self.operator.cpu_seconds() - self.cpu, 2),
            notes=[note],
        )


async def cold_start(setup: Setup) -> dict[str, Any]:
    """N resources waiting when the operator starts; then a spec change of all, a resync, a restart."""
    count = setup.resources
    async with apiserver.serve() as (api, progress, url):
        await workload.prepare_namespaces(api, count, foreign_secrets=setup.foreign_secrets)
        await workload.create_resources(api, count)
        mark = api.mark()
        operator = await operator_process.start(url, setup.work)
        try:
            meter = Meter(api, operator, mark, {}, 0.0)
            moments = await progress.wait(dict.fromkeys(workload.keys(count), 1), timeout=setup.timeout)
            total = max(moments.values()) - operator.started
            await apiserver.wait_quiet(api, quiet=setup.quiet, timeout=setup.timeout)
            latencies = [moment - operator.started for moment in moments.values()]
            note = "latency: from the operator's process start to the resource's status written"
            phases = [await meter.phase("cold start", count, total=total, latencies=latencies, note=note)]
            rss_reconciled = operator.memory_mb()[0]
            phases.append(await _change(api, progress, operator, setup))
            phases.append(await _resync(api, operator, setup))
        finally:
            first = await _finish(operator, after_cold_start=rss_reconciled)
        restarted = await operator_process.start(url, setup.work)
        try:
            phases.append(await _restart(api, restarted, setup))
        finally:
            second = await _finish(restarted)
        return {
            "phases": [asdict(phase) for phase in phases],
            "children_per_resource": children_per_resource(api, count),
            "operators": {"first": first, "restarted": second},
        }


async def create(setup: Setup) -> dict[str, Any]:
    """The operator runs on an empty cluster; N resources are created in one burst."""
    count = setup.resources
    async with apiserver.serve() as (api, progress, url):
        await workload.prepare_namespaces(api, count, foreign_secrets=setup.foreign_secrets)
        operator = await operator_process.start(url, setup.work)
        try:
            await apiserver.wait_quiet(api, quiet=setup.quiet, timeout=setup.timeout)
            meter = await Meter.start(api, operator)
            created = await workload.create_resources(api, count)
            moments = await progress.wait(dict.fromkeys(created, 1), timeout=setup.timeout)
            total = max(moments.values()) - min(created.values())
            await apiserver.wait_quiet(api, quiet=setup.quiet, timeout=setup.timeout)
            latencies = [moments[key] - created[key] for key in created]
            note = "all resources created in one burst; latency: from its creation to its status written"
            phase = await meter.phase("create", count, total=total, latencies=latencies, note=note)
        finally:
            only = await _finish(operator)
        return {
            "phases": [asdict(phase)],
            "children_per_resource": children_per_resource(api, count),
            "operators": {"only": only},
        }


async def _finish(operator: OperatorProcess, **rss: float) -> dict[str, Any]:
    """Stop the operator; its memory (MiB, current and peak), exit status and log findings."""
    current, peak = operator.memory_mb() if operator.process.returncode is None else (0.0, 0.0)
    exit_code = await operator.stop()
    return {
        "rss_mb": {**rss, "at_stop": current, "peak": peak},
        "exit_code": exit_code,
        "log": operator_process.scan_log(operator.log_path),
    }


async def _change(api: Emulator, progress: apiserver.Progress, operator: OperatorProcess, setup: Setup) -> Phase:
    meter = await Meter.start(api, operator)
    changed = await workload.change_resources(api, setup.resources)
    wanted = {key: generation for key, (generation, _) in changed.items()}
    moments = await progress.wait(wanted, timeout=setup.timeout)
    total = max(moments.values()) - min(moment for _, moment in changed.values())
    await apiserver.wait_quiet(api, quiet=setup.quiet, timeout=setup.timeout)
    latencies = [moments[key] - edited for key, (_, edited) in changed.items()]
    note = "every resource's spec edited in one burst; latency: from its edit to its status written"
    return await meter.phase("spec change", setup.resources, total=total, latencies=latencies, note=note)


async def _resync(api: Emulator, operator: OperatorProcess, setup: Setup) -> Phase:
    meter = await Meter.start(api, operator)
    started = time.monotonic()
    operator.resync()
    await _reconciled(operator, sum(meter.reconciles.values()) + setup.resources, timeout=setup.timeout)
    total = time.monotonic() - started
    await apiserver.wait_quiet(api, quiet=setup.quiet, timeout=setup.timeout)
    note = "one resync of every unchanged resource, asked for with SIGUSR1"
    return await meter.phase("no-op resync", setup.resources, total=total, latencies=[], note=note)


async def _restart(api: Emulator, operator: OperatorProcess, setup: Setup) -> Phase:
    meter = Meter(api, operator, api.mark(), {}, 0.0)
    await _reconciled(operator, setup.resources, timeout=setup.timeout)
    total = time.monotonic() - operator.started
    await apiserver.wait_quiet(api, quiet=setup.quiet, timeout=setup.timeout)
    note = "a new operator process on the converged cluster; total: from its start to N reconciles"
    return await meter.phase("restart", setup.resources, total=total, latencies=[], note=note)


async def _reconciled(operator: OperatorProcess, wanted: float, *, timeout: float) -> None:
    """Wait until the operator counted ``wanted`` reconciles in all."""
    deadline = time.monotonic() + timeout
    while sum((await operator.reconciles()).values()) < wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the operator did not reach {wanted:g} reconciles within {timeout:.0f}s")
        await asyncio.sleep(0.1)
