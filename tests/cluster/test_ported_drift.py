"""Level-triggered on a real API server: a child no longer desired is pruned (and only the
operator's own), a setting removed from the spec leaves the child, quantities the server rewrites
are no drift, and a resync of what is converged only lists."""

from __future__ import annotations

from typing import Any

from agentos_operator.watching import CHILD_KINDS

from tests.cluster.conftest import (
    POSTGRES,
    ControlPlane,
    InstallOperator,
    add_secrets,
    agentos_body,
    children_told,
    events_about,
    eventually,
    running_and_ready,
    wait_quiet,
    wait_ready,
    wait_settled,
)

# kwok's fake nodes carry this label: pods selecting it are scheduled and become Ready.
ON_KWOK = {"type": "kwok"}
# What one resync asks for: the AgentOSConfigs, then each kind of children.
LISTS_PER_RESYNC = 1 + len(CHILD_KINDS)


def test_turning_the_network_policy_off_prunes_it_and_says_so(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    running_and_ready(control_plane, namespace, install_operator, networkPolicy={"enabled": True})
    assert control_plane.get("networkpolicy", "demo", namespace) is not None

    control_plane.apply(agentos_body("demo", networkPolicy={"enabled": False}), namespace)

    eventually(lambda: control_plane.get("networkpolicy", "demo", namespace) is None, what="the NetworkPolicy pruned")
    pruned = ("Normal", "Pruned", "Deleted NetworkPolicy 'demo'")
    eventually(
        lambda: (
            pruned in [(e["type"], e["reason"], e["message"]) for e in events_about(control_plane, namespace, "demo")]
        ),
        what="the Pruned event",
    )
    assert control_plane.get("deployment", "demo", namespace) is not None
    wait_settled(control_plane, namespace, "demo")


def test_turning_autoscaling_off_prunes_the_autoscaler_and_the_disruption_budget(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    install_operator(namespace).start()
    add_secrets(control_plane, namespace, postgres=True)
    autoscaling = {"enabled": True, "minReplicas": 2, "maxReplicas": 4}
    control_plane.apply(agentos_body("demo", databases=POSTGRES, autoscaling=autoscaling), namespace)
    wait_ready(control_plane, namespace, "demo")
    assert control_plane.get("hpa", "demo", namespace) is not None
    assert control_plane.get("pdb", "demo", namespace) is not None

    control_plane.apply(agentos_body("demo", databases=POSTGRES, autoscaling={"enabled": False}), namespace)

    eventually(
        lambda: (
            control_plane.get("hpa", "demo", namespace) is None and control_plane.get("pdb", "demo", namespace) is None
        ),
        what="the HorizontalPodAutoscaler and the PodDisruptionBudget pruned",
    )
    eventually(
        lambda: (
            {"HorizontalPodAutoscaler 'demo'", "PodDisruptionBudget 'demo'"}
            <= set(children_told(control_plane, namespace, "demo", "Pruned"))
        ),
        what="the Pruned event naming both",
    )
    # The Deployment is the operator's to scale again: back to the default of one pod.
    eventually(
        lambda: (control_plane.get("deployment", "demo", namespace) or {}).get("spec", {}).get("replicas") == 1,
        what="the Deployment scaled back to one",
    )
    wait_settled(control_plane, namespace, "demo")


def test_lookalike_objects_not_owned_by_the_resource_are_never_pruned(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    add_secrets(control_plane, namespace)
    labels = {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/managed-by": "agentos-operator"}
    stranger: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "demo-extra", "labels": labels},
        "data": {"mine": "yes"},
    }
    control_plane.apply(stranger, namespace)
    operator = install_operator(namespace).start()
    control_plane.apply(agentos_body("demo", networkPolicy={"enabled": True}), namespace)
    wait_ready(control_plane, namespace, "demo")

    # A prune pass: the NetworkPolicy goes, the look-alike, labelled as a child but owned by no one, stays.
    control_plane.apply(agentos_body("demo", networkPolicy={"enabled": False}), namespace)
    eventually(lambda: control_plane.get("networkpolicy", "demo", namespace) is None, what="a prune")
    operator.resynced(1)

    left = control_plane.get("configmap", "demo-extra", namespace)
    assert left is not None and left["data"] == {"mine": "yes"}
    assert "ConfigMap 'demo-extra'" not in children_told(control_plane, namespace, "demo", "Pruned")


def test_a_setting_removed_from_the_spec_is_removed_from_the_child(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    install_operator(namespace).start()
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo", nodeSelector=ON_KWOK), namespace)
    before = wait_settled(control_plane, namespace, "demo")

    def node_selector() -> object:
        deployment = control_plane.get("deployment", "demo", namespace) or {}
        return deployment["spec"]["template"]["spec"].get("nodeSelector")

    assert node_selector() == ON_KWOK

    control_plane.apply(agentos_body("demo"), namespace)  # the applier no longer sets it

    eventually(lambda: node_selector() is None, what="the nodeSelector gone")
    after = wait_settled(control_plane, namespace, "demo")
    assert after["status"]["configHash"] == before["status"]["configHash"]  # not a config change


def test_a_resync_of_an_unchanged_resource_writes_nothing_and_only_lists(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    operator = installed.start()
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)
    wait_ready(control_plane, namespace, "demo")

    wait_quiet(installed, operator, 1)
    mark = control_plane.audit_mark()

    for _ in range(5):
        operator.resynced(1)

    asked = [r for r in control_plane.requests(installed.user, mark) if r["verb"] != "watch"]
    assert installed.writes(mark) == []
    # The watches told the operator everything: each resync only lists each kind once to check them.
    assert {r["verb"] for r in asked} == {"list"}, [f"{r['verb']} {r['requestURI']}" for r in asked]
    assert len(asked) <= 5 * LISTS_PER_RESYNC


def test_quantities_the_server_rewrites_cause_no_write_on_resync(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    operator = installed.start()
    add_secrets(control_plane, namespace)
    # A resource list's amounts are rounded up to a whole milli unit: 0.5000001 CPU is "501m".
    resources = {"requests": {"cpu": "0.5000001", "memory": "0.125Gi"}, "limits": {"memory": "1024Mi"}}
    control_plane.apply(agentos_body("demo", resources=resources, persistence={"size": "0.5Gi"}), namespace)
    wait_ready(control_plane, namespace, "demo")
    deployment = control_plane.get("deployment", "demo", namespace)
    assert deployment is not None
    stored = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert stored == {"requests": {"cpu": "501m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}}
    claim = control_plane.get("persistentvolumeclaim", "demo-data", namespace)
    assert claim is not None and claim["spec"]["resources"]["requests"]["storage"] == "512Mi"

    wait_quiet(installed, operator, 1)
    mark = control_plane.audit_mark()

    for _ in range(3):
        operator.resynced(1)

    assert [f"{w['verb']} {w['requestURI']}" for w in installed.writes(mark)] == []


def test_an_env_variable_another_manager_set_is_left_and_costs_no_write_on_resync(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    # kubectl set env (a debugging step): server-side apply keeps the other manager's variable,
    # so it was drift forever, re-applied with an "Updated" event on every resync.
    installed = install_operator(namespace)
    operator = installed.start()
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)
    wait_settled(control_plane, namespace, "demo")
    control_plane.run("set", "env", "deployment/demo", "-n", namespace, "DEBUG_ME=1")
    wait_quiet(installed, operator, 1)
    mark = control_plane.audit_mark()

    for _ in range(3):
        operator.resynced(1)

    # The variable rolls the pods, so the status may move (RolloutInProgress, then Available);
    # the Deployment itself is never written again.
    written = [f"{w['verb']} {w['requestURI']}" for w in installed.writes(mark)]
    status_or_event = ("/agentosconfigs/demo/status", "/events")
    assert [w for w in written if not w.split("?")[0].endswith(status_or_event)] == []
    assert "Deployment 'demo'" not in children_told(control_plane, namespace, "demo", "Updated")
    deployment = control_plane.get("deployment", "demo", namespace)
    assert deployment is not None
    assert {"name": "DEBUG_ME", "value": "1"} in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
