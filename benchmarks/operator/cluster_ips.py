"""How the API server allocated the Services' cluster IPs, read from a kept audit log.

    python -m benchmarks.operator.cluster_ips WORK_DIR/control-plane-*/audit.log

The API server allocates each new Service's cluster IP by creating an ``IPAddress`` object
through its own loopback client, while holding a lock every Service creation (and every dry
run of one) takes: the allocations happen one at a time, server-wide. This prints them: how
many, how long each took, the most ever in flight at once (1 when they never overlap), and how
much of the time between the first and the last one they filled.
"""

from __future__ import annotations

import argparse
import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

API_SERVER_USER = "system:apiserver"


@dataclass(frozen=True)
class Allocations:
    count: int
    p50_ms: float
    p90_ms: float
    most_at_once: int
    span_seconds: float
    busy_seconds: float


def _moment(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def creations(lines: Iterable[str]) -> list[tuple[float, float]]:
    """Pure: (received, answered) of each IPAddress the API server created, from audit log lines."""
    found = []
    for line in lines:
        if '"ipaddresses"' not in line:
            continue
        event = json.loads(line)
        if event.get("stage") != "ResponseComplete" or event.get("verb") != "create":
            continue
        if (event.get("user") or {}).get("username") != API_SERVER_USER:
            continue
        found.append((_moment(event["requestReceivedTimestamp"]), _moment(event["stageTimestamp"])))
    return sorted(found)


def summarize(spans: list[tuple[float, float]]) -> Allocations | None:
    """Pure: what ``creations`` found, summed up; None when there were none."""
    if not spans:
        return None
    took = sorted((end - start) * 1000 for start, end in spans)
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    at_once = most = 0
    for _, step in edges:
        at_once += step
        most = max(most, at_once)
    return Allocations(
        count=len(spans),
        p50_ms=round(took[len(took) // 2], 1),
        p90_ms=round(took[int(0.9 * (len(took) - 1))], 1),
        most_at_once=most,
        span_seconds=round(spans[-1][1] - spans[0][0], 2),
        busy_seconds=round(sum(end - start for start, end in spans), 2),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.operator.cluster_ips", description=__doc__.split("\n")[0]
    )
    parser.add_argument("audit_log", type=Path)
    args = parser.parse_args(argv)
    with args.audit_log.open(encoding="utf-8") as lines:
        found = summarize(creations(lines))
    if found is None:
        print("no IPAddress created by the API server in this audit log")
        return 1
    print(json.dumps(found.__dict__, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
