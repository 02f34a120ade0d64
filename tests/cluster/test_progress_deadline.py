"""A rollout past the real Deployment controller's progress deadline, on a real control plane.

Without ``spec.progressDeadlineSeconds`` the operator renders none, so the API
server's default (600 s) applies, and a value another manager sets on the Deployment (a policy
engine, a platform team's patch) is no drift and stays. The test sets 15 s that way, holds the
pod unready (kwok leaves the status of pods annotated ``kwok.x-k8s.io/status=custom`` to the
test, which writes a failing readiness probe as a kubelet would), and the controller itself says
``ProgressDeadlineExceeded`` when the deadline passes: the status turns Stalled, says the
deadline, and tells each distinct message once; the pod becoming ready clears all of it.
The pure rules are in tests/operator/kopf/test_pod_rules.py and test_conditions.py.
"""

from __future__ import annotations

import json

from tests.cluster.conftest import (
    ControlPlane,
    InstallOperator,
    agentos_body,
    condition,
    eventually,
    operator_running,
    wait_quiet,
    wait_settled,
    wait_until_condition,
    warnings_about,
)
from tests.cluster.test_pods_not_ready import probe_failing, scheduled_pods, write_pod_status
from tests.cluster.test_rollouts import ready_status

DEADLINE_SECONDS = 15
DEADLINE_NOTE = "; the Deployment's progress deadline has passed"


def test_a_pod_unready_past_the_real_progress_deadline_is_stalled_once_and_its_readiness_clears_it(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    # The pods are looked at 5 s after the rollout stops progressing: after the test wrote the
    # pod's failing probe, so that the first cause told is the probe's.
    installed, operator = operator_running(
        control_plane, namespace, install_operator, env={"AGENTOS_PODS_GRACE_SECONDS": "5"}
    )
    control_plane.apply(agentos_body("demo", podAnnotations={"kwok.x-k8s.io/status": "custom"}), namespace)
    eventually(lambda: control_plane.get("deployment", "demo", namespace), timeout=60, what="the Deployment")
    short = json.dumps({"spec": {"progressDeadlineSeconds": DEADLINE_SECONDS}})
    control_plane.run(
        "patch", "deployment", "demo", "-n", namespace, "--type=merge", "--field-manager=platform-policy", "-p", short
    )
    [pod] = eventually(lambda: scheduled_pods(control_plane, namespace), timeout=60, what="the pod, scheduled")
    write_pod_status(control_plane, namespace, pod["metadata"]["name"], probe_failing(pod))

    unready = wait_until_condition(control_plane, namespace, "Ready", reason="PodsNotReady", timeout=60)
    assert not unready["message"].endswith(DEADLINE_NOTE)
    assert condition(control_plane.get("agentosconfig", "demo", namespace), "Stalled")["status"] == "False"

    stalled = wait_until_condition(control_plane, namespace, "Stalled", status="True", timeout=DEADLINE_SECONDS + 60)
    body = control_plane.get("agentosconfig", "demo", namespace)
    ready = condition(body, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodsNotReady")
    assert ready["message"] == unready["message"] + DEADLINE_NOTE
    assert (stalled["reason"], stalled["message"]) == ("PodsNotReady", ready["message"])
    progressing = condition(body, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "PodsNotReady")
    assert condition(body, "Degraded")["status"] == "True"
    deployment = control_plane.get("deployment", "demo", namespace) or {}
    assert deployment["spec"]["progressDeadlineSeconds"] == DEADLINE_SECONDS, "another manager's field stays"
    assert [c["reason"] for c in deployment["status"]["conditions"] if c["type"] == "Progressing"] == [
        "ProgressDeadlineExceeded"
    ], "the real controller said it"

    told = [("PodsNotReady", unready["message"]), ("PodsNotReady", ready["message"])]
    eventually(
        lambda: told[1] in warnings_about(control_plane, namespace, "demo"), timeout=30, what="the Stalled Warning"
    )
    assert sorted(warnings_about(control_plane, namespace, "demo")) == sorted(told), "one per distinct message"
    # Resyncs while it stays stalled write and tell nothing more.
    wait_quiet(installed, operator, 1, timeout=90)
    assert sorted(warnings_about(control_plane, namespace, "demo")) == sorted(told)

    write_pod_status(control_plane, namespace, pod["metadata"]["name"], ready_status(pod))

    body = wait_settled(control_plane, namespace, "demo", timeout=90)
    assert condition(body, "Ready")["reason"] == "Available"
    assert (condition(body, "Stalled")["status"], condition(body, "Degraded")["status"]) == ("False", "False")
    assert condition(body, "Progressing")["status"] == "False", "the rollout is complete"
    assert body["metadata"]["generation"] == 1, "no edit of the resource was needed"
    assert sorted(warnings_about(control_plane, namespace, "demo")) == sorted(told)
    assert installed.refused() == []


def test_the_specs_progress_deadline_is_the_deployments_kept_against_edits_and_given_back_when_removed(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator_running(control_plane, namespace, install_operator)

    def deadline() -> object:
        return ((control_plane.get("deployment", "demo", namespace) or {}).get("spec") or {}).get(
            "progressDeadlineSeconds"
        )

    control_plane.apply(agentos_body("demo", progressDeadlineSeconds=1800), namespace)
    wait_settled(control_plane, namespace, "demo", timeout=90)
    assert deadline() == 1800
    pod_template = (control_plane.get("deployment", "demo", namespace) or {})["spec"]["template"]

    edit = json.dumps({"spec": {"progressDeadlineSeconds": 60}})
    control_plane.run("patch", "deployment", "demo", "-n", namespace, "--type=merge", "-p", edit)
    eventually(lambda: deadline() == 1800, timeout=60, what="the spec's deadline put back")

    control_plane.apply(agentos_body("demo"), namespace)  # the field removed from the resource
    eventually(lambda: deadline() == 600, timeout=60, what="the Deployment back to Kubernetes' default")
    deployment = control_plane.get("deployment", "demo", namespace) or {}
    assert deployment["spec"]["template"] == pod_template, "the pods did not roll for it"
