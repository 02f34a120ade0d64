"""Leader election on a real API server with the chart's Lease: one replica reconciles, the
other stands by writing nothing; a clean stop hands the Lease over at once; a replica whose Lease
is taken stops writing and stands by until it holds it again."""

from __future__ import annotations

import datetime
import json
import time

from tests.cluster.conftest import (
    ControlPlane,
    InstallOperator,
    add_secrets,
    agentos_body,
    eventually,
    wait_ready,
)


def observed(cluster: ControlPlane, namespace: str, generation: int) -> bool:
    body = cluster.get("agentosconfig", "demo", namespace) or {}
    return (body.get("status") or {}).get("observedGeneration") == generation


def test_one_replica_holds_the_lease_and_reconciles_while_the_standby_does_nothing(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    first = installed.start_elected()
    eventually(lambda: first.reconciling(), what="the first replica leading")
    second = installed.start_elected()
    add_secrets(control_plane, namespace)

    control_plane.apply(agentos_body("demo"), namespace)

    wait_ready(control_plane, namespace, "demo")
    lease = installed.lease()
    assert lease["holderIdentity"].startswith(f"{first.pod_name}_")
    assert (lease["leaseDurationSeconds"], lease.get("leaseTransitions", 0)) == (4, 0)
    assert first.reconciles() > 0
    assert (second.reconciling(), second.reconciles()) == (False, 0)


def test_a_leader_that_stops_cleanly_hands_the_lease_over_at_once(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    duration = 20  # far longer than a handover: only a released Lease is taken this soon
    leader = installed.start_elected(duration=duration)
    eventually(lambda: leader.reconciling(), what="a leader")
    standby = installed.start_elected(duration=duration)
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)
    wait_ready(control_plane, namespace, "demo")

    stopped = time.monotonic()
    assert leader.stop() == 0

    eventually(lambda: standby.reconciling(), timeout=duration, what="the standby leading")
    assert time.monotonic() - stopped < duration / 2
    lease = installed.lease()
    assert lease["holderIdentity"].startswith(f"{standby.pod_name}_")
    assert lease["leaseTransitions"] == 1
    control_plane.apply(agentos_body("demo", image="registry.example/runtime:2"), namespace)
    eventually(lambda: observed(control_plane, namespace, 2), what="the new leader at work")
    assert standby.reconciles() > 0


def micro_time(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_an_operator_that_loses_its_lease_stops_writing_and_stands_by_until_it_holds_it_again(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    operator = installed.start_elected()
    eventually(lambda: operator.reconciling(), what="a leader")
    add_secrets(control_plane, namespace)

    # Another holder, as far as the Lease says; it never renews, so a whole duration later it is free.
    usurped = {"spec": {"holderIdentity": "usurper", "renewTime": micro_time(datetime.datetime.now(tz=datetime.UTC))}}
    lease = ("lease", installed.service_account, "-n", installed.release_namespace)
    control_plane.run("patch", *lease, "--type=merge", "-p", json.dumps(usurped))
    eventually(lambda: not operator.reconciling(), what="the operator standing by")
    mark = control_plane.audit_mark()
    control_plane.apply(agentos_body("demo"), namespace)

    wait_ready(control_plane, namespace, "demo")
    assert installed.lease()["holderIdentity"].startswith(f"{operator.pod_name}_")
    assert operator.alive()
    writes = [w["objectRef"]["resource"] for w in installed.writes(mark)]
    assert "leases" in writes
    assert writes[: writes.index("leases")] == [], "written while another held the Lease"
