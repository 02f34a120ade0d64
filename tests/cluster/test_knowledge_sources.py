"""Knowledge sources from ConfigMaps on a real API server, with the chart's RBAC: a missing
ConfigMap is reported, and its creation resolves it at once; its files are mounted read-only, and
a change of them rolls the pods at once, after which nothing is written again. The operator's
resync and its retry of a resource waiting for a ConfigMap are far beyond the test: what happens
within it was woken by the operator's ConfigMap watch."""

from __future__ import annotations

import json

from tests.cluster.conftest import (
    ControlPlane,
    InstallOperator,
    agentos_body,
    eventually,
    operator_running,
    wait_quiet,
    wait_settled,
    wait_until_condition,
    warnings_about,
)

# No resync, and no retry of a resource waiting for its ConfigMap, within the test.
WATCH_ONLY = {
    "AGENTOS_RESYNC_SECONDS": "3600",
    "AGENTOS_SECRET_RETRY_SECONDS": "600",
    "AGENTOS_ERROR_RETRY_MAX_SECONDS": "600",
}
PROMPTLY = 20.0  # seconds: a watch event and a reconcile or two, on a loaded machine
KNOWLEDGE = {
    "knowledgeBases": [
        {
            "id": "handbook",
            "embedder": {"apiKeySecretRef": {"name": "openai", "key": "api-key"}},
            "sources": [{"configMap": {"name": "handbook", "items": ["leave.md"]}}],
        }
    ]
}


MISSING = "ConfigMap 'handbook' not found (spec.knowledgeBases[0].sources[0].configMap): create it in the resource's namespace"


def pods_hash(cluster: ControlPlane, namespace: str) -> str:
    deployment = cluster.get("deployment", "demo", namespace)
    assert deployment is not None
    return str(deployment["spec"]["template"]["metadata"]["annotations"]["agentos.dev/config-hash"])


def test_a_config_map_source_is_waited_for_and_its_creation_and_change_are_acted_on_at_once(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, operator = operator_running(control_plane, namespace, install_operator, env=WATCH_ONLY)

    control_plane.apply(agentos_body("demo", **KNOWLEDGE), namespace)

    unresolved = wait_until_condition(control_plane, namespace, "ReferencesResolved", status="False")
    assert unresolved["message"] == MISSING
    eventually(lambda: warnings_about(control_plane, namespace, "demo"), what="the Warning event")
    assert warnings_about(control_plane, namespace, "demo") == [("ConfigMapNotFound", MISSING)]
    assert control_plane.get("deployment", "demo", namespace) is None

    files = {"leave.md": "# Leave\nTwenty-five days a year.", "notes.txt": "not listed"}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "handbook"}, "data": files}
    control_plane.apply(config_map, namespace)

    # Nothing is written while the ConfigMap is missing: the Deployment tells it was resolved.
    eventually(lambda: control_plane.get("deployment", "demo", namespace), timeout=PROMPTLY, what="the Deployment")
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

    eventually(lambda: pods_hash(control_plane, namespace) != first, timeout=PROMPTLY, what="the pods rolled")
    assert wait_settled(control_plane, namespace, "demo")["metadata"]["generation"] == 1  # the resource was not edited
    assert installed.refused() == []  # the chart grants the ConfigMap watch
    # The server's defaults on the volume (defaultMode) are no drift: a resync then writes nothing.
    wait_quiet(installed, operator, 1)
