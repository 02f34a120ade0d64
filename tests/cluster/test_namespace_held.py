"""A namespace deleted while a user's finalizer holds its AgentOSConfig, on a real control plane.

The namespace controller deletes what the namespace holds, marks the AgentOSConfig for deletion
and waits for its finalizers; until the user removes theirs the namespace stays Terminating, and
the API server refuses anything created in it (403, "because it is being terminated"). The
operator needs no finalizer: it must add none and remove none (the user's stays), leave the
marked resource to its deletion (never make its children again, never retry in a loop), say
nothing above info, and serve the other namespaces as before; once the user lets go, the
namespace goes. The emulator deletes no namespace and refuses nothing in one being deleted.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.cluster.conftest import (
    TROUBLE,
    ControlPlane,
    InstallOperator,
    NamespaceMaker,
    OperatorProcess,
    add_secrets,
    agentos_body,
    eventually,
    wait_ready,
    wait_settled,
)

HOLD = "example.com/hold"
CHILDREN = ("configmaps", "secrets", "services", "deployments", "persistentvolumeclaims", "replicasets", "pods")
CHILD_RESOURCES = frozenset(CHILDREN) - {"replicasets", "pods"}


def children_left(cluster: ControlPlane, namespace: str) -> list[str]:
    return [
        f"{kind}/{item['metadata']['name']}"
        for kind in CHILDREN
        for item in cluster.items(kind, namespace, "-l", "app.kubernetes.io/instance=demo")
    ]


def held_by(cluster: ControlPlane, namespace: str) -> str:
    """The message of the namespace's NamespaceFinalizersRemaining condition, when it is true."""
    found = cluster.get("namespace", namespace) or {}
    for each in (found.get("status") or {}).get("conditions") or []:
        if each["type"] == "NamespaceFinalizersRemaining" and each["status"] == "True":
            return str(each.get("message", ""))
    return ""


def logged_since(operator: OperatorProcess, start: int) -> list[dict[str, Any]]:
    return [json.loads(line) for line in operator.output().splitlines()[start:] if line.startswith("{")]


def about(requests: list[dict[str, Any]], namespace: str) -> list[str]:
    """``verb resource/name: code`` of each request about something in ``namespace``."""
    return [
        f"{r['verb']} {'/'.join(filter(None, (ref['resource'], ref.get('subresource'))))}"
        f" {ref.get('name')}: {r['responseStatus']['code']}"
        for r in requests
        if (ref := r.get("objectRef") or {}).get("namespace") == namespace
    ]


def test_a_namespace_deleted_while_a_user_finalizer_holds_the_resource_is_left_to_its_deletion(
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
        wait_settled(control_plane, namespace, "demo", timeout=90)
    hold = json.dumps({"metadata": {"finalizers": [HOLD]}})
    control_plane.run("patch", "agentosconfig", "demo", "-n", doomed, "--type=merge", "-p", hold)
    assert children_left(control_plane, doomed)
    mark = control_plane.audit_mark()
    logged = len(operator.output().splitlines())
    failed = operator.reconciles("error")

    control_plane.run("delete", "namespace", doomed, "--wait=false")

    # The namespace controller has deleted every child and waits for the user's finalizer.
    eventually(lambda: HOLD in held_by(control_plane, doomed), timeout=120, what="the namespace held by the finalizer")
    eventually(lambda: not children_left(control_plane, doomed), timeout=120, what="every child deleted")
    held = control_plane.get("agentosconfig", "demo", doomed)
    assert held is not None and held["metadata"].get("deletionTimestamp")
    # The resource marked for deletion is still served (listed, resynced), and reconciled to nothing.
    operator.resynced(2, timeout=60)

    def a_resync_asks_nothing_there() -> bool:
        since = control_plane.audit_mark()
        operator.resynced(2, timeout=60)
        # The resync's audit lists the resources of every namespace it holds one of: nothing else.
        return about(installed.requests(since), doomed) == ["list agentosconfigs None: 200"]

    # No retry goes on: a resync, and what it may wake, asks nothing about the namespace but its list.
    eventually(a_resync_asks_nothing_there, timeout=60, what="a resync asking nothing more about the held namespace")
    assert operator.alive()
    assert children_left(control_plane, doomed) == [], "no child is made again in a namespace being deleted"
    held = control_plane.get("agentosconfig", "demo", doomed)
    assert held is not None and held["metadata"]["finalizers"] == [HOLD], "the operator adds and removes none"
    writes = about(installed.writes(mark), doomed)
    # The namespace controller deletes the Secret the resource reads before it marks the resource:
    # a reconcile between the two says so in the status, which the API server still takes. Nothing
    # else is written: a child made again, or an Event, is refused (403) while the namespace goes,
    # and no finalizer is written (the operator has none).
    assert [w for w in writes if not w.endswith(": 403") and not w.startswith("patch agentosconfigs/status ")] == []
    assert [w for w in writes if w.endswith(": 403") and not w.startswith(("create ", "patch "))] == []
    assert not any(w.startswith(("patch agentosconfigs ", "update agentosconfigs ")) for w in writes)
    # Nothing cluster-wide nor in the namespace kept is refused. (A cluster-wide operator also serves
    # what earlier tests of the session left going: refused there as here.)
    assert [r for r in installed.refused(mark) if "/namespaces/" not in r or f"/namespaces/{other}/" in r] == []
    everything = logged_since(operator, 0)
    assert everything and all("severity" in line for line in everything)  # the log is read as written
    lines = logged_since(operator, logged)
    troubles = [line["message"] for line in lines if line.get("severity") in TROUBLE]
    assert troubles == [], "a namespace going is no trouble, held or not"
    # A child refused because the namespace goes (a Secret's refusal says so only in its causes)
    # is waited out, never told as the spec's fault.
    assert not [line for line in lines if "ChildRejected" in str(line.get("message"))]
    assert operator.reconciles("error") - failed == len(
        [line for line in lines if "waits for its namespace to be deleted" in str(line.get("message"))]
    ), "the only failed reconciles are those refused by the namespace's deletion, each logged at info"

    # The user lets go: the namespace goes.
    control_plane.run(
        "patch",
        "agentosconfig",
        "demo",
        "-n",
        doomed,
        "--type=json",
        "-p",
        json.dumps([{"op": "remove", "path": "/metadata/finalizers"}]),
    )

    eventually(lambda: control_plane.get("namespace", doomed) is None, timeout=120, what="the namespace gone")
    operator.resynced(1, timeout=60)
    assert operator.alive()
    assert [line for line in logged_since(operator, logged) if line.get("severity") in TROUBLE] == []
    # The other namespace is served as before: an edit there is rolled out.
    french = [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Answer in French."]}]
    control_plane.apply(agentos_body("demo", agents=french), other)
    eventually(
        lambda: "Answer in French." in str(control_plane.get("configmap", "demo-config", other)),
        timeout=60,
        what="the other namespace's edit",
    )
    wait_ready(control_plane, other, "demo", timeout="90s")
