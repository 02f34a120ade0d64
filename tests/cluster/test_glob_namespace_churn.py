"""An operator following a glob (``--namespace=<prefix>-*``) on a real control plane while the
namespaces it matches come and go: one it serves is deleted with a Ready resource in it, and one
created afterwards is served at once. A glob is served by cluster-wide watches and a filter
(``watching.scope_of``); the emulator deletes no namespace (tests/operator/kopf/test_scope.py).

The resync and the retries are far beyond the test: what the new namespace gets within it (its
resource resolved when its Secret comes, a deleted child made again) came from the watches.
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
    wait_until_condition,
)
from tests.cluster.test_ported_scope import can_i, touched_namespaces, untouched

# No resync, and no retry of a resource waiting for its Secret, within the test.
WATCH_ONLY = {
    "AGENTOS_RESYNC_SECONDS": "3600",
    "AGENTOS_SECRET_RETRY_SECONDS": "600",
    "AGENTOS_ERROR_RETRY_MAX_SECONDS": "600",
}
PROMPTLY = 30.0  # seconds: a watch event and a reconcile or two, on a loaded machine
CHILD_RESOURCES = frozenset({"configmaps", "secrets", "services", "deployments", "persistentvolumeclaims"})


def troubles(operator: OperatorProcess, start: int) -> list[str]:
    lines = [json.loads(line) for line in operator.output().splitlines()[start:] if line.startswith("{")]
    return [str(line.get("message")) for line in lines if line.get("severity") in TROUBLE]


def follow_namespaces(cluster: ControlPlane, release: str, account: str) -> str:
    """Grant the operator's ServiceAccount the cluster-wide list and watch of namespaces a glob takes
    (the chart runs the operator with names or --all-namespaces, never a glob, and grants none)."""
    name = f"{release}-follow-namespaces"
    cluster.run("create", "clusterrole", name, "--verb=get,list,watch", "--resource=namespaces")
    cluster.run("create", "clusterrolebinding", name, f"--clusterrole={name}", f"--serviceaccount={account}")
    return name


def test_a_glob_serves_on_when_a_namespace_it_matches_goes_and_serves_one_created_after(
    control_plane: ControlPlane, namespace: str, make_namespace: NamespaceMaker, install_operator: InstallOperator
) -> None:
    prefix = f"g{uuid.uuid4().hex[:6]}"
    kept, doomed = make_namespace(f"{prefix}-kept"), make_namespace(f"{prefix}-doomed")
    installed = install_operator()  # cluster-wide grants: only the glob keeps the operator out of the rest
    follow = follow_namespaces(
        control_plane, installed.release, f"{installed.release_namespace}:{installed.service_account}"
    )
    try:
        eventually(lambda: can_i(control_plane, installed.user, "watch", "namespaces", namespace), what="the grant")
        operator = installed.start(f"--namespace={prefix}-*", **WATCH_ONLY)
        for each in (kept, doomed, namespace):
            add_secrets(control_plane, each)
            control_plane.apply(agentos_body("demo"), each)
        for each in (kept, doomed):
            wait_settled(control_plane, each, "demo", timeout=90)
        mark = control_plane.audit_mark()
        logged = len(operator.output().splitlines())

        control_plane.run("delete", "namespace", doomed, "--timeout=120s")

        assert control_plane.get("namespace", doomed) is None
        operator.resynced(1, timeout=60)  # it serves one resource now
        assert operator.alive()
        made = [
            f"{w['verb']} {w['objectRef']['resource']}/{w['objectRef'].get('name')}: {w['responseStatus']['code']}"
            for w in installed.writes(mark)
            if w["objectRef"].get("namespace") == doomed and w["objectRef"]["resource"] in CHILD_RESOURCES
        ]
        assert [m for m in made if not m.endswith(": 403")] == [], "no child is made again in a namespace going"

        # A namespace the glob matches, created after: its resource waits for its Secret, which
        # the Secret watch then delivers; a child deleted there is made again by the child watch.
        late = make_namespace(f"{prefix}-late")
        control_plane.apply(agentos_body("demo"), late)
        unresolved = wait_until_condition(control_plane, late, "ReferencesResolved", status="False", timeout=PROMPTLY)
        assert (
            unresolved["message"]
            == "Secret 'openai' not found (spec.models[0].apiKeySecretRef): create it in the resource's namespace"
        )
        add_secrets(control_plane, late)
        wait_settled(control_plane, late, "demo", timeout=PROMPTLY)
        first = config_map_uid(control_plane, late)
        control_plane.run("delete", "configmap", "demo-config", "-n", late)
        eventually(
            lambda: config_map_uid(control_plane, late) not in ("", first),
            timeout=PROMPTLY,
            what="the deleted child made again",
        )
        wait_ready(control_plane, late, "demo", timeout="60s")

        # The namespace kept is served as before: an edit there is rolled out.
        french = [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Answer in French."]}]
        control_plane.apply(agentos_body("demo", agents=french), kept)
        eventually(
            lambda: "Answer in French." in str(control_plane.get("configmap", "demo-config", kept)),
            timeout=PROMPTLY,
            what="the edit in the namespace kept",
        )
        wait_settled(control_plane, kept, "demo", timeout=60)

        operator.resynced(2, timeout=60)  # the namespace kept and the late one: two resources
        assert untouched(control_plane, namespace, "demo")
        assert namespace not in touched_namespaces(control_plane, installed.user)
        # A refusal is of a child made again in the namespace being deleted (403), or of a namespace the glob does not match.
        ours = [r for r in installed.refused() if "/namespaces/" not in r or prefix in r]
        assert [r for r in ours if f"/namespaces/{doomed}/" not in r] == []
        # A namespace going and one coming are no trouble: only the Secret the test made late is told, once.
        assert troubles(operator, logged) == [
            f"{late}/demo SecretNotFound: Secret 'openai' not found (spec.models[0].apiKeySecretRef): create it in the resource's namespace"
        ]
    finally:
        control_plane.run("delete", "clusterrolebinding,clusterrole", follow, "--ignore-not-found", check=False)


def config_map_uid(cluster: ControlPlane, namespace: str) -> str:
    found: dict[str, Any] | None = cluster.get("configmap", "demo-config", namespace)
    return str(found["metadata"]["uid"]) if found else ""
