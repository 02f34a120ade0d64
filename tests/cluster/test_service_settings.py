"""The Service settings of the spec on a real control plane: annotations and a LoadBalancer's
source ranges reach the Service; an annotation another controller adds (a cloud's load balancer
controller) stays through the operator's writes, one the resource no longer asks for goes (the
operator applies server-side), and a range the API server refuses is said at the field without a
child written, mended by an edit."""

from __future__ import annotations

import json
from typing import Any

from tests.cluster.conftest import (
    ControlPlane,
    InstallOperator,
    agentos_body,
    condition,
    eventually,
    operator_running,
    wait_settled,
    wait_until_condition,
)

INTERNAL = {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}


def service_of(control_plane: ControlPlane, namespace: str) -> dict[str, Any]:
    return control_plane.get("service", "demo", namespace) or {}


def test_service_annotations_and_source_ranges_reach_the_service_and_anothers_annotation_stays(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator_running(control_plane, namespace, install_operator)
    asked = {"type": "LoadBalancer", "annotations": INTERNAL, "loadBalancerSourceRanges": ["10.0.0.0/8"]}
    control_plane.apply(agentos_body("demo", service=asked), namespace)
    wait_settled(control_plane, namespace, "demo", timeout=120)

    service = service_of(control_plane, namespace)
    assert service["metadata"]["annotations"].items() >= INTERNAL.items()
    assert (service["spec"]["type"], service["spec"]["loadBalancerSourceRanges"]) == ("LoadBalancer", ["10.0.0.0/8"])

    theirs = json.dumps({"metadata": {"annotations": {"cloud.example/lb-id": "lb-123"}}})
    control_plane.run("patch", "service", "demo", "-n", namespace, "--type=merge", "-p", theirs)
    wider = {**asked, "loadBalancerSourceRanges": ["10.0.0.0/8", "192.168.0.0/16"]}
    control_plane.apply(agentos_body("demo", service=wider), namespace)
    eventually(
        lambda: len(service_of(control_plane, namespace)["spec"].get("loadBalancerSourceRanges") or []) == 2,
        timeout=60,
        what="the wider ranges",
    )
    assert service_of(control_plane, namespace)["metadata"]["annotations"]["cloud.example/lb-id"] == "lb-123"

    control_plane.apply(agentos_body("demo", service={"type": "LoadBalancer"}), namespace)
    eventually(
        lambda: not (set(service_of(control_plane, namespace)["metadata"].get("annotations") or {}) & set(INTERNAL)),
        timeout=60,
        what="the annotation the resource no longer asks for, gone",
    )
    service = service_of(control_plane, namespace)
    assert service["metadata"]["annotations"]["cloud.example/lb-id"] == "lb-123", "another's annotation stays"
    assert "loadBalancerSourceRanges" not in service["spec"]


def test_a_source_range_the_api_server_refuses_is_said_and_an_edit_mends_it(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator_running(control_plane, namespace, install_operator)
    control_plane.apply(
        agentos_body("demo", service={"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.1"]}), namespace
    )

    ready = wait_until_condition(control_plane, namespace, "Ready", status="False", timeout=120)
    assert "fix spec.service.loadBalancerSourceRanges[0]: '10.0.0.1' is not a CIDR" in ready["message"], ready[
        "message"
    ]
    assert control_plane.get("service", "demo", namespace) is None
    assert control_plane.get("deployment", "demo", namespace) is None

    control_plane.apply(
        agentos_body("demo", service={"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.1/32"]}), namespace
    )
    body = wait_settled(control_plane, namespace, "demo", timeout=120)
    assert condition(body, "Ready")["reason"] == "Available"
