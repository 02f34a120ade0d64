"""Knowledge sources from ConfigMaps on a real API server, with the chart's RBAC: a missing
ConfigMap is reported and waited for, its files are mounted read-only once it exists, and a
change of them rolls the pods at the next resync, after which nothing is written again."""

from __future__ import annotations

import json
from typing import Any

from tests.cluster.conftest import (
    ControlPlane,
    InstallOperator,
    add_secrets,
    agentos_body,
    condition,
    eventually,
    wait_quiet,
    wait_settled,
    warnings_about,
)

KNOWLEDGE = {
    "knowledgeBases": [
        {
            "id": "handbook",
            "embedder": {"apiKeySecretRef": {"name": "openai", "key": "api-key"}},
            "sources": [{"configMap": {"name": "handbook", "items": ["leave.md"]}}],
        }
    ]
}


def pods_hash(cluster: ControlPlane, namespace: str) -> str:
    deployment = cluster.get("deployment", "demo", namespace)
    assert deployment is not None
    return str(deployment["spec"]["template"]["metadata"]["annotations"]["agentos.dev/config-hash"])


def test_a_config_map_source_is_waited_for_mounted_and_its_change_rolls_the_pods(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    operator = installed.start()
    add_secrets(control_plane, namespace)

    control_plane.apply(agentos_body("demo", **KNOWLEDGE), namespace)

    def unresolved() -> dict[str, Any]:
        found = condition(control_plane.get("agentosconfig", "demo", namespace), "ReferencesResolved")
        return found if found.get("status") == "False" else {}

    assert eventually(unresolved, what="ReferencesResolved False")["message"] == "ConfigMap 'handbook' not found"
    eventually(lambda: warnings_about(control_plane, namespace, "demo"), what="the Warning event")
    assert warnings_about(control_plane, namespace, "demo") == [("ConfigMapNotFound", "ConfigMap 'handbook' not found")]
    assert control_plane.get("deployment", "demo", namespace) is None

    files = {"leave.md": "# Leave\nTwenty-five days a year.", "notes.txt": "not listed"}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "handbook"}, "data": files}
    control_plane.apply(config_map, namespace)

    wait_settled(control_plane, namespace, "demo")
    pod = control_plane.get("deployment", "demo", namespace)
    assert pod is not None
    spec = pod["spec"]["template"]["spec"]
    assert {
        "name": "knowledge-0-0",
        "configMap": {"name": "handbook", "items": [{"key": "leave.md", "path": "leave.md"}], "defaultMode": 420},
    } in spec["volumes"]
    mount = {"name": "knowledge-0-0", "mountPath": "/var/lib/agentos/knowledge/handbook/0", "readOnly": True}
    assert mount in spec["containers"][0]["volumeMounts"]
    first = pods_hash(control_plane, namespace)

    edited = {"data": {"leave.md": "# Leave\nThirty days a year."}}
    control_plane.run("patch", "configmap", "handbook", "-n", namespace, "--type=merge", "-p", json.dumps(edited))
    operator.resync()

    eventually(lambda: pods_hash(control_plane, namespace) != first, what="the pods rolled")
    wait_settled(control_plane, namespace, "demo")
    # The server's defaults on the volume (defaultMode) are no drift: a resync then writes nothing.
    wait_quiet(installed, operator, 1)
