"""An AgentOSConfig's whole life on a real control plane, driven by the real operator process:
Ready because its Deployment really becomes Available, drift restored, rotation rolled out,
children collected by the garbage collector, scaled by kubectl, left to its autoscaler."""

from __future__ import annotations

import json
from typing import Any

from tests.cluster.conftest import (
    POSTGRES,
    ControlPlane,
    InstallOperator,
    agentos_body,
    condition,
    create_secret,
    events_about,
    eventually,
    operator_running,
    running_and_ready,
    wait_ready,
)


def deployment(cluster: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    found = cluster.get("deployment", name, namespace)
    assert found is not None, f"no Deployment {namespace}/{name}"
    return found


def available(cluster: ControlPlane, namespace: str, name: str, replicas: int) -> bool:
    status = (cluster.get("deployment", name, namespace) or {}).get("status") or {}
    return status.get("availableReplicas") == replicas and status.get("updatedReplicas") == replicas


def test_a_resource_is_ready_once_its_deployment_is_really_available(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, operator = operator_running(control_plane, namespace, install_operator)

    control_plane.apply(agentos_body("demo"), namespace)

    body = wait_ready(control_plane, namespace, "demo", timeout="20s")
    assert condition(body, "Ready")["reason"] == "Available"
    live = deployment(control_plane, namespace, "demo")
    assert live["status"]["availableReplicas"] == 1
    pods = control_plane.items("pods", namespace, "-l", "app.kubernetes.io/instance=demo")
    assert [p["status"]["phase"] for p in pods] == ["Running"]
    assert pods[0]["spec"]["nodeName"].startswith("kwok-node-")
    assert body["status"]["url"] == f"http://demo.{namespace}.svc:7777"
    for kind, name in [("configmap", "demo-config"), ("secret", "demo-env"), ("service", "demo")]:
        assert control_plane.get(kind, name, namespace) is not None, kind
    assert operator.alive()
    # The chart's namespaced grants are enough: the API server refused the operator nothing.
    assert installed.refused() == []


def test_kubectl_get_shows_the_printer_columns(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    running_and_ready(control_plane, namespace, install_operator)

    table = control_plane.run("get", "agentosconfigs", "-n", namespace).stdout.splitlines()
    short = control_plane.run("get", "aos", "-n", namespace, "-o", "name").stdout.split()

    assert table[0].split() == ["NAME", "READY", "REASON", "REPLICAS", "URL", "AGE"]
    row = table[1].split()
    assert row[:5] == ["demo", "True", "Available", "1", f"http://demo.{namespace}.svc:7777"]
    assert short == ["agentosconfig.agentos.dev/demo"]


def test_kubectl_explain_shows_the_descriptions(control_plane: ControlPlane) -> None:
    agents = control_plane.run("explain", "agentosconfig.spec.agents").stdout
    status = control_plane.run("explain", "agentosconfig.status.conditions").stdout

    assert "GROUP:      agentos.dev" in agents
    assert "instructions" in agents and "<[]Object>" in agents
    assert "DESCRIPTION:" in agents and len(agents.split("DESCRIPTION:")[1].strip()) > 20
    assert "reason" in status and "lastTransitionTime" in status


def test_a_deleted_or_hand_edited_child_is_restored(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    running_and_ready(control_plane, namespace, install_operator)
    config_map = control_plane.get("configmap", "demo-config", namespace)
    assert config_map is not None

    control_plane.run("delete", "configmap", "demo-config", "-n", namespace)
    control_plane.run(
        "patch", "deployment", "demo", "-n", namespace, "--type=json",
        "-p", json.dumps([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "evil:1"}]),
    )  # fmt: skip

    restored = eventually(
        lambda: control_plane.get("configmap", "demo-config", namespace), what="the ConfigMap restored"
    )
    assert restored["metadata"]["uid"] != config_map["metadata"]["uid"]
    assert restored["data"] == config_map["data"]
    eventually(
        lambda: (
            deployment(control_plane, namespace, "demo")["spec"]["template"]["spec"]["containers"][0]["image"]
            != "evil:1"
        ),
        what="the image restored",
    )
    wait_ready(control_plane, namespace, "demo")


def test_keys_added_by_hand_to_the_env_secret_and_the_config_map_are_removed(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    running_and_ready(control_plane, namespace, install_operator)
    env_keys = set(control_plane.get("secret", "demo-env", namespace)["data"])  # type: ignore[index]

    control_plane.run(
        "patch", "secret", "demo-env", "-n", namespace, "--type=merge",
        "-p", json.dumps({"stringData": {"OPENAI_BASE_URL": "http://elsewhere.example"}}),
    )  # fmt: skip
    control_plane.run(
        "patch", "configmap", "demo-config", "-n", namespace, "--type=merge", "-p", '{"data": {"extra.yaml": "x"}}'
    )

    def keys(kind: str, name: str) -> set[str]:
        return set((control_plane.get(kind, name, namespace) or {}).get("data") or {})

    eventually(lambda: keys("secret", "demo-env") == env_keys, what="the env Secret's keys as the operator wrote them")
    eventually(lambda: "extra.yaml" not in keys("configmap", "demo-config"), what="the ConfigMap's extra key gone")
    assert keys("configmap", "demo-config")  # its own keys stay


def test_a_rotated_secret_rolls_the_pods(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    running_and_ready(control_plane, namespace, install_operator)
    before = {p["metadata"]["name"] for p in control_plane.items("pods", namespace)}
    hash_before = deployment(control_plane, namespace, "demo")["spec"]["template"]["metadata"]["annotations"]

    control_plane.run(
        "patch", "secret", "openai", "-n", namespace, "--type=merge",
        "-p", json.dumps({"stringData": {"api-key": "sk-test-2"}}),
    )  # fmt: skip

    def rolled() -> bool:
        template = deployment(control_plane, namespace, "demo")["spec"]["template"]["metadata"]["annotations"]
        return template != hash_before and available(control_plane, namespace, "demo", 1)

    eventually(rolled, what="a new rollout")
    eventually(
        lambda: {p["metadata"]["name"] for p in control_plane.items("pods", namespace)}.isdisjoint(before),
        what="the old pods replaced",
    )
    wait_ready(control_plane, namespace, "demo")


def test_deleting_the_resource_lets_the_garbage_collector_remove_every_child(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator_running(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo", databases=POSTGRES), namespace)
    create_secret(control_plane, namespace, "pg", uri="postgresql://u:p@db:5432/app")
    wait_ready(control_plane, namespace, "demo")

    control_plane.run("delete", "agentosconfig", "demo", "-n", namespace, "--timeout=30s")

    def children() -> list[str]:
        found = []
        for kind in ("configmaps", "secrets", "services", "deployments", "replicasets", "pods"):
            for item in control_plane.items(kind, namespace, "-l", "app.kubernetes.io/instance=demo"):
                found.append(f"{kind}/{item['metadata']['name']}")
        return found

    eventually(lambda: not children(), timeout=60, what="every child collected")
    assert control_plane.get("secret", "openai", namespace) is not None, "a referenced Secret is not a child"


def controller_of(cluster: ControlPlane, kind: str, name: str, namespace: str) -> str | None:
    found = cluster.get(kind, name, namespace) or {}
    refs = found.get("metadata", {}).get("ownerReferences") or []
    return next((ref["uid"] for ref in refs if ref.get("controller")), None)


def test_children_orphaned_by_a_deletion_that_the_operator_may_not_adopt_are_named_with_the_fix(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    running_and_ready(control_plane, namespace, install_operator)
    control_plane.run("delete", "agentosconfig", "demo", "-n", namespace, "--cascade=orphan", "--timeout=30s")
    orphaned = (("pvc", "demo-data"), ("secret", "demo-env"), ("secret", "demo-security-key"))
    eventually(
        lambda: all(controller_of(control_plane, kind, name, namespace) is None for kind, name in orphaned),
        what="children orphaned (the garbage collector drops the owner of each in turn)",
    )

    control_plane.apply(agentos_body("demo"), namespace)

    orphans = "Secret 'demo-env', PersistentVolumeClaim 'demo-data', Secret 'demo-security-key'"

    def conflict() -> dict[str, Any] | None:
        # Until the operator's watch has seen each owner dropped, a child may still read as the
        # old resource's: a ChildConflict naming that one child, retried.
        body = control_plane.get("agentosconfig", "demo", namespace)
        ready = condition(body, "Ready")
        named = ready.get("reason") == "ChildConflict" and orphans in ready.get("message", "")
        return body if named else None

    body = eventually(conflict, what="the orphans reported as a conflict")
    message = condition(body, "Ready")["message"]
    assert f"{orphans} are labelled as this AgentOSConfig's" in message
    assert f"uid {body['metadata']['uid']}" in message
    assert "fix the spec" not in message
    # A person does as the message says: this AgentOSConfig becomes their controller, and the claim keeps its data.
    owner = {"apiVersion": "agentos.dev/v1alpha1", "kind": "AgentOSConfig", "name": "demo"}
    owner |= {"uid": body["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    for kind, name in (("secret", "demo-env"), ("pvc", "demo-data"), ("secret", "demo-security-key")):
        patch = json.dumps({"metadata": {"ownerReferences": [owner]}})
        control_plane.run("patch", kind, name, "-n", namespace, "--type=merge", "-p", patch)
    wait_ready(control_plane, namespace, "demo")
    for kind, name in (("deployment", "demo"), ("configmap", "demo-config"), ("service", "demo")):
        assert controller_of(control_plane, kind, name, namespace) == body["metadata"]["uid"], f"{kind}/{name}"
    # Owned again, the key goes with the resource: none is left behind.
    control_plane.run("delete", "agentosconfig", "demo", "-n", namespace, "--timeout=30s")
    eventually(lambda: control_plane.get("secret", "demo-security-key", namespace) is None, what="the key collected")


def test_kubectl_scale_scales_through_the_scale_subresource(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    running_and_ready(control_plane, namespace, install_operator, postgres=True, databases=POSTGRES)

    control_plane.run("scale", "agentosconfig/demo", "-n", namespace, "--replicas=3")

    eventually(lambda: available(control_plane, namespace, "demo", 3), timeout=60, what="3 available pods")
    scale = json.loads(
        control_plane.run("get", "agentosconfig", "demo", "-n", namespace, "--subresource=scale", "-o", "json").stdout
    )
    eventually(
        lambda: (control_plane.get("agentosconfig", "demo", namespace) or {}).get("status", {}).get("replicas") == 3,
        what="status.replicas 3",
    )
    assert scale["spec"]["replicas"] == 3
    assert (
        "app.kubernetes.io/instance=demo"
        in (control_plane.get("agentosconfig", "demo", namespace) or {})["status"]["selector"]
    )


def test_a_deployment_scaled_by_hand_is_put_back_without_ready_moving_or_a_new_available_event(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    _, body = running_and_ready(control_plane, namespace, install_operator)
    was_ready = condition(body, "Ready")

    control_plane.run("scale", "deploy", "demo", "-n", namespace, "--replicas=3")

    eventually(lambda: deployment(control_plane, namespace, "demo")["spec"]["replicas"] == 1, what="put back")
    eventually(lambda: available(control_plane, namespace, "demo", 1), timeout=60, what="1 available pod")
    eventually(
        lambda: (
            condition(control_plane.get("agentosconfig", "demo", namespace), "Ready")["message"] == "1 of 1 pods ready"
        ),
        what="the status after the scale down",
    )
    ready = condition(control_plane.get("agentosconfig", "demo", namespace), "Ready")
    assert (ready["status"], ready["lastTransitionTime"]) == ("True", was_ready["lastTransitionTime"])
    available_events = [
        event["message"] for event in events_about(control_plane, namespace, "demo") if event["reason"] == "Available"
    ]
    assert available_events == ["1 of 1 pods ready"]


def test_an_autoscaler_and_the_operator_do_not_fight_over_replicas(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, operator = operator_running(control_plane, namespace, install_operator, postgres=True)
    autoscaled = agentos_body(
        "demo", databases=POSTGRES, autoscaling={"enabled": True, "minReplicas": 2, "maxReplicas": 4}
    )
    control_plane.apply(autoscaled, namespace)

    # The HorizontalPodAutoscaler controller raises the Deployment to minReplicas (no metrics needed).
    eventually(lambda: available(control_plane, namespace, "demo", 2), timeout=90, what="the autoscaler's 2 pods")
    wait_ready(control_plane, namespace, "demo")
    mark = control_plane.audit_mark()
    reconciled = operator.reconciles()
    operator.resync()
    eventually(lambda: operator.reconciles() > reconciled, what="a resync")

    assert deployment(control_plane, namespace, "demo")["spec"]["replicas"] == 2
    assert [w for w in installed.writes(mark) if w["objectRef"]["resource"] == "deployments"] == []


def test_autoscaling_turned_on_keeps_the_pods_running_until_the_autoscaler_decides(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    # The operator's apply stopped setting spec.replicas: the API server set it back to 1 at once,
    # killing two of three serving pods before the autoscaler acted.
    _, operator = operator_running(control_plane, namespace, install_operator, postgres=True)
    control_plane.apply(agentos_body("demo", databases=POSTGRES, replicas=3), namespace)
    eventually(lambda: available(control_plane, namespace, "demo", 3), timeout=90, what="3 pods")
    wait_ready(control_plane, namespace, "demo")
    pods_before = pod_names(control_plane, namespace)
    reconciled = operator.reconciles()

    autoscaled = agentos_body(
        "demo", databases=POSTGRES, autoscaling={"enabled": True, "minReplicas": 1, "maxReplicas": 5}
    )
    control_plane.apply(autoscaled, namespace)
    eventually(lambda: control_plane.get("hpa", "demo", namespace), what="the autoscaler")
    eventually(lambda: operator.reconciles() > reconciled, what="the reconcile of the change")
    wait_ready(control_plane, namespace, "demo")

    assert deployment(control_plane, namespace, "demo")["spec"]["replicas"] == 3
    assert pod_names(control_plane, namespace) == pods_before
    found = control_plane.run("get", "deployment", "demo", "-n", namespace, "-o", "json", "--show-managed-fields")
    managers = json.loads(found.stdout)["metadata"]["managedFields"]
    holding = [e["manager"] for e in managers if "f:replicas" in (e.get("fieldsV1") or {}).get("f:spec", {})]
    assert "agentos-operator" not in holding and holding, holding


def pod_names(cluster: ControlPlane, namespace: str) -> list[str]:
    listed = json.loads(cluster.run("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    return sorted(pod["metadata"]["name"] for pod in listed if not pod["metadata"].get("deletionTimestamp"))
