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
    found = {}
    for verb in VERBS:
        times = sorted(by_verb.get(verb, []))
        if times:
            found[verb] = {"n": len(times), "p50": _rank(times, 0.5), "p99": _rank(times, 0.99)}
    return found


def _rank(ordered: list[float], fraction: float) -> float:
    index = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return round(ordered[index - 1], 1)
