"""The load driver: `POST /agents/{id}/runs` over HTTP as a client calls AgentOS.

Each scenario sends a fixed number of requests from N concurrent workers (after a warm-up),
either with a fresh session per request or one session per worker that grows with each run.
It records latency, the time to the first content event of a stream (`RunContent`), and
errors (non-200 status, or a stream without `RunCompleted`, or a `RunError`).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass, field

import aiohttp


@dataclass(frozen=True)
class Scenario:
    name: str
    stream: bool
    concurrency: int
    requests: int
    reuse_session: bool
    warmup: int = 50


@dataclass
class Sample:
    latency: float
    first_content: float | None
    ok: bool
    error: str | None = None


@dataclass
class Outcome:
    scenario: Scenario
    wall: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if not s.ok)

    @property
    def throughput(self) -> float:
        return len(self.samples) / self.wall if self.wall else 0.0

    def latency_ms(self, quantile: float) -> float:
        return _quantile([s.latency for s in self.samples], quantile) * 1000

    def first_content_ms(self, quantile: float) -> float | None:
        values = [s.first_content for s in self.samples if s.first_content is not None]
        return _quantile(values, quantile) * 1000 if values else None


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _one(
    http: aiohttp.ClientSession, url: str, *, stream: bool, session_id: str, headers: dict[str, str]
) -> Sample:
    form = {"message": "Tell me something.", "stream": "true" if stream else "false", "session_id": session_id}
    start = time.perf_counter()
    first: float | None = None
    try:
        async with http.post(url, data=form, headers=headers) as response:
            if response.status != 200:
                return Sample(time.perf_counter() - start, None, False, f"HTTP {response.status}")
            if not stream:
                body = await response.json()
                ok = body.get("status") == "COMPLETED" and bool(body.get("content"))
                return Sample(time.perf_counter() - start, None, ok, None if ok else str(body.get("status")))
            completed = False
            async for line in response.content:
                if first is None and line.startswith(b"event: RunContent\n"):
                    first = time.perf_counter() - start
                elif line.startswith(b"event: RunCompleted"):
                    completed = True
                elif line.startswith(b"event: RunError"):
                    return Sample(time.perf_counter() - start, first, False, "RunError")
            return Sample(time.perf_counter() - start, first, completed, None if completed else "no RunCompleted")
    except (TimeoutError, aiohttp.ClientError) as error:
        return Sample(time.perf_counter() - start, first, False, type(error).__name__)


async def run_scenario(
    base_url: str, agent_id: str, scenario: Scenario, *, headers: dict[str, str], sessions: list[str] | None = None
) -> Outcome:
    """Warm up, then send `scenario.requests` runs from `scenario.concurrency` workers.

    ``sessions``: one session id per worker, kept across calls, for a scenario that reuses
    sessions and is driven in several rounds (each round's runs join the same growing sessions).
    """
    url = f"{base_url}/agents/{agent_id}/runs"
    connector = aiohttp.TCPConnector(limit=scenario.concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await _drive(http, url, scenario, scenario.warmup, headers, record=None, sessions=sessions)
        outcome = Outcome(scenario, wall=0.0)
        start = time.perf_counter()
        await _drive(http, url, scenario, scenario.requests, headers, record=outcome.samples, sessions=sessions)
        outcome.wall = time.perf_counter() - start
    return outcome


async def _drive(
    http: aiohttp.ClientSession,
    url: str,
    scenario: Scenario,
    total: int,
    headers: dict[str, str],
    *,
    record: list[Sample] | None,
    sessions: list[str] | None = None,
) -> None:
    remaining = iter(range(total))

    async def worker(number: int) -> None:
        session_id = sessions[number] if sessions else str(uuid.uuid4())
        for _ in remaining:
            if not scenario.reuse_session:
                session_id = str(uuid.uuid4())
            sample = await _one(http, url, stream=scenario.stream, session_id=session_id, headers=headers)
            if record is not None:
                record.append(sample)

    await asyncio.gather(*(worker(number) for number in range(scenario.concurrency)))


def summarise(outcome: Outcome) -> dict[str, float | int | str | None]:
    first = outcome.first_content_ms(0.5)
    return {
        "scenario": outcome.scenario.name,
        "requests": len(outcome.samples),
        "errors": outcome.errors,
        "rps": round(outcome.throughput, 1),
        "p50_ms": round(outcome.latency_ms(0.5), 2),
        "p90_ms": round(outcome.latency_ms(0.9), 2),
        "p99_ms": round(outcome.latency_ms(0.99), 2),
        "first_content_p50_ms": round(first, 2) if first is not None else None,
        "mean_ms": round(statistics.fmean(s.latency for s in outcome.samples) * 1000, 2) if outcome.samples else None,
    }
