"""The pod settings of the spec on a real control plane: pod labels, image pull Secrets, a
PriorityClass and topology spread constraints reach the runtime's pods as the API server admits
them (the Priority admission plugin gives the pods their class's value), the real scheduler honours
the spread, and the status says in the scheduler's and the admission's words why pods the
settings keep off every node, or out of the cluster, are not running: each mended by an edit of
the resource alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.conftest import (
    POSTGRES,
    ControlPlane,
    InstallOperator,
    agentos_body,
    condition,
    eventually,
    operator_running,
    wait_quiet,
    wait_ready,
    wait_settled,
    wait_until_condition,
)

SPREAD = {
    "maxSkew": 1,
    "topologyKey": "kubernetes.io/hostname",
    "whenUnsatisfiable": "DoNotSchedule",
    "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "demo"}},
}


@pytest.fixture
def priority_class(control_plane: ControlPlane, namespace: str) -> Iterator[str]:
    """A PriorityClass of this test's own (they are cluster-wide), its name; deleted after."""
    name = f"{namespace}-high"
    yield name
    control_plane.run("delete", "priorityclass", name, "--ignore-not-found", "--wait=false")


def make_priority_class(control_plane: ControlPlane, name: str) -> None:
    body = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": 4242}
    control_plane.apply(body)


def runtime_pods(control_plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    return [
        pod
        for pod in control_plane.items("pods", namespace, "-l", "app.kubernetes.io/instance=demo")
        if not pod["metadata"].get("deletionTimestamp")
    ]


def test_pod_labels_pull_secrets_priority_and_spread_reach_the_pods_the_scheduler_spreads(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator, priority_class: str
) -> None:
    make_priority_class(control_plane, priority_class)
    installed, operator = operator_running(control_plane, namespace, install_operator, postgres=True)
    spec = {
        "databases": POSTGRES,
        "replicas": 2,
        "podLabels": {"team": "search", "example.com/cost-center": "c42"},
        "imagePullSecrets": [{"name": "registry"}],
        "priorityClassName": priority_class,
        "topologySpreadConstraints": [SPREAD],
    }
    control_plane.apply(agentos_body("demo", **spec), namespace)

    wait_ready(control_plane, namespace, "demo", timeout="120s")
    pods = eventually(lambda: [p for p in runtime_pods(control_plane, namespace) if p["spec"].get("nodeName")])
    assert len(pods) == 2
    for pod in pods:
        assert pod["metadata"]["labels"]["team"] == "search"
        assert pod["metadata"]["labels"]["example.com/cost-center"] == "c42"
        assert pod["spec"]["imagePullSecrets"] == [{"name": "registry"}]
        assert (pod["spec"]["priorityClassName"], pod["spec"]["priority"]) == (priority_class, 4242)
    assert len({pod["spec"]["nodeName"] for pod in pods}) == 2, "one pod per node, as the spread says"
    # The pod template as the API server stores it (defaults filled in) is no drift: resyncs write nothing.
    wait_quiet(installed, operator, 1, timeout=120)


def test_pods_a_spread_keeps_off_every_node_are_said_in_the_schedulers_words_and_an_edit_mends_it(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator_running(control_plane, namespace, install_operator, env={"AGENTOS_PODS_GRACE_SECONDS": "1"})
    no_such_rack = {**SPREAD, "topologyKey": "example.com/rack"}  # a label no node has
    control_plane.apply(agentos_body("demo", topologySpreadConstraints=[no_such_rack]), namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", reason="Unschedulable", timeout=120)
    assert "didn't match pod topology spread constraints" in ready["message"], ready["message"]
    assert "relax spec.topologySpreadConstraints" in ready["message"]

    control_plane.apply(agentos_body("demo", topologySpreadConstraints=[SPREAD]), namespace)
    body = wait_settled(control_plane, namespace, "demo", timeout=120)
    assert condition(body, "Ready")["reason"] == "Available"


def test_pods_of_a_missing_priority_class_are_refused_said_and_created_once_it_exists(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator, priority_class: str
) -> None:
    operator_running(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo", priorityClassName=priority_class), namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", reason="PodsNotCreated", timeout=120)
    assert f"no PriorityClass with name {priority_class} was found" in ready["message"], ready["message"]
    assert "create the PriorityClass spec.priorityClassName names" in ready["message"]
    assert runtime_pods(control_plane, namespace) == []

    make_priority_class(control_plane, priority_class)
    body = wait_ready(control_plane, namespace, "demo", timeout="180s")
    assert body["metadata"]["generation"] == 1, "no edit of the resource was needed"
