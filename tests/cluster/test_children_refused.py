"""A child the cluster refuses, on a real control plane: the real ResourceQuota admission
refuses the Service in the dry runs every write waits for, so no child is written at all, the
status names the Service in Kubernetes' words, and raising the quota brings the whole resource
without an edit. The Service is written alongside the other children, never before their dry
runs passed."""

from __future__ import annotations

from tests.cluster.conftest import (
    ControlPlane,
    InstallOperator,
    agentos_body,
    condition,
    eventually,
    operator_running,
    wait_ready,
    wait_until_condition,
    warnings_about,
)

QUOTA = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "service-budget"},
    "spec": {"hard": {"services": "0"}},
}
CHILD_KINDS = ("configmaps", "secrets", "persistentvolumeclaims", "services", "deployments")


def test_a_service_over_a_quota_stops_every_write_and_the_quota_raised_brings_the_resource(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    control_plane.apply(QUOTA, namespace)
    eventually(
        lambda: (control_plane.get("resourcequota", "service-budget", namespace) or {}).get("status", {}).get("hard")
    )
    operator_running(control_plane, namespace, install_operator)

    control_plane.apply(agentos_body("demo"), namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", reason="ChildRejected", timeout=120)
    assert ready["status"] == "False"
    assert "the API server refuses Service 'demo'" in ready["message"], ready["message"]
    assert "exceeded quota: service-budget" in ready["message"], ready["message"]
    for kind in CHILD_KINDS:
        assert control_plane.items(kind, namespace, "-l", "app.kubernetes.io/instance=demo") == [], kind
    assert control_plane.get("secret", "demo-security-key", namespace) is None
    eventually(
        lambda: [w for w in warnings_about(control_plane, namespace, "demo") if w[0] == "ChildRejected"],
        timeout=60,
        what="the ChildRejected Warning",
    )

    control_plane.run(
        "patch", "resourcequota", "service-budget", "-n", namespace, "-p", '{"spec":{"hard":{"services":"1"}}}'
    )

    body = wait_ready(control_plane, namespace, "demo", timeout="300s")
    assert condition(body, "Ready")["reason"] == "Available"
    assert body["metadata"]["generation"] == 1, "no edit of the resource was needed"
    service = control_plane.get("service", "demo", namespace)
    assert service is not None and service["spec"].get("clusterIP") not in (None, "", "None")


def test_every_child_a_quota_refuses_is_named_at_once_with_the_quota_to_raise(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    """The namespace's ConfigMap taken (Kubernetes' own kube-root-ca.crt) and too little storage
    for the 1Gi claim: one message names both children and the quota, with what to raise."""
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q"},
        "spec": {"hard": {"count/configmaps": "1", "requests.storage": "500Mi"}},
    }
    control_plane.apply(quota, namespace)
    eventually(
        lambda: (
            (control_plane.get("resourcequota", "q", namespace) or {})
            .get("status", {})
            .get("used", {})
            .get("count/configmaps")
            == "1"
        ),
        what="the quota counting kube-root-ca.crt",
    )
    operator_running(control_plane, namespace, install_operator)

    control_plane.apply(agentos_body("demo"), namespace)

    message = wait_until_condition(control_plane, namespace, "Ready", reason="ChildRejected", timeout=30)["message"]
    assert (
        "the API server refuses ConfigMap 'demo-config': configmaps \"demo-config\" is forbidden: exceeded quota: q"
        in (message)
    ), message
    assert (
        "the API server refuses PersistentVolumeClaim 'demo-data': persistentvolumeclaims \"demo-data\" is forbidden: exceeded quota: q"
        in (message)
    ), message
    assert message.count("raise the namespace's ResourceQuota 'q' (kubectl describe resourcequota q)") == 2, message
    assert "or lower spec.persistence.size" in message and "fix the spec" not in message, message
    for kind in CHILD_KINDS:
        assert control_plane.items(kind, namespace, "-l", "app.kubernetes.io/instance=demo") == [], kind
