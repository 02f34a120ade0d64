"""Performance evals: the latency and the peak memory of repeated runs of the target.

As Agno measures it: optional warm-up runs, then ``num_iterations`` timed runs, then as many
runs under ``tracemalloc`` whose peak (less the tracer's own baseline) is the memory, in MiB.
The result is Agno's stored form: ``result`` (average, minimum, maximum, standard deviation,
median and 95th percentile of both) and ``runs`` (``runtime``, ``memory`` per run).

``tracemalloc`` is process-wide: it also counts what other requests allocate meanwhile, and its
cost would slow the runs another measurement times. So a process runs one performance eval at a
time: a second one is refused with 409 at once, before it runs the target at all (refused
between two of the first one's runs, it would have cost its model calls and still failed).
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from agentos_runtime.errors import Conflict
from agentos_runtime.evals.specs import EvalSpec, Evaluated, finished
from agentos_runtime.runs.requests import RunRequest

JSON = dict[str, Any]
MIB = 1024 * 1024
# Samples of the tracer's own cost, averaged into the baseline subtracted from each peak.
_BASELINE_SAMPLES = 3


def summarise(values: Sequence[float], unit: str) -> JSON:
    """``avg/min/max/std_dev/median/p95_<unit>`` of ``values`` (zeros when there are none)."""
    names = ("avg", "min", "max", "std_dev", "median", "p95")
    if not values:
        return {f"{name}_{unit}": 0 for name in names}
    ordered = sorted(values)
    p95 = statistics.quantiles(ordered, n=100, method="inclusive")[94] if len(ordered) > 1 else ordered[0]
    found = (
        statistics.mean(ordered),
        ordered[0],
        ordered[-1],
        statistics.stdev(ordered) if len(ordered) > 1 else 0,
        statistics.median(ordered),
        p95,
    )
    return {f"{name}_{unit}": value for name, value in zip(names, found, strict=True)}


async def evaluate_performance(spec: EvalSpec, target: Evaluated, *, user_id: str | None = None) -> tuple[JSON, JSON]:
    """The result (``eval_data``) and what was asked (``eval_input``).

    Raises ``EvalFailed`` when a run fails and ``Conflict`` (before any run) when another
    performance eval runs.
    """

    async def run_once() -> None:
        finished(await target.complete(RunRequest(message=spec.input, user_id=user_id)))

    with _measuring():
        for _ in range(spec.warmup_runs):
            await run_once()
        run_times = [await _timed(run_once) for _ in range(spec.num_iterations)]
        baseline = _tracer_baseline()
        memory_usages = [await _traced(run_once, baseline) for _ in range(spec.num_iterations)]
    data: JSON = {
        "result": {**summarise(run_times, "run_time"), **summarise(memory_usages, "memory_usage")},
        "runs": [
            {"runtime": runtime, "memory": memory} for runtime, memory in zip(run_times, memory_usages, strict=True)
        ],
    }
    return data, {"num_iterations": spec.num_iterations, "warmup_runs": spec.warmup_runs}


@dataclass
class _Slot:
    """Whether a performance eval runs in this process (one event loop: no lock needed)."""

    busy: bool = False


_SLOT = _Slot()


@contextmanager
def _measuring() -> Iterator[None]:
    """Hold the process's one measurement slot for a whole eval; ``Conflict`` when it is taken."""
    if _SLOT.busy or tracemalloc.is_tracing():
        raise Conflict("another performance eval is running in this process; try again once it ends")
    _SLOT.busy = True
    try:
        yield
    finally:
        _SLOT.busy = False


async def _timed(run: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await run()
    return time.perf_counter() - started


def _tracer_baseline() -> float:
    """What tracing an empty call peaks at, in MiB."""
    peaks = []
    for _ in range(_BASELINE_SAMPLES):
        _start_tracing()
        try:
            peaks.append(tracemalloc.get_traced_memory()[1] / MIB)
        finally:
            tracemalloc.stop()
    return sum(peaks) / len(peaks)


async def _traced(run: Callable[[], Awaitable[None]], baseline: float) -> float:
    """The peak memory of one run, in MiB, less the baseline."""
    _start_tracing()
    try:
        await run()
        peak = tracemalloc.get_traced_memory()[1] / MIB
    finally:
        tracemalloc.stop()
    return max(0.0, peak - baseline)


def _start_tracing() -> None:
    if tracemalloc.is_tracing():
        raise Conflict("another memory measurement is running in this process; try again once it ends")
    gc.collect()
    tracemalloc.start()
