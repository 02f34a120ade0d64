"""Children edited by hand on a real API server: a list item re-keyed by another client (a
Service's port, a container's port) is taken back and the child restored, once, with a Normal
event; a spec change the data claim cannot take is named at the spec's field, not as Go.

Server-side apply merges those lists by port: the edited item is the other client's, and the
operator's apply put its own beside it, which the API server refused (``Duplicate value:
"http"``) on every attempt, every other child held with it."""

from __future__ import annotations

import json
from typing import Any

from tests.cluster.conftest import (
    POSTGRES,
    TROUBLE,
    ControlPlane,
    InstallOperator,
    OperatorProcess,
    agentos_body,
    condition,
    events_about,
    eventually,
    operator_running,
    wait_ready,
    wait_settled,
    wait_until_condition,
)

MANAGER = "agentos-operator"


def troubles(operator: OperatorProcess) -> list[str]:
    lines = [json.loads(line) for line in operator.output().splitlines() if line.startswith("{")]
    return [line["message"] for line in lines if line.get("severity") in TROUBLE]


def restored_events(cluster: ControlPlane, namespace: str) -> list[str]:
    return [
        e["message"]
        for e in events_about(cluster, namespace, "demo")
        if (e["type"], e["reason"]) == ("Normal", "Restored")
    ]


def managed(cluster: ControlPlane, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
    found = cluster.run("get", kind, name, "-n", namespace, "-o", "json", "--show-managed-fields").stdout
    entries: list[dict[str, Any]] = json.loads(found)["metadata"]["managedFields"]
    return entries


def ports(cluster: ControlPlane, namespace: str) -> list[tuple[str, int, int]]:
    service = cluster.get("service", "demo", namespace) or {}
    return [(p["name"], p["port"], p.get("nodePort", 0)) for p in service.get("spec", {}).get("ports", [])]


def test_a_service_port_changed_by_hand_is_restored_with_its_node_port_and_the_other_children_converge(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    _, operator = operator_running(control_plane, namespace, install_operator)
    service = {"type": "NodePort", "port": 7777}
    control_plane.apply(agentos_body("demo", service=service), namespace)
    wait_ready(control_plane, namespace, "demo")
    before = control_plane.get("service", "demo", namespace)
    assert before is not None
    [(_, _, node_port)] = ports(control_plane, namespace)
    assert node_port > 0

    edit = '[{"op":"replace","path":"/spec/ports/0/port","value":8000}]'
    control_plane.run("patch", "service", "demo", "-n", namespace, "--type=json", "-p", edit)
    control_plane.run("delete", "deployment", "demo", "-n", namespace, "--wait=false")

    eventually(lambda: ports(control_plane, namespace) == [("http", 7777, node_port)], what="the port restored")
    eventually(lambda: control_plane.get("deployment", "demo", namespace), what="the Deployment made again")
    body = wait_settled(control_plane, namespace, "demo")
    assert body["status"]["url"].endswith(":7777")
    after = control_plane.get("service", "demo", namespace)
    assert after is not None and after["spec"]["clusterIP"] == before["spec"]["clusterIP"]
    assert restored_events(control_plane, namespace) == [
        "Restored Service 'demo' (edited by hand: spec.ports[port=8000,protocol=TCP])"
    ]
    # The ports are the operator's apply's alone: none left to the hand edit, none to a patch of the operator's.
    owners = [(e["manager"], e["operation"]) for e in managed(control_plane, "service", namespace, "demo")]
    assert owners == [(MANAGER, "Apply")], owners
    assert troubles(operator) == []

    # Nothing of the edit stays behind: the spec's own port change is a plain update.
    control_plane.apply(agentos_body("demo", service={"type": "NodePort", "port": 7778}), namespace)
    eventually(lambda: ports(control_plane, namespace) == [("http", 7778, node_port)], what="the new port")
    wait_settled(control_plane, namespace, "demo")
    assert len(restored_events(control_plane, namespace)) == 1


def test_a_container_port_changed_by_hand_is_restored(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    _, operator = operator_running(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo"), namespace)
    wait_ready(control_plane, namespace, "demo")

    def container_ports() -> list[tuple[str, int]]:
        deployment = control_plane.get("deployment", "demo", namespace) or {}
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        return [(p["name"], p["containerPort"]) for p in container["ports"]]

    rendered = container_ports()
    name, number = rendered[0]
    edit = f'[{{"op":"replace","path":"/spec/template/spec/containers/0/ports/0/containerPort","value":{number + 1}}}]'
    control_plane.run("patch", "deployment", "demo", "-n", namespace, "--type=json", "-p", edit)

    eventually(lambda: container_ports() == rendered, what="the container port restored")
    wait_settled(control_plane, namespace, "demo")
    expected = f"spec.template.spec.containers[name=agentos].ports[containerPort={number + 1},protocol=TCP]"
    assert restored_events(control_plane, namespace) == [f"Restored Deployment 'demo' (edited by hand: {expected})"]
    assert troubles(operator) == []


def test_a_claim_class_changed_in_the_spec_is_named_at_its_field_and_putting_it_back_clears_it(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator_running(control_plane, namespace, install_operator)
    # No such class exists: the claim stays Pending, as good as bound for what may change in it.
    control_plane.apply(agentos_body("demo", persistence={"storageClassName": "fast"}), namespace)
    eventually(lambda: control_plane.get("persistentvolumeclaim", "demo-data", namespace), what="the claim")
    eventually(lambda: control_plane.get("deployment", "demo", namespace), what="the Deployment")

    control_plane.apply(agentos_body("demo", persistence={"storageClassName": "slow"}), namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", reason="ChildRejected")
    message = ready["message"]
    assert "@@" not in message and "StorageClassName" not in message, message
    assert (
        "fix spec.persistence.storageClassName: a claim's class cannot change once made: PersistentVolumeClaim"
        " 'demo-data' has 'fast': put 'fast' back, or delete PersistentVolumeClaim 'demo-data' (its data with it)"
        " to have it made again"
    ) in message, message
    claim = control_plane.get("persistentvolumeclaim", "demo-data", namespace)
    assert claim is not None and claim["spec"]["storageClassName"] == "fast"

    control_plane.apply(agentos_body("demo", persistence={"storageClassName": "fast"}), namespace)
    eventually(
        lambda: (
            condition(control_plane.get("agentosconfig", "demo", namespace), "Ready").get("reason")
            not in (None, "ChildRejected")
        ),
        what="the refusal cleared",
    )


def test_a_class_set_on_a_bound_claim_made_without_one_is_refused_before_any_write(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator_running(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo"), namespace)
    wait_ready(control_plane, namespace, "demo")  # bound to one of the pool's volumes, no class

    # The API server would take it (a class may be given to a claim with none), then never let it go.
    control_plane.apply(agentos_body("demo", persistence={"storageClassName": "fsat"}), namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", reason="ChildRejected")
    assert (
        "spec.persistence.storageClassName: PersistentVolumeClaim 'demo-data' was made without a class"
        in (ready["message"])
    ), ready["message"]
    claim = control_plane.get("persistentvolumeclaim", "demo-data", namespace)
    assert claim is not None and claim["spec"].get("storageClassName") is None

    control_plane.apply(agentos_body("demo"), namespace)
    wait_ready(control_plane, namespace, "demo")


def test_a_claim_shrunk_in_the_spec_is_named_at_spec_persistence_size(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator_running(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo", persistence={"size": "2Gi"}), namespace)
    wait_ready(control_plane, namespace, "demo")  # bound to one of the pool's volumes

    control_plane.apply(agentos_body("demo", persistence={"size": "1Gi"}), namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", reason="ChildRejected")
    assert (
        "fix spec.persistence.size: a claim cannot shrink: PersistentVolumeClaim 'demo-data' requests 2Gi: put 2Gi"
        " back, or delete PersistentVolumeClaim 'demo-data' (its data with it) to have it made again"
    ) in ready["message"], ready["message"]


def test_a_budget_switched_to_min_available_by_hand_is_restored_and_holds_no_other_change_back(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    # The operator's maxUnavailable beside the hand-set minAvailable was refused on every apply,
    # and no child at all was written until the budget was deleted.
    _, operator = operator_running(control_plane, namespace, install_operator, postgres=True)
    control_plane.apply(agentos_body("demo", databases=POSTGRES, replicas=2), namespace)
    wait_ready(control_plane, namespace, "demo")
    edit = '{"spec":{"maxUnavailable":null,"minAvailable":1}}'
    control_plane.run("patch", "pdb", "demo", "-n", namespace, "--type=merge", "-p", edit)
    control_plane.apply(agentos_body("demo", databases=POSTGRES, replicas=3), namespace)

    def budget() -> dict[str, Any]:
        return (control_plane.get("pdb", "demo", namespace) or {}).get("spec") or {}

    eventually(lambda: "minAvailable" not in budget() and budget().get("maxUnavailable") == 1, what="the budget")
    eventually(lambda: (control_plane.get("deployment", "demo", namespace) or {})["spec"]["replicas"] == 3)
    wait_settled(control_plane, namespace, "demo")
    assert restored_events(control_plane, namespace) == [
        "Restored PodDisruptionBudget 'demo' (edited by hand: spec.minAvailable)"
    ]
    assert troubles(operator) == []


def test_a_recreate_strategy_switched_to_rolling_updates_by_hand_is_restored(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    # SQLite on a ReadWriteOnce volume needs Recreate; the rollingUpdate the API server defaults
    # beside a hand-set RollingUpdate was the hand's, and the operator's Recreate was refused.
    _, operator = operator_running(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo"), namespace)
    wait_ready(control_plane, namespace, "demo")
    assert (control_plane.get("deployment", "demo", namespace) or {})["spec"]["strategy"] == {"type": "Recreate"}
    edit = '{"spec":{"strategy":{"type":"RollingUpdate"}}}'
    control_plane.run("patch", "deployment", "demo", "-n", namespace, "--type=merge", "-p", edit)

    def strategy() -> Any:
        return ((control_plane.get("deployment", "demo", namespace) or {}).get("spec") or {}).get("strategy")

    eventually(lambda: strategy() == {"type": "Recreate"}, what="Recreate restored")
    wait_settled(control_plane, namespace, "demo")
    assert restored_events(control_plane, namespace) == [
        "Restored Deployment 'demo' (edited by hand: spec.strategy.rollingUpdate)"
    ]
