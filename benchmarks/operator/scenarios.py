"""The benchmark's scenarios, each on a fresh API server with its own operator process(es).

- ``cold-start``: N resources exist, none reconciled, when the operator starts; then every spec
  is changed; then one resync of all N is asked for (SIGUSR1) once nothing changes any more;
  then the operator is stopped and a new one started on the converged cluster (a restart).
- ``create``: the operator runs on an empty cluster, then N resources are created at once.

Every phase waits until each resource's status caught up with its generation (or, for the
resync and the restart, until the operator counted N reconciles), then until the operator made
no request for a while, so the follow-up work a phase causes is counted in it. On an API server
whose controllers run pods (``ApiServer.runs_pods``), the cold start, the spec change and the
create also wait until every resource is Ready with its Deployment rolled out, before that.

The API server is the test emulator (``apiserver``) or a real control plane (``cluster``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from benchmarks.operator import apiserver, cluster, counts, operator_process, workload
from benchmarks.operator.operator_process import OperatorProcess
from benchmarks.operator.progress import Progress

Key = tuple[str, str]


class ApiServer(Protocol):
    """What a scenario needs of the API server under test."""

    progress: Progress
    kubeconfig: Path  # the operator's
    name: str
    runs_pods: bool  # whether Deployments ever become Available (so resources Ready)
    pin_operator: bool

    def mark(self) -> int: ...

    def requests_since(self, mark: int) -> list[counts.Request]: ...

    async def wait_quiet(self, *, quiet: float, timeout: float) -> None: ...

    async def prepare(self, count: int, *, foreign_secrets: int) -> None: ...

    async def create_resources(self, count: int) -> dict[Key, float]: ...

    async def change_resources(self, count: int) -> dict[Key, tuple[int, float]]: ...

    async def children_per_resource(self, count: int) -> float: ...

    def usage(self) -> dict[str, Any]:
        """CPU seconds and peak RSS of the API server's own processes, when they are separate ones."""
        ...


@dataclass(frozen=True)
class Setup:
    """What every scenario runs with; ``quiet``: how long without a request ends a phase."""

    resources: int
    foreign_secrets: int
    work: Path
    timeout: float
    quiet: float = 2.0
    mode: Literal["emulator", "real"] = "emulator"
    kubernetes: str = ""  # the control plane's version, in the real mode
    pythonpath: str | None = None  # the operator's code, when not the working tree's

    @contextlib.asynccontextmanager
    async def api_server(self) -> AsyncIterator[ApiServer]:
        """A fresh API server of the mode's kind."""
        if self.mode == "real":
            async with cluster.serve(self.work, self.kubernetes) as real:
                yield real
        else:
            async with apiserver.serve(self.work) as emulated:
                yield emulated

    async def start_operator(self, api: ApiServer) -> OperatorProcess:
        return await operator_process.start(
            api.kubeconfig, self.work, pin_cpu=api.pin_operator, pythonpath=self.pythonpath
        )


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
    # Until every resource was Ready (its Deployment rolled out and available), measured as the
    # total is; only on an API server that runs pods.
    ready_seconds: float | None = None
    ready_latency_seconds: dict[str, float] = field(default_factory=dict)
    responses_by_code: dict[str, int] = field(default_factory=dict)  # when the API server records them
    ready_drops: int = 0  # times a resource's Ready went from True to False
    # By verb: the API server's time to answer the operator (ms), when the API server records it.
    server_latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    # The same by resource plural, then verb.
    server_latency_by_kind_ms: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    # How long the benchmark took to create or edit every resource (the burst itself).
    burst_seconds: float | None = None


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


@dataclass
class Meter:
    """The readings taken at a phase's start, to subtract at its end."""

    api: ApiServer
    operator: OperatorProcess
    mark: int
    reconciles: Mapping[str, float]
    cpu: float
    drops: int = 0

    @classmethod
    async def start(cls, api: ApiServer, operator: OperatorProcess) -> Meter:
        reconciles = await operator.reconciles()
        return cls(api, operator, api.mark(), reconciles, operator.cpu_seconds(), api.progress.drops)

    async def phase(
        self,
        name: str,
        count: int,
        *,
        total: float,
        latencies: list[float],
        note: str,
        ready: tuple[float, list[float]] | None = None,
        burst: list[float] | None = None,
    ) -> Phase:
        """What the phase cost; ``ready``: its time until all were Ready, and each resource's."""
        requests = self.api.requests_since(self.mark)
        verbs = counts.count_verbs(requests)
        after = await self.operator.reconciles()
        writes = sum(verbs[verb] for verb in counts.WRITE_VERBS)
        return Phase(
            name=name,
            resources=count,
            total_seconds=round(total, 3),
            latency_seconds=latency_summary(latencies),
            requests=verbs,
            requests_per_resource={verb: round(n / count, 2) for verb, n in verbs.items()},
            writes_per_resource=round(writes / count, 2),
            requests_by_kind=counts.count_by_kind(requests),
            reconciles={k: v - self.reconciles.get(k, 0.0) for k, v in after.items() if v != self.reconciles.get(k)},
            operator_cpu_seconds=round(self.operator.cpu_seconds() - self.cpu, 2),
            notes=[note],
            ready_seconds=None if ready is None else round(ready[0], 3),
            ready_latency_seconds={} if ready is None else latency_summary(ready[1]),
            responses_by_code=counts.count_codes(requests),
            ready_drops=self.api.progress.drops - self.drops,
            server_latency_ms=counts.server_latency(requests),
            server_latency_by_kind_ms=counts.server_latency_by_kind(requests),
            burst_seconds=round(max(burst) - min(burst), 3) if burst else None,
        )


async def cold_start(setup: Setup) -> dict[str, Any]:
    """N resources waiting when the operator starts; then a spec change of all, a resync, a restart."""
    count = setup.resources
    async with setup.api_server() as api:
        await api.prepare(count, foreign_secrets=setup.foreign_secrets)
        await api.create_resources(count)
        mark = api.mark()
        operator = await setup.start_operator(api)
        rss_reconciled = 0.0
        try:
            meter = Meter(api, operator, mark, {}, 0.0, api.progress.drops)
            wanted = dict.fromkeys(workload.keys(count), 1)
            moments = await api.progress.wait(wanted, timeout=setup.timeout)
            total = max(moments.values()) - operator.started
            latencies = [moment - operator.started for moment in moments.values()]
            ready = await _ready(api, wanted, setup, since=dict.fromkeys(wanted, operator.started))
            await api.wait_quiet(quiet=setup.quiet, timeout=setup.timeout)
            note = "latency: from the operator's process start to the resource's status written"
            phase = await meter.phase("cold start", count, total=total, latencies=latencies, note=note, ready=ready)
            phases = [phase]
            rss_reconciled = operator.memory_mb()[0]
            phases.append(await _change(api, operator, setup))
            phases.append(await _resync(api, operator, setup))
        finally:
            first = await _finish(operator, after_cold_start=rss_reconciled)
        mark = api.mark()  # before the start: its first lists and watches come before its metrics are up
        restarted = await setup.start_operator(api)
        try:
            phases.append(await _restart(api, restarted, setup, mark))
        finally:
            second = await _finish(restarted)
        return {
            "api_server": api.name,
            "phases": [asdict(phase) for phase in phases],
            "children_per_resource": await api.children_per_resource(count),
            "operators": {"first": first, "restarted": second},
            "api_server_processes": api.usage(),
        }


async def create(setup: Setup) -> dict[str, Any]:
    """The operator runs on an empty cluster; N resources are created in one burst."""
    count = setup.resources
    async with setup.api_server() as api:
        await api.prepare(count, foreign_secrets=setup.foreign_secrets)
        operator = await setup.start_operator(api)
        try:
            await api.wait_quiet(quiet=setup.quiet, timeout=setup.timeout)
            meter = await Meter.start(api, operator)
            created = await api.create_resources(count)
            wanted = dict.fromkeys(created, 1)
            moments = await api.progress.wait(wanted, timeout=setup.timeout)
            total = max(moments.values()) - min(created.values())
            latencies = [moments[key] - created[key] for key in created]
            ready = await _ready(api, wanted, setup, since=created)
            await api.wait_quiet(quiet=setup.quiet, timeout=setup.timeout)
            note = "all resources created in one burst; latency: from its creation to its status written"
            phase = await meter.phase(
                "create", count, total=total, latencies=latencies, note=note, ready=ready, burst=list(created.values())
            )
        finally:
            only = await _finish(operator)
        return {
            "api_server": api.name,
            "phases": [asdict(phase)],
            "children_per_resource": await api.children_per_resource(count),
            "operators": {"only": only},
            "api_server_processes": api.usage(),
        }


async def _ready(
    api: ApiServer, wanted: dict[Key, int], setup: Setup, *, since: Mapping[Key, float]
) -> tuple[float, list[float]] | None:
    """On an API server that runs pods: time from the first of ``since`` until all were Ready, and each one's."""
    if not api.runs_pods:
        return None
    moments = await api.progress.wait(wanted, timeout=setup.timeout, ready=True)
    return max(moments.values()) - min(since.values()), [moments[key] - since[key] for key in wanted]


async def _finish(operator: OperatorProcess, **rss: float) -> dict[str, Any]:
    """Stop the operator; its memory (MiB, current and peak), exit status and log findings."""
    current, peak = operator.memory_mb() if operator.process.returncode is None else (0.0, 0.0)
    exit_code = await operator.stop()
    return {
        "rss_mb": {**rss, "at_stop": current, "peak": peak},
        "exit_code": exit_code,
        "log": operator_process.scan_log(operator.log_path),
    }


async def _change(api: ApiServer, operator: OperatorProcess, setup: Setup) -> Phase:
    meter = await Meter.start(api, operator)
    changed = await api.change_resources(setup.resources)
    wanted = {key: generation for key, (generation, _) in changed.items()}
    moments = await api.progress.wait(wanted, timeout=setup.timeout)
    total = max(moments.values()) - min(moment for _, moment in changed.values())
    latencies = [moments[key] - edited for key, (_, edited) in changed.items()]
    ready = await _ready(api, wanted, setup, since={key: edited for key, (_, edited) in changed.items()})
    await api.wait_quiet(quiet=setup.quiet, timeout=setup.timeout)
    note = "every resource's spec edited in one burst; latency: from its edit to its status written"
    edits = [edited for _, edited in changed.values()]
    return await meter.phase(
        "spec change", setup.resources, total=total, latencies=latencies, note=note, ready=ready, burst=edits
    )


async def _resync(api: ApiServer, operator: OperatorProcess, setup: Setup) -> Phase:
    meter = await Meter.start(api, operator)
    started = time.monotonic()
    operator.resync()
    await _reconciled(operator, sum(meter.reconciles.values()) + setup.resources, timeout=setup.timeout)
    total = time.monotonic() - started
    await api.wait_quiet(quiet=setup.quiet, timeout=setup.timeout)
    note = "one resync of every unchanged resource, asked for with SIGUSR1"
    return await meter.phase("no-op resync", setup.resources, total=total, latencies=[], note=note)


async def _restart(api: ApiServer, operator: OperatorProcess, setup: Setup, mark: int) -> Phase:
    meter = Meter(api, operator, mark, {}, 0.0, api.progress.drops)
    await _reconciled(operator, setup.resources, timeout=setup.timeout)
    total = time.monotonic() - operator.started
    await api.wait_quiet(quiet=setup.quiet, timeout=setup.timeout)
    note = "a new operator process on the converged cluster; total: from its start to N reconciles"
    return await meter.phase("restart", setup.resources, total=total, latencies=[], note=note)


async def _reconciled(operator: OperatorProcess, wanted: float, *, timeout: float) -> None:
    """Wait until the operator counted ``wanted`` reconciles in all."""
    deadline = time.monotonic() + timeout
    while sum((await operator.reconciles()).values()) < wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the operator did not reach {wanted:g} reconciles within {timeout:.0f}s")
        await asyncio.sleep(0.1)
