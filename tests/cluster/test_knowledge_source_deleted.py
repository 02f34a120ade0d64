"""A knowledge source's ConfigMap deleted under a Ready resource, on a real API server with the
chart's RBAC: the deletion reaches the operator by its metadata-only ConfigMap watch (the real
server ends it with a PartialObjectMetadata), the status and a Warning say the ConfigMap is
missing, the running pods are left as they are (nothing is rolled, nothing pruned), and the
ConfigMap made again with the same files resolves it with the same pods. The emulator test:
tests/operator/kopf/test_config_map_watch.py. The resync and the retry of a resource waiting for
its ConfigMap are far beyond the test: what happens within it was woken by the watch."""

from __future__ import annotations

import json
from typing import Any

from tests.cluster.conftest import (
    TROUBLE,
    ControlPlane,
    InstallOperator,
    agentos_body,
    child_versions,
    condition,
    eventually,
    operator_running,
    wait_settled,
    wait_until_condition,
    warnings_about,
)

WATCH_ONLY = {
    "AGENTOS_RESYNC_SECONDS": "3600",
    "AGENTOS_SECRET_RETRY_SECONDS": "600",
    "AGENTOS_ERROR_RETRY_MAX_SECONDS": "600",
}
PROMPTLY = 30.0  # seconds: a watch event and a reconcile or two, on a loaded machine
KNOWLEDGE = {
    "knowledgeBases": [
        {
            "id": "handbook",
            "embedder": {"apiKeySecretRef": {"name": "openai", "key": "api-key"}},
            "sources": [{"configMap": {"name": "handbook", "items": ["leave.md"]}}],
        }
    ]
}
FILES = {"leave.md": "# Leave\nTwenty-five days a year."}
MISSING = "ConfigMap 'handbook' not found (spec.knowledgeBases[0].sources[0].configMap): create it in the resource's namespace"


def handbook(files: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "handbook"}, "data": files}


def deployment_generation(cluster: ControlPlane, namespace: str) -> int:
    deployment = cluster.get("deployment", "demo", namespace)
    assert deployment is not None
    return int(deployment["metadata"]["generation"])


def test_a_deleted_knowledge_config_map_is_reported_the_pods_are_left_and_its_return_heals(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, operator = operator_running(control_plane, namespace, install_operator, env=WATCH_ONLY)
    control_plane.apply(handbook(FILES), namespace)
    control_plane.apply(agentos_body("demo", **KNOWLEDGE), namespace)
    ready = wait_settled(control_plane, namespace, "demo", timeout=90)
    config_hash = ready["status"]["configHash"]
    children = sorted(child_versions(control_plane, namespace, "demo"))
    assert "deployments/demo" in children
    generation = deployment_generation(control_plane, namespace)
    assert warnings_about(control_plane, namespace, "demo") == []
    mark = control_plane.audit_mark()

    control_plane.run("delete", "configmap", "handbook", "-n", namespace)

    resolved = wait_until_condition(control_plane, namespace, "ReferencesResolved", status="False", timeout=PROMPTLY)
    assert (resolved["reason"], resolved["message"]) == ("ConfigMapNotFound", MISSING)
    body = control_plane.get("agentosconfig", "demo", namespace)
    assert (condition(body, "Ready")["status"], condition(body, "Ready")["reason"]) == ("False", "ConfigMapNotFound")
    assert (condition(body, "Degraded")["status"], condition(body, "Stalled")["status"]) == ("True", "True")
    eventually(lambda: warnings_about(control_plane, namespace, "demo"), timeout=PROMPTLY, what="the Warning event")
    # Nothing is written, so the pods that loaded the files serve on: Ready says so.
    assert condition(body, "Ready")["message"] == f"{MISSING}; the previous pods serve meanwhile"
    assert warnings_about(control_plane, namespace, "demo") == [
        ("ConfigMapNotFound", f"{MISSING}; the previous pods serve meanwhile")
    ]
    # Nothing of the children is written while the ConfigMap is missing: the running pods keep
    # the files they loaded, and no child is pruned or rolled: the operator writes its status and the Event.
    written = {f"{w['objectRef']['resource']}/{w['objectRef'].get('subresource', '')}" for w in installed.writes(mark)}
    assert written == {"agentosconfigs/status", "events/"}
    assert sorted(child_versions(control_plane, namespace, "demo")) == children
    assert deployment_generation(control_plane, namespace) == generation
    assert body is not None and body["status"]["configHash"] == config_hash

    control_plane.apply(handbook(FILES), namespace)

    wait_until_condition(control_plane, namespace, "ReferencesResolved", status="True", timeout=PROMPTLY)
    healed = wait_settled(control_plane, namespace, "demo", timeout=PROMPTLY)
    # The same files: the same config hash, so the pods are not rolled (no child is written).
    assert healed["status"]["configHash"] == config_hash
    assert [w["objectRef"]["resource"] for w in installed.writes(mark)].count("deployments") == 0
    assert sorted(child_versions(control_plane, namespace, "demo")) == children
    assert deployment_generation(control_plane, namespace) == generation
    assert healed["metadata"]["generation"] == 1
    assert installed.refused() == []
    assert operator.reconciles("error") == 0
    lines = [json.loads(line) for line in operator.output().splitlines() if line.startswith("{")]
    assert [line for line in lines if line.get("severity") in TROUBLE - {"warn"}] == []
