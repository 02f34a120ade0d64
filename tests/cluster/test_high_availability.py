"""Two operator replicas, a leader killed, an API server restarted mid-reconcile, the chart
installed cluster-wide: on a real control plane, every resource still ends reconciled."""

from __future__ import annotations

import signal
import subprocess
from typing import Any

from tests.cluster.conftest import (
    IMAGE,
    POSTGRES,
    SCRIPT,
    ControlPlane,
    Installed,
    InstallOperator,
    OperatorProcess,
    add_secrets,
    agentos_body,
    condition,
    eventually,
    wait_quiet,
    wait_ready,
)


def lease(cluster: ControlPlane, installed: Installed) -> dict[str, Any]:
    found = cluster.get("lease", installed.service_account, installed.release_namespace)
    return (found or {}).get("spec") or {}


def start_replicas(installed: Installed, count: int = 2, duration: int = 4) -> list[OperatorProcess]:
    """``count`` replicas electing a leader with the chart's Lease (its name and its grant)."""
    return [
        installed.start(
            "--leader-election",
            AGENTOS_LEASE_NAME=installed.service_account,
            AGENTOS_LEASE_DURATION_SECONDS=str(duration),
            AGENTOS_LEASE_RETRY_SECONDS="0.3",
        )
        for _ in range(count)
    ]


def env_of(cluster: ControlPlane, namespace: str, name: str) -> dict[str, str]:
    found = cluster.get("deployment", name, namespace) or {}
    containers = found.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}]
    return {e["name"]: e.get("value", "") for e in containers[0].get("env") or []}


def test_the_standby_takes_over_when_the_leader_is_killed(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    replicas = start_replicas(installed)
    add_secrets(control_plane, namespace, postgres=True)
    control_plane.apply(agentos_body("demo", databases=POSTGRES), namespace)
    wait_ready(control_plane, namespace, "demo")
    holder = eventually(lambda: lease(control_plane, installed).get("holderIdentity"), what="a Lease holder")
    leader = next(r for r in replicas if holder.startswith(f"{r.pod_name}_"))
    standby = next(r for r in replicas if r is not leader)

    leader.stop(signal.SIGKILL)  # no release: the standby must wait the Lease out
    control_plane.apply(agentos_body("demo", databases=POSTGRES, env=[{"name": "AFTER", "value": "kill"}]), namespace)

    eventually(lambda: env_of(control_plane, namespace, "demo").get("AFTER") == "kill", what="the standby reconciling")
    taken = lease(control_plane, installed)
    assert taken["holderIdentity"] != holder
    assert taken["leaseTransitions"] >= 1
    assert standby.alive()
    wait_ready(control_plane, namespace, "demo")
    assert installed.refused() == []


def test_an_api_server_restart_in_the_middle_of_reconciles_ends_with_every_resource_reconciled(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    replicas = start_replicas(installed, duration=15)
    add_secrets(control_plane, namespace, postgres=True)
    names = [f"burst-{i}" for i in range(12)]
    bodies = {"apiVersion": "v1", "kind": "List", "items": [agentos_body(n, databases=POSTGRES) for n in names]}
    control_plane.apply(bodies, namespace)
    eventually(lambda: control_plane.items("deployments", namespace), timeout=30, what="the first Deployment")
    # What is left to do when the API server goes: children to write, and each status to follow
    # its Deployment until Ready (the operator writes the children of 12 resources within a second).
    ready_before = [
        item["metadata"]["name"]
        for item in control_plane.items("agentosconfigs", namespace)
        if condition(item, "Ready").get("status") == "True"
    ]

    subprocess.run(["bash", str(SCRIPT), "restart", str(control_plane.state), "apiserver"], check=True, timeout=180)

    for name in names:
        wait_ready(control_plane, namespace, name, timeout="120s")
    for name in names:
        assert condition(control_plane.get("agentosconfig", name, namespace), "Ready")["reason"] == "Available"
        assert control_plane.get("deployment", name, namespace) is not None
    assert all(replica.alive() for replica in replicas), [r.output()[-2000:] for r in replicas if not r.alive()]
    assert len(ready_before) < len(names), "every resource was Ready before the restart: nothing was in flight"


def test_the_chart_installed_cluster_wide_serves_any_namespace_with_what_it_grants(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator()
    operator = installed.start()
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)

    wait_ready(control_plane, namespace, "demo")

    # Namespaces other tests left terminating refuse new content (403): only this one counts.
    assert [r for r in installed.refused() if f"/namespaces/{namespace}/" in r or "/namespaces/" not in r] == []
    assert operator.alive()


def image_of(cluster: ControlPlane, namespace: str, name: str) -> str:
    found = cluster.get("deployment", name, namespace) or {}
    return str(found["spec"]["template"]["spec"]["containers"][0]["image"])


def test_an_upgrade_of_a_single_replica_never_runs_two_writers_at_once(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)  # the chart's defaults: one replica
    chart = env_of(control_plane, installed.release_namespace, installed.service_account)
    as_the_chart_runs_it = {key: chart[key] for key in ("AGENTOS_LEADER_ELECTION", "AGENTOS_LEASE_NAME")}
    old = installed.start(**as_the_chart_runs_it)
    eventually(lambda: old.reconciling(), what="the only replica reconciling")
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)
    wait_ready(control_plane, namespace, "demo")

    # `helm upgrade --set runtimeImage.tag=...`: the rolling update starts the new pod beside the old one.
    new = installed.start(**as_the_chart_runs_it, AGENTOS_RUNTIME_IMAGE=f"{IMAGE}-next")

    wait_quiet(installed, old, 1)
    assert (new.reconciling(), new.reconciles()) == (False, 0)
    assert image_of(control_plane, namespace, "demo") == IMAGE
    assert old.stop() == 0
    eventually(lambda: image_of(control_plane, namespace, "demo") == f"{IMAGE}-next", what="the new pod taking over")
    wait_quiet(installed, new, 1)
