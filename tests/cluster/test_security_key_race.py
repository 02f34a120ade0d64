"""The generated security key made first by someone else, on a real control plane.

Two operator replicas that both reconcile (no leader election: a split brain, or an upgrade of
a chart without it) race to create each new resource's key: the API server stores one, and the
other replica's create gets 409 AlreadyExists. That replica must read the stored key, not make
a second one, not fail, and never hand the pods a key nobody stored: every version of each
``<name>-env`` Secret carries the one stored key. A key another client made beforehand for the
resource (restored from a backup with its owner reference) is used as it is.

Someone else's Secret holding the key's name (no owner, no labels) is refused and left alone
(tests/cluster/test_ported_bad_input.py), and an orphan of ours is named in the status
(tests/cluster/test_lifecycle.py).
"""

from __future__ import annotations

import base64
import functools
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.cluster.conftest import (
    BIN,
    POSTGRES,
    ControlPlane,
    InstallOperator,
    add_secrets,
    agentos_body,
    eventually,
    settled,
    warnings_about,
)
from tests.cluster.test_competing_writers import troubles

KEY_SUFFIX = "-security-key"


@contextmanager
def watching_secrets(cluster: ControlPlane, namespace: str, sink: Path) -> Iterator[list[dict[str, Any]]]:
    """Every version of every Secret in ``namespace`` while the block runs, as ``kubectl get -w`` saw them."""
    seen: list[dict[str, Any]] = []
    with sink.open("wb") as out:
        watcher = subprocess.Popen(
            [str(BIN / "kubectl"), "--kubeconfig", str(cluster.kubeconfig), "get", "secrets", "-n", namespace]
            + ["--watch", "--output-watch-events", "-o", "json"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield seen
    finally:
        watcher.terminate()
        watcher.wait(timeout=20)
        seen += decoded_stream(sink.read_text())


def decoded_stream(text: str) -> list[dict[str, Any]]:
    """The objects of a stream of JSON documents, one after the other; the events' objects."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return found
        event, index = decoder.raw_decode(text, index)
        found.append(event["object"])


def key_creates(cluster: ControlPlane, user: str, since: int) -> list[tuple[str, int, bool]]:
    """(Secret, response code, dry run) of each create of a generated key ``user`` sent since ``since``."""
    return [
        (e["objectRef"].get("name", ""), e["responseStatus"]["code"], "dryRun=All" in e["requestURI"])
        for e in cluster.requests(user, since)
        if e["verb"] == "create"
        and e.get("objectRef", {}).get("resource") == "secrets"
        and e["objectRef"].get("name", "").endswith(KEY_SUFFIX)
    ]


def test_replicas_racing_to_create_a_key_store_one_and_the_pods_env_never_carries_another(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator, tmp_path: Path
) -> None:
    installed = install_operator(namespace)
    replicas = [installed.start(), installed.start()]  # both reconcile: no leader election
    add_secrets(control_plane, namespace, postgres=True)
    mark = control_plane.audit_mark()
    names: list[str] = []

    with watching_secrets(control_plane, namespace, tmp_path / "secrets.json") as history:
        # Batches of resources, until the replicas' creates of a key have met at the API server
        # (the loser of a race gets 409 AlreadyExists, on its dry run or on its create).
        for batch in range(5):
            made = [f"b{batch}-r{index:02d}" for index in range(10)]
            names += made
            bodies = [agentos_body(name, databases=POSTGRES) for name in made]
            control_plane.apply({"apiVersion": "v1", "kind": "List", "items": bodies}, namespace)
            for name in made:
                eventually(functools.partial(settled, control_plane, namespace, name), timeout=120, what=name)
            if any(code == 409 for _, code, _ in key_creates(control_plane, installed.user, mark)):
                break

    creates = key_creates(control_plane, installed.user, mark)
    lost = sorted({name for name, code, _ in creates if code == 409})
    assert lost, f"no race was lost in {len(names)} resources: the test showed nothing"
    stored = [name for name, code, dry in creates if code == 201 and not dry]
    assert sorted(stored) == sorted(f"{name}{KEY_SUFFIX}" for name in names), "one key stored per resource"
    assert {code for _, code, _ in creates} <= {201, 409}

    for name in names:
        key_secret = control_plane.get("secret", f"{name}{KEY_SUFFIX}", namespace) or {}
        key = key_secret["data"]["security-key"]
        versions = [s for s in history if s["metadata"]["name"] == f"{name}{KEY_SUFFIX}"]
        assert {v["metadata"]["uid"] for v in versions} == {key_secret["metadata"]["uid"]}, f"{name}: one key Secret"
        assert {v["data"]["security-key"] for v in versions} == {key}, f"{name}: its key never changed"
        env = [s for s in history if s["metadata"]["name"] == f"{name}-env"]
        assert env, f"{name}: its env Secret was seen"
        carried = {base64.b64decode(v["data"]["OS_SECURITY_KEY"]).decode() for v in env}
        assert carried == {base64.b64decode(key).decode()}, f"{name}: the pods' env carried only the stored key"
        assert warnings_about(control_plane, namespace, name) == []
    assert all(replica.alive() for replica in replicas)
    # Above info, only the lost races: a replica finding another at work (no leader election) is worth a warning.
    lost_race = f"create /api/v1/namespaces/{namespace}/secrets: 409 AlreadyExists"
    logged = [line for replica in replicas for line in troubles(replica, 0)]
    assert [line for line in logged if lost_race not in line] == [], "nothing else logged above info"
    assert installed.refused() == []


def test_a_key_restored_with_its_owner_before_the_operator_starts_is_used_as_it_is(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    add_secrets(control_plane, namespace, postgres=True)
    control_plane.apply(agentos_body("demo", databases=POSTGRES), namespace)
    uid = (control_plane.get("agentosconfig", "demo", namespace) or {})["metadata"]["uid"]
    restored = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"demo{KEY_SUFFIX}",
            "labels": {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/managed-by": "agentos-operator"},
            "ownerReferences": [
                {
                    "apiVersion": "agentos.dev/v1alpha1",
                    "kind": "AgentOSConfig",
                    "name": "demo",
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "stringData": {"security-key": "restored-from-backup-0123456789"},
    }
    control_plane.run("create", "-n", namespace, "-f", "-", input=json.dumps(restored))
    before = control_plane.get("secret", f"demo{KEY_SUFFIX}", namespace) or {}
    mark = control_plane.audit_mark()

    operator = installed.start()

    body = eventually(functools.partial(settled, control_plane, namespace, "demo"), timeout=120, what="demo settled")
    assert body["metadata"]["generation"] == 1
    env = control_plane.get("secret", "demo-env", namespace) or {}
    assert base64.b64decode(env["data"]["OS_SECURITY_KEY"]).decode() == "restored-from-backup-0123456789"
    assert control_plane.get("secret", f"demo{KEY_SUFFIX}", namespace) == before, "the restored key untouched"
    assert key_creates(control_plane, installed.user, mark) == [], "no create of a key that exists"
    assert [w for w in installed.writes(mark) if w["objectRef"].get("name") == f"demo{KEY_SUFFIX}"] == []
    assert warnings_about(control_plane, namespace, "demo") == []
    assert troubles(operator, 0) == []
    assert installed.refused() == []
