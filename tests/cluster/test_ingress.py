"""spec.ingress on a real control plane: the Ingress is made as asked and the API server's own
Ingress validation accepts it, the status tells its URL, another client's edit of what the
operator sets is put back while an annotation another controller adds stays, turning it off or
removing the block prunes it, and resyncs write nothing once it is converged. A host the Ingress
could not take is refused at admission by the CRD's rules, before any child is written."""

from __future__ import annotations

import json
from typing import Any

from tests.cluster.conftest import (
    ControlPlane,
    InstallOperator,
    agentos_body,
    children_told,
    eventually,
    operator_running,
    wait_quiet,
    wait_settled,
)

HOST = "agents.example.com"
ASKED = {
    "enabled": True,
    "host": HOST,
    "path": "/agentos",
    "className": "nginx",
    "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "300"},
    "tls": {"secretName": "agents-tls"},
}


def ingress_of(control_plane: ControlPlane, namespace: str) -> dict[str, Any] | None:
    return control_plane.get("ingress", "demo", namespace)


def status_of(control_plane: ControlPlane, namespace: str) -> dict[str, Any]:
    return (control_plane.get("agentosconfig", "demo", namespace) or {}).get("status") or {}


def routed(ingress: dict[str, Any]) -> tuple[str, str, str, dict[str, Any]]:
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    return rule["host"], path["path"], path["pathType"], path["backend"]


def test_an_ingress_is_made_as_asked_kept_so_and_pruned_when_turned_off(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, operator = operator_running(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo", ingress=ASKED), namespace)
    body = wait_settled(control_plane, namespace, "demo", timeout=120)

    ingress = ingress_of(control_plane, namespace)
    assert ingress is not None
    backend = {"service": {"name": "demo", "port": {"name": "http"}}}
    assert routed(ingress) == (HOST, "/agentos", "Prefix", backend)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": [HOST], "secretName": "agents-tls"}]
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "300"
    [owner] = ingress["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("AgentOSConfig", body["metadata"]["uid"], True)
    service = control_plane.get("service", "demo", namespace) or {}
    assert [port["name"] for port in service["spec"]["ports"]] == ["http"], "the backend names the Service's port"
    assert body["status"]["ingressUrl"] == f"https://{HOST}/agentos"
    assert body["status"]["url"] == f"http://demo.{namespace}.svc:7777", "the in-cluster URL as before"
    wide = control_plane.run("get", "agentosconfig", "demo", "-n", namespace, "-o", "wide").stdout
    narrow = control_plane.run("get", "agentosconfig", "demo", "-n", namespace).stdout
    assert f"https://{HOST}/agentos" in wide and HOST not in narrow
    wait_quiet(installed, operator, 1)

    # Another client moves the host and the backend, and an ingress controller adds an annotation.
    edit = [
        {"op": "replace", "path": "/spec/rules/0/host", "value": "elsewhere.example.com"},
        {"op": "replace", "path": "/spec/rules/0/http/paths/0/backend/service/name", "value": "other"},
        {"op": "add", "path": "/metadata/annotations/controller.example~1synced", "value": "yes"},
    ]
    control_plane.run("patch", "ingress", "demo", "-n", namespace, "--type=json", "-p", json.dumps(edit))
    eventually(
        lambda: routed(ingress_of(control_plane, namespace) or {"spec": {}}) == (HOST, "/agentos", "Prefix", backend),
        timeout=60,
        what="the host and backend put back",
    )
    annotations = (ingress_of(control_plane, namespace) or {})["metadata"]["annotations"]
    assert annotations["controller.example/synced"] == "yes", "another controller's annotation stays"
    wait_quiet(installed, operator, 1)

    # Plain HTTP without tls: the TLS section goes (server-side apply drops what is no longer asked).
    plain = {key: value for key, value in ASKED.items() if key != "tls"}
    control_plane.apply(agentos_body("demo", ingress=plain), namespace)
    eventually(
        lambda: "tls" not in (ingress_of(control_plane, namespace) or {"spec": {"tls": []}})["spec"],
        timeout=60,
        what="the TLS section gone",
    )
    eventually(
        lambda: status_of(control_plane, namespace).get("ingressUrl") == f"http://{HOST}/agentos",
        timeout=60,
        what="the http URL in the status",
    )

    control_plane.apply(agentos_body("demo", ingress={**plain, "enabled": False}), namespace)
    eventually(lambda: ingress_of(control_plane, namespace) is None, timeout=60, what="the Ingress pruned")
    eventually(
        lambda: "Ingress 'demo'" in children_told(control_plane, namespace, "demo", "Pruned"),
        what="the Pruned event",
    )
    body = wait_settled(control_plane, namespace, "demo", timeout=60)
    assert "ingressUrl" not in body["status"] and body["status"]["url"] == f"http://demo.{namespace}.svc:7777"
    wait_quiet(installed, operator, 1)
    assert installed.refused() == [], "the chart grants all the operator does to Ingresses"


def test_removing_the_block_prunes_the_ingress_and_a_host_it_could_not_take_is_refused_at_admission(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, operator = operator_running(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo", ingress={"enabled": True, "host": HOST}), namespace)
    body = wait_settled(control_plane, namespace, "demo", timeout=120)
    assert routed(ingress_of(control_plane, namespace) or {})[:3] == (HOST, "/", "Prefix")
    assert body["status"]["ingressUrl"] == f"http://{HOST}/"

    refused = control_plane.run(
        "apply",
        "--server-side",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(agentos_body("demo", ingress={"enabled": True, "host": "10.0.0.1"})),
        check=False,
    )
    assert refused.returncode != 0
    assert "spec.ingress.host" in refused.stderr and "must be a DNS name" in refused.stderr, refused.stderr
    refused = control_plane.run(
        "apply",
        "--server-side",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(agentos_body("demo", ingress={"enabled": True})),
        check=False,
    )
    assert refused.returncode != 0 and "an enabled ingress needs host" in refused.stderr, refused.stderr
    assert routed(ingress_of(control_plane, namespace) or {})[0] == HOST, "the Ingress as it was"

    control_plane.apply(agentos_body("demo"), namespace)
    eventually(lambda: ingress_of(control_plane, namespace) is None, timeout=60, what="the Ingress pruned")
    eventually(
        lambda: "ingressUrl" not in status_of(control_plane, namespace),
        timeout=60,
        what="the ingress URL gone from the status",
    )
    wait_quiet(installed, operator, 1)
