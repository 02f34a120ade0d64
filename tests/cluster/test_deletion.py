"""Deletions the real garbage collector and namespace controller carry out, child by child, while
the operator watches each child go: it must let them go, never make one again, and tell nothing.

A foreground deletion (``kubectl delete --cascade=foreground``, as Argo CD deletes an app's
resources) keeps the resource, marked for deletion, until the garbage collector has deleted every
child that blocks its owner's deletion; a namespace's deletion deletes what it holds in no order,
and refuses anything new in it meanwhile (403, "because it is being terminated"). The emulator
collects an owner's children at once, in one step, and deletes no namespace. A Secret the
resource reads, deleted, reaches the operator as the real API server ends a metadata-only watch.
"""

from __future__ import annotations

import json
import uuid

from tests.cluster.conftest import (
    TROUBLE,
    ControlPlane,
    InstallOperator,
    NamespaceMaker,
    add_secrets,
    agentos_body,
    condition,
    eventually,
    operator_running,
    wait_ready,
    wait_settled,
    wait_until_condition,
    warnings_about,
)

CHILD_RESOURCES = frozenset({"configmaps", "secrets", "services", "deployments", "persistentvolumeclaims"})


def children_left(cluster: ControlPlane, namespace: str) -> list[str]:
    found = []
    for kind in ("configmaps", "secrets", "services", "deployments", "persistentvolumeclaims", "replicasets", "pods"):
        for item in cluster.items(kind, namespace, "-l", "app.kubernetes.io/instance=demo"):
            found.append(f"{kind}/{item['metadata']['name']}")
    return found


def test_a_foreground_deletion_lets_the_garbage_collector_delete_every_child_and_none_is_made_again(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, operator = operator_running(control_plane, namespace, install_operator)
    for name in ("demo", "keep"):
        control_plane.apply(agentos_body(name), namespace)
    for name in ("demo", "keep"):
        wait_settled(control_plane, namespace, name)
    warned = warnings_about(control_plane, namespace, "demo")
    mark = control_plane.audit_mark()

    # kubectl waits until the resource is gone: after the children that block its deletion.
    control_plane.run("delete", "agentosconfig", "demo", "-n", namespace, "--cascade=foreground", "--timeout=60s")

    assert control_plane.get("agentosconfig", "demo", namespace) is None
    eventually(lambda: not children_left(control_plane, namespace), timeout=60, what="every child collected")
    # The children's deletions woke the resource before this resync was asked for: its reconcile
    # of the one resource left ends after theirs began.
    operator.resynced(1)
    written = [
        f"{w['verb']} {w['objectRef']['resource']}/{w['objectRef'].get('name')}"
        for w in installed.writes(mark)
        if w["objectRef"]["resource"] in CHILD_RESOURCES | {"agentosconfigs"}
    ]
    assert written == [], "a resource being deleted is left to its deletion"
    assert children_left(control_plane, namespace) == []
    assert warnings_about(control_plane, namespace, "demo") == warned
    assert installed.refused() == []


def test_a_namespace_deleted_with_a_ready_resource_goes_and_the_operator_serves_on_without_a_warning(
    control_plane: ControlPlane, make_namespace: NamespaceMaker, install_operator: InstallOperator
) -> None:
    # Cluster-wide: the grants do not go with the namespace (a Role in it would).
    installed = install_operator()
    operator = installed.start()
    doomed, other = make_namespace(f"t-{uuid.uuid4().hex[:8]}"), make_namespace(f"t-{uuid.uuid4().hex[:8]}")
    for namespace in (doomed, other):
        add_secrets(control_plane, namespace)
        control_plane.apply(agentos_body("demo"), namespace)
    for namespace in (doomed, other):
        wait_settled(control_plane, namespace, "demo")
    mark = control_plane.audit_mark()
    logged = len(operator.output().splitlines())

    control_plane.run("delete", "namespace", doomed, "--timeout=90s")

    assert control_plane.get("namespace", doomed) is None
    operator.resynced(1)
    assert operator.alive()
    output = operator.output().splitlines()
    parsed = [json.loads(line) for line in output if line.startswith("{")]
    assert parsed and all("severity" in line for line in parsed)
    lines = [json.loads(line) for line in output[logged:] if line.startswith("{")]  # none, at times
    troubles = [line for line in lines if line.get("severity") in TROUBLE]
    assert troubles == [], "a namespace going is no trouble"
    made = [
        f"{w['verb']} {w['objectRef']['resource']}/{w['objectRef'].get('name')}: {w['responseStatus']['code']}"
        for w in installed.writes(mark)
        if w["objectRef"].get("namespace") == doomed and w["objectRef"]["resource"] in CHILD_RESOURCES
    ]
    # An attempt the API server refuses (403, the namespace being terminated) is waited out.
    assert [m for m in made if not m.endswith(": 403")] == [], "no child is made again in a namespace being deleted"
    # The other namespace is served as before: an edit there is rolled out.
    french = [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Answer in French."]}]
    control_plane.apply(agentos_body("demo", agents=french), other)
    eventually(
        lambda: "Answer in French." in str(control_plane.get("configmap", "demo-config", other)),
        what="the other namespace's edit",
    )
    wait_ready(control_plane, other, "demo")


def test_a_deleted_secret_the_resource_reads_is_reported_its_pods_left_running_and_its_return_heals(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, _ = operator_running(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo"), namespace)
    wait_settled(control_plane, namespace, "demo")
    deployment = control_plane.get("deployment", "demo", namespace)
    assert deployment is not None
    mark = control_plane.audit_mark()

    # The Secret watch asks for metadata only: the deletion arrives as a PartialObjectMetadata.
    control_plane.run("delete", "secret", "openai", "-n", namespace)

    resolved = wait_until_condition(control_plane, namespace, "ReferencesResolved", status="False", timeout=60)
    assert (resolved["reason"], resolved["message"]) == (
        "SecretNotFound",
        "Secret 'openai' not found (spec.models[0].apiKeySecretRef): create it in the resource's namespace",
    )
    ready = condition(control_plane.get("agentosconfig", "demo", namespace), "Ready")
    assert ready["message"] == f"{resolved['message']}; the previous pods serve meanwhile"
    running = control_plane.get("deployment", "demo", namespace)
    assert running is not None and running["metadata"]["generation"] == deployment["metadata"]["generation"]
    assert [w for w in installed.writes(mark) if w["objectRef"]["resource"] == "deployments"] == []

    add_secrets(control_plane, namespace)

    wait_until_condition(control_plane, namespace, "ReferencesResolved", status="True", timeout=60)
    wait_settled(control_plane, namespace, "demo")
