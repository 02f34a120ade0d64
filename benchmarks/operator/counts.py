"""The operator's API requests, as either API server under test records them, counted one way.

A request counts under GET (one object), LIST, WATCH, or its write method. A dry run
(``dryRun=All``) stores nothing and is not a write: the operator dry-runs every child before
writing it, so dry runs are counted apart, under DRY-RUN, whatever their method.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass

VERBS = ("GET", "LIST", "WATCH", "POST", "PATCH", "PUT", "DELETE", "DRY-RUN")
WRITE_VERBS = ("POST", "PATCH", "PUT", "DELETE")


@dataclass(frozen=True)
class Request:
    """One request the operator made: its verb (see ``VERBS``), the resource plural, the answer's code.

    ``server_ms``: from the API server's receiving it to its answer being complete, when recorded.
    """

    verb: str
    plural: str
    code: int | None = None
    server_ms: float | None = None


def count_verbs(requests: Iterable[Request]) -> dict[str, int]:
    counts = collections.Counter(request.verb for request in requests)
    return {verb: counts.get(verb, 0) for verb in VERBS}


def count_by_kind(requests: Iterable[Request]) -> dict[str, dict[str, int]]:
    """Requests by resource plural, then verb (only the verbs seen)."""
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for request in requests:
        table[request.plural][request.verb] += 1
    return {plural: dict(sorted(verbs.items())) for plural, verbs in sorted(table.items())}


def count_codes(requests: Iterable[Request]) -> dict[str, int]:
    """Answers by status code (only when the API server recorded them)."""
    counts = collections.Counter(str(request.code) for request in requests if request.code is not None)
    return dict(sorted(counts.items()))


def server_latency(requests: Iterable[Request]) -> dict[str, dict[str, float]]:
    """By verb: how many answers had a recorded server time, and its median and 99th percentile (ms)."""
    by_verb: dict[str, list[float]] = collections.defaultdict(list)
    for request in requests:
        if request.server_ms is not None:
            by_verb[request.verb].append(request.server_ms)
    return {verb: _summary(by_verb[verb]) for verb in VERBS if by_verb.get(verb)}


def server_latency_by_kind(requests: Iterable[Request]) -> dict[str, dict[str, dict[str, float]]]:
    """By resource plural, then verb: as ``server_latency``. It shows which child the API server
    is slowest over (a Service: its cluster IP is allocated one at a time, server-wide)."""
    table: dict[str, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for request in requests:
        if request.server_ms is not None:
            table[request.plural][request.verb].append(request.server_ms)
    return {
        plural: {verb: _summary(times[verb]) for verb in VERBS if times.get(verb)}
        for plural, times in sorted(table.items())
    }


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"n": len(ordered), "p50": _rank(ordered, 0.5), "p99": _rank(ordered, 0.99)}


def _rank(ordered: list[float], fraction: float) -> float:
    index = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return round(ordered[index - 1], 1)
