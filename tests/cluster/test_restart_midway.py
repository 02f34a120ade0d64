"""The operator killed in the middle of creating many resources' children, and started again, on a
real control plane.

SIGKILL (no shutdown of any kind: an OOM kill, a node lost) lands while some resources have all
their children, some a few and some none. The next process starts from what the API server
holds: every resource converges, each child exists once (a child's name is fixed, but a
Deployment rendered differently after the restart would show as a second ReplicaSet: a rollout
the restart caused), and a generated security key the killed process created is the key kept
(a new one would log every client out): the same Secret, the same value, the one the pods' env
Secret carries.
"""

from __future__ import annotations

import functools
import json
import signal
import urllib.request

from tests.cluster.conftest import (
    CHILD_RESOURCES,
    POSTGRES,
    ControlPlane,
    InstallOperator,
    agentos_body,
    eventually,
    operator_running,
    settled,
    warnings_about,
)
from tests.cluster.test_competing_writers import admin, troubles

COUNT = 20
# What one resource with a PostgreSQL database and no named key is made of, by kind.
CHILDREN = {"configmaps": 1, "secrets": 2, "services": 1, "deployments": 1}


def test_an_operator_killed_while_creating_children_converges_on_restart_without_duplicates_or_a_new_key(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, first = operator_running(control_plane, namespace, install_operator, postgres=True)
    names = [f"r{index:02d}" for index in range(COUNT)]
    bodies = [agentos_body(name, databases=POSTGRES) for name in names]
    control_plane.apply({"apiVersion": "v1", "kind": "List", "items": bodies}, namespace)

    # Looked at by plain requests (a kubectl process each would look too seldom): killed once
    # the first keys exist. Reconciles run side by side: by then about half the resources have
    # their children, some only their key, the rest nothing.
    server, context = admin(control_plane)
    url = f"{server}/api/v1/namespaces/{namespace}/secrets"

    def keys_created() -> int:
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            listed = json.load(response)["items"]
        return sum(1 for secret in listed if secret["metadata"]["name"].endswith("-security-key"))

    eventually(lambda: keys_created() >= 2, timeout=60, what="the first generated keys")
    first.stop(signal.SIGKILL)
    assert first.process.returncode == -signal.SIGKILL
    deployments = {d["metadata"]["name"] for d in control_plane.items("deployments", namespace)}
    assert 0 < len(deployments) < COUNT, f"killed midway: {len(deployments)} of {COUNT} Deployments made"
    keys_made = {
        secret["metadata"]["name"]: (secret["metadata"]["uid"], secret["data"])
        for secret in control_plane.items("secrets", namespace)
        if secret["metadata"]["name"].endswith("-security-key")
    }
    assert keys_made, "the killed process had generated keys"

    second = installed.start()
    for name in names:
        eventually(functools.partial(settled, control_plane, namespace, name), timeout=120, what=f"{name} settled")

    for name in names:
        made = {
            kind: len(control_plane.items(kind, namespace, "-l", f"app.kubernetes.io/instance={name}"))
            for kind in CHILD_RESOURCES
        }
        assert {kind: n for kind, n in made.items() if n} == CHILDREN, f"{name}'s children, once each"
        replica_sets = control_plane.items("replicasets", namespace, "-l", f"app.kubernetes.io/instance={name}")
        assert len(replica_sets) == 1, f"{name}: the restart rolled no pod"
        key_secret = control_plane.get("secret", f"{name}-security-key", namespace) or {}
        env_secret = control_plane.get("secret", f"{name}-env", namespace) or {}
        assert env_secret["data"]["OS_SECURITY_KEY"] == key_secret["data"]["security-key"], f"{name}: the key used"
        assert warnings_about(control_plane, namespace, name) == []
    for secret_name, (uid, data) in keys_made.items():
        now = control_plane.get("secret", secret_name, namespace) or {}
        assert (now["metadata"]["uid"], now["data"]) == (uid, data), f"{secret_name}: the key made before the kill"
    assert troubles(second, 0) == [], "the restarted operator logged nothing above info"
    assert installed.refused() == []
