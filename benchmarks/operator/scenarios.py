"""The benchmark's scenarios, each on a fresh API server with its own operator process.

- ``cold start``: N resources exist, none reconciled, when the operator starts; then every spec
  is changed, then one resync of all N is asked for (SIGUSR1) once nothing changed any more.
- ``create``: the operator runs on an empty cluster, then N resources are created at once.

Every phase waits until each resource's status caught up with its generation, then until the
operator made no request for a while, so the follow-up work a phase causes is counted in it.
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

Key = tuple[str, str]
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
QUIET_SECONDS = 2.0


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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

    async def phase(self, name: str, count: int, *, total: float, latencies: list[float]) -> Phase:
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
        )


async def cold_start(count: int, work: Path, *, timeout: float) -> dict[str, Any]:
    """N resources waiting when the operator starts; then a spec change of all, then a resync."""
    async with apiserver.serve() as (api, progress, url):
        await workload.prepare_namespaces(api, count)
        await workload.create_resources(api, count)
        mark, cpu = api.mark(), 0.0
        operator = await operator_process.start(url, work)
        try:
            meter = Meter(api, operator, mark, {}, cpu)
            moments = await progress.wait(dict.fromkeys(workload.keys(count), 1), timeout=timeout)
            total = max(moments.values()) - operator.started
            await apiserver.wait_quiet(api, quiet=QUIET_SECONDS, timeout=timeout)
            start_phase = await meter.phase(
                "cold start", count, total=total, latencies=[m - operator.started for m in moments.values()]
            )
            start_phase.notes.append("latency: from the operator's process start to the status written")
            rss_reconciled = operator.memory_mb()
            change_phase = await _change(api, progress, operator, count, timeout=timeout)
            resync_phase = await _resync(api, operator, count, timeout=timeout)
            rss_end = operator.memory_mb()
        finally:
            exit_code = await operator.stop()
        return {
            "phases": [start_phase.to_json(), change_phase.to_json(), resync_phase.to_json()],
            "children_per_resource": children_per_resource(api, count),
            "rss_mb": {"after_cold_start": rss_reconciled[0], "after_resync": rss_end[0], "peak": rss_end[1]},
            "exit_code": exit_code,
            "log": operator_process.scan_log(operator.log_path),
        }


async def create(count: int, work: Path, *, timeout: float) -> dict[str, Any]:
    """The operator runs on an empty cluster; N resources are created in one burst."""
    async with apiserver.serve() as (api, progress, url):
        await workload.prepare_namespaces(api, count)
        operator = await operator_process.start(url, work)
        try:
            await apiserver.wait_quiet(api, quiet=QUIET_SECONDS, timeout=timeout)
            meter = await Meter.start(api, operator)
            created = await workload.create_resources(api, count)
            moments = await progress.wait(dict.fromkeys(created, 1), timeout=timeout)
            total = max(moments.values()) - min(created.values())
            await apiserver.wait_quiet(api, quiet=QUIET_SECONDS, timeout=timeout)
            phase = await meter.phase(
                "create", count, total=total, latencies=[moments[key] - created[key] for key in created]
            )
            phase.notes.append("all resources created in one burst; latency: from its creation to its status")
            rss = operator.memory_mb()
        finally:
            exit_code = await operator.stop()
        return {
            "phases": [phase.to_json()],
            "children_per_resource": children_per_resource(api, count),
            "rss_mb": {"after_create": rss[0], "peak": rss[1]},
            "exit_code": exit_code,
            "log": operator_process.scan_log(operator.log_path),
        }


async def _change(
    api: Emulator, progress: apiserver.Progress, operator: OperatorProcess, count: int, *, timeout: float
) -> Phase:
    meter = await Meter.start(api, operator)
    changed = await workload.change_resources(api, count)
    moments = await progress.wait({key: generation for key, (generation, _) in changed.items()}, timeout=timeout)
    first_edit = min(moment for _, moment in changed.values())
    total = max(moments.values()) - first_edit
    await apiserver.wait_quiet(api, quiet=QUIET_SECONDS, timeout=timeout)
    latencies = [moments[key] - edited for key, (_, edited) in changed.items()]
    phase = await meter.phase("spec change", count, total=total, latencies=latencies)
    phase.notes.append("every resource's spec edited in one burst; latency: from its edit to its status")
    return phase


async def _resync(api: Emulator, operator: OperatorProcess, count: int, *, timeout: float) -> Phase:
    meter = await Meter.start(api, operator)
    wanted = sum(meter.reconciles.values()) + count
    started = time.monotonic()
    operator.resync()
    deadline = started + timeout
    while sum((await operator.reconciles()).values()) < wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the resync did not reconcile {count} resources within {timeout:.0f}s")
        await asyncio.sleep(0.1)
    total = time.monotonic() - started
    await apiserver.wait_quiet(api, quiet=QUIET_SECONDS, timeout=timeout)
    phase = await meter.phase("no-op resync", count, total=total, latencies=[])
    phase.notes.append("one resync of every unchanged resource, asked for with SIGUSR1")
    return phase
