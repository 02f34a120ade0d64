"""spec.prometheus.podMonitor on a real control plane, with the Prometheus Operator's real
PodMonitor CRD (v0.85.0, from the Go module proxy, cached outside the repository) and without it.

Without the CRD, a resource that does not ask for a PodMonitor is reconciled as ever and the
operator logs nothing above info; one that asks ends Ready=False naming the field and the fix,
with one Warning, and converges on its own once the CRD is installed (no restart). Turned off
or removed, the PodMonitor is pruned; resyncs write nothing. The CRD is deleted again at the end
of this file, so the other files (one API server per session) see a cluster without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import (
    TROUBLE,
    ControlPlane,
    InstallOperator,
    OperatorProcess,
    agentos_body,
    children_told,
    eventually,
    operator_running,
    wait_quiet,
    wait_ready,
    wait_settled,
    wait_until_condition,
    warnings_about,
)

MODULE = "github.com/prometheus-operator/prometheus-operator"
RELEASE = "v0.85.0"
CRD_FILE = "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml"
CRD_NAME = "podmonitors.monitoring.coreos.com"
CACHED = Path.home() / ".cache" / "kube-agentos" / "prometheus-operator" / RELEASE / Path(CRD_FILE).name
FIELD = "spec.prometheus.podMonitor.enabled"
ASKED = {"enabled": True, "labels": {"release": "kube-prometheus-stack"}, "interval": "30s"}


@pytest.fixture(scope="session")
def pod_monitor_crd_file() -> Path:
    """The PodMonitor CRD of the Prometheus Operator's release, fetched once through the Go module proxy."""
    if not CACHED.exists():
        env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
        with tempfile.TemporaryDirectory() as outside_any_module:
            found = subprocess.run(
                ["go", "mod", "download", "-json", f"{MODULE}@{RELEASE}"],
                capture_output=True,
                text=True,
                timeout=900,
                check=True,
                env=env,
                cwd=outside_any_module,
            )
        source = Path(json.loads(found.stdout)["Dir"]) / CRD_FILE
        CACHED.parent.mkdir(parents=True, exist_ok=True)
        partial = CACHED.with_suffix(".partial")
        partial.write_bytes(source.read_bytes())
        partial.replace(CACHED)
    return CACHED


class PodMonitorCrd:
    """Installs the CRD when a test asks; whatever was installed is deleted at the end of the file."""

    def __init__(self, cluster: ControlPlane, path: Path) -> None:
        self.cluster = cluster
        self.path = path

    def install(self) -> None:
        self.cluster.run("apply", "--server-side", "-f", str(self.path))
        self.cluster.run("wait", "--for=condition=Established", "--timeout=60s", f"crd/{CRD_NAME}")

    def absent(self) -> None:
        self.cluster.run("delete", "crd", CRD_NAME, "--ignore-not-found", "--wait=true", "--timeout=120s")


@pytest.fixture(scope="module")
def pod_monitor_crd(control_plane: ControlPlane, pod_monitor_crd_file: Path) -> Iterator[PodMonitorCrd]:
    crd = PodMonitorCrd(control_plane, pod_monitor_crd_file)
    crd.absent()
    yield crd
    crd.absent()


def troubles(operator: OperatorProcess) -> list[str]:
    lines = [json.loads(line) for line in operator.output().splitlines() if line.startswith("{")]
    return [line["message"] for line in lines if line.get("severity") in TROUBLE]


def monitor_of(cluster: ControlPlane, namespace: str) -> dict[str, Any] | None:
    return cluster.get(CRD_NAME, "demo", namespace)


def test_without_the_crd_a_resource_not_asking_for_one_is_ready_and_nothing_is_logged_above_info(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator, pod_monitor_crd: PodMonitorCrd
) -> None:
    pod_monitor_crd.absent()
    installed, operator = operator_running(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo"), namespace)
    wait_ready(control_plane, namespace, "demo")
    wait_quiet(installed, operator, 1)

    assert troubles(operator) == []
    assert warnings_about(control_plane, namespace, "demo") == []
    assert installed.refused() == []
    # Its watch looked, found the kind not served and said so once, at info.
    assert operator.output().count(f"podmonitors in {namespace} are not served") == 1


def test_without_the_crd_a_resource_asking_says_what_to_do_once_then_converges_when_it_is_installed(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator, pod_monitor_crd: PodMonitorCrd
) -> None:
    pod_monitor_crd.absent()
    installed, operator = operator_running(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo", prometheus={"podMonitor": ASKED}), namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", status="False", reason="CRDNotInstalled")
    assert ready["message"].startswith(f"{FIELD} is true, but this cluster does not serve"), ready["message"]
    assert "install the Prometheus Operator's CRDs" in ready["message"]
    assert f"or set {FIELD} to false" in ready["message"]
    assert control_plane.get("deployment", "demo", namespace) is None, "nothing applied meanwhile"
    before = operator.reconciles("waiting")
    eventually(lambda: operator.reconciles("waiting") >= before + 3, what="looked at again")
    assert warnings_about(control_plane, namespace, "demo") == [("CRDNotInstalled", ready["message"])]
    # The one Warning Event is logged as every Warning Event is; nothing else above info.
    assert troubles(operator) == [f"{namespace}/demo CRDNotInstalled: {ready['message']}"]

    pod_monitor_crd.install()
    body = wait_settled(control_plane, namespace, "demo", timeout=120)

    monitor = monitor_of(control_plane, namespace)
    assert monitor is not None
    deployment = control_plane.get("deployment", "demo", namespace) or {}
    assert monitor["spec"]["selector"] == {"matchLabels": deployment["spec"]["selector"]["matchLabels"]}
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    [container] = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "agentos"]
    assert "metrics" in [port["name"] for port in container["ports"]], "the port it scrapes, by name"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    [owner] = monitor["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("AgentOSConfig", body["metadata"]["uid"], True)
    wait_quiet(installed, operator, 1)
    assert len(warnings_about(control_plane, namespace, "demo")) == 1
    # Nothing more, but perhaps a reconcile retried while the API server readied the new kind's
    # storage (a 429), as it retries any transient failure. The watch says that at info.
    told, *others = troubles(operator)
    assert told.endswith(ready["message"])
    assert all("storage is (re)initializing" in line for line in others), others
    assert installed.refused() == [], "the chart grants all the operator does to PodMonitors"


def test_turned_off_or_removed_the_pod_monitor_is_pruned_and_resyncs_write_nothing(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator, pod_monitor_crd: PodMonitorCrd
) -> None:
    pod_monitor_crd.install()
    installed, operator = operator_running(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo", prometheus={"podMonitor": ASKED}), namespace)
    wait_settled(control_plane, namespace, "demo", timeout=120)
    assert monitor_of(control_plane, namespace) is not None
    wait_quiet(installed, operator, 1)

    refused = control_plane.run(
        "apply",
        "--server-side",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(agentos_body("demo", prometheus={"enabled": False, "podMonitor": {"enabled": True}})),
        check=False,
    )
    assert refused.returncode != 0
    assert FIELD in refused.stderr and "needs prometheus.enabled" in refused.stderr, refused.stderr

    control_plane.apply(agentos_body("demo", prometheus={"podMonitor": {**ASKED, "enabled": False}}), namespace)
    eventually(lambda: monitor_of(control_plane, namespace) is None, timeout=60, what="the PodMonitor pruned")
    eventually(
        lambda: "PodMonitor 'demo'" in children_told(control_plane, namespace, "demo", "Pruned"),
        what="the Pruned event",
    )
    wait_settled(control_plane, namespace, "demo", timeout=60)
    wait_quiet(installed, operator, 1)

    control_plane.apply(agentos_body("demo", prometheus={"podMonitor": ASKED}), namespace)
    eventually(lambda: monitor_of(control_plane, namespace) is not None, timeout=60, what="the PodMonitor again")
    control_plane.apply(agentos_body("demo"), namespace)
    eventually(lambda: monitor_of(control_plane, namespace) is None, timeout=60, what="pruned with the block gone")
    wait_settled(control_plane, namespace, "demo", timeout=60)
    wait_quiet(installed, operator, 1)
    assert troubles(operator) == []
    assert installed.refused() == []
