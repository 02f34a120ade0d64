"""How the operator benchmark sums up the API server's answer times from its audit log."""

from __future__ import annotations

import json

from benchmarks.operator import cluster_ips, counts


def request(verb: str, plural: str, server_ms: float | None) -> counts.Request:
    return counts.Request(verb, plural, 201, server_ms)


def test_answer_times_are_summed_up_by_kind_then_verb_so_the_slowest_child_shows() -> None:
    requests = [
        *(request("PATCH", "services", ms) for ms in (180.0, 220.0, 900.0)),
        *(request("PATCH", "configmaps", ms) for ms in (20.0, 30.0, 40.0)),
        request("DRY-RUN", "services", 120.0),
    ]

    by_kind = counts.server_latency_by_kind(requests)

    assert by_kind["services"]["PATCH"] == {"n": 3, "p50": 220.0, "p99": 900.0}
    assert by_kind["configmaps"]["PATCH"] == {"n": 3, "p50": 30.0, "p99": 40.0}
    assert by_kind["services"]["DRY-RUN"] == {"n": 1, "p50": 120.0, "p99": 120.0}
    assert counts.server_latency(requests)["PATCH"]["n"] == 6  # all kinds together, as before


def test_requests_without_a_recorded_answer_time_are_left_out() -> None:
    requests = [request("GET", "secrets", None), request("PATCH", "services", 50.0)]

    assert counts.server_latency_by_kind(requests) == {"services": {"PATCH": {"n": 1, "p50": 50.0, "p99": 50.0}}}


def audit_line(verb: str, resource: str, user: str, received: str, answered: str) -> str:
    return json.dumps(
        {
            "stage": "ResponseComplete",
            "verb": verb,
            "user": {"username": user},
            "objectRef": {"resource": resource},
            "requestReceivedTimestamp": received,
            "stageTimestamp": answered,
        }
    )


def test_cluster_ip_allocations_are_read_from_the_api_servers_own_ipaddress_creations() -> None:
    lines = [
        audit_line("create", "ipaddresses", "system:apiserver", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.020Z"),
        audit_line("create", "ipaddresses", "system:apiserver", "2026-01-01T00:00:00.050Z", "2026-01-01T00:00:00.090Z"),
        audit_line("create", "ipaddresses", "someone", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.000Z"),
        audit_line("delete", "ipaddresses", "system:apiserver", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.000Z"),
        audit_line("create", "services", "system:apiserver", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.000Z"),
    ]

    found = cluster_ips.summarize(cluster_ips.creations(lines))

    assert found is not None
    assert (found.count, found.most_at_once) == (2, 1)  # one after the other
    assert (found.span_seconds, found.busy_seconds) == (0.09, 0.06)
    assert found.p50_ms == 40.0


def test_allocations_that_overlap_are_counted_at_once() -> None:
    spans = [(0.0, 1.0), (0.5, 1.5), (2.0, 2.1)]

    found = cluster_ips.summarize(spans)

    assert found is not None and found.most_at_once == 2
    assert cluster_ips.summarize([]) is None
