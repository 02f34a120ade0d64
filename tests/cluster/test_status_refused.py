"""A status the API server will not store, on a real control plane: told in an Event.

etcd refuses a request past 1.5 MiB (``--max-request-bytes``), and the API server passes its
refusal on (500, "etcdserver: request is too large"). A resource stored just under that limit,
whose children each stay within theirs (the config under a ConfigMap's 1 MiB, the Deployment
under the operator's 512 KiB, the rest in the resource's own annotations), is reconciled: its
children are written (after the claim, a few bytes of status), but its status would take it past the limit. The operator tells
that in a Warning Event, which is stored apart, and keeps running; once the resource is made
smaller (here its annotation removed), the status is written and the resource is Ready.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

from tests.cluster.conftest import (
    POSTGRES,
    ControlPlane,
    InstallOperator,
    add_secrets,
    agentos_body,
    eventually,
    wait_ready,
    warnings_about,
)
from tests.cluster.test_competing_writers import troubles

ETCD_LIMIT = 1572864  # etcd's default --max-request-bytes, which scripts/control-plane.sh keeps
# Under the limit by less than any status takes, more than a request's own framing takes.
HEADROOM = 400
PADDING = "example.com/padding"


def etcd_url(cluster: ControlPlane) -> str:
    args = [arg.decode() for arg in (cluster.state / "apiserver.args").read_bytes().split(b"\0") if arg]
    return args[args.index("--etcd-servers") + 1].split(",")[0]


def stored_size(cluster: ControlPlane, namespace: str, name: str) -> int:
    """The bytes etcd holds for the AgentOSConfig (what each write of it must send again, and more)."""
    key = f"/registry/agentos.dev/agentosconfigs/{namespace}/{name}".encode()
    request = urllib.request.Request(
        f"{etcd_url(cluster)}/v3/kv/range",
        data=json.dumps({"key": base64.b64encode(key).decode()}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        [found] = json.load(response)["kvs"]
    return len(base64.b64decode(found["value"]))


def large(padding: int) -> dict[str, Any]:
    body = agentos_body(
        "demo",
        databases=POSTGRES,
        env=[{"name": "PAD", "value": "p" * 320_000}],  # into the Deployment, under its 512 KiB
    )
    body["spec"]["agents"][0]["instructions"] = ["i" * 1_000_000]  # into the config, under 1 MiB
    body["metadata"]["annotations"] = {PADDING: "a" * padding}  # the resource's own, under 256 KiB
    return body


def test_a_status_etcd_will_not_store_is_told_in_an_event_and_written_once_the_resource_is_smaller(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    add_secrets(control_plane, namespace, postgres=True)
    padding = 200_000
    control_plane.apply(large(padding), namespace)
    padding += ETCD_LIMIT - HEADROOM - stored_size(control_plane, namespace, "demo")
    control_plane.apply(large(padding), namespace)
    size = stored_size(control_plane, namespace, "demo")
    assert ETCD_LIMIT - HEADROOM - 50 <= size <= ETCD_LIMIT - HEADROOM + 50, size
    mark = control_plane.audit_mark()

    operator = installed.start()

    def refused() -> list[tuple[str, str]]:
        return [w for w in warnings_about(control_plane, namespace, "demo") if w[0] == "StatusRefused"]

    told = eventually(refused, timeout=120, what="the StatusRefused event")
    assert told == [
        ("StatusRefused", "the status cannot be written: etcdserver: request is too large: make the spec smaller")
    ]
    body = control_plane.get("agentosconfig", "demo", namespace) or {}
    # Only the claim, written before any child (a few bytes: under the limit), is stored.
    assert body.get("status") == {"operator": f"{installed.release_namespace}/agentos-operator"}
    assert control_plane.get("deployment", "demo", namespace) is not None, "the children, each within its limit"
    assert control_plane.get("configmap", "demo-config", namespace) is not None
    status_writes = [
        w["responseStatus"]["code"] for w in installed.writes(mark) if w["objectRef"].get("subresource") == "status"
    ]
    assert status_writes[0] == 200 and status_writes[1:] and set(status_writes[1:]) == {500}, status_writes
    assert operator.alive()

    control_plane.run("annotate", "agentosconfig", "demo", "-n", namespace, f"{PADDING}-")

    wait_ready(control_plane, namespace, "demo", timeout="120s")
    assert operator.alive()
    assert refused() == told, "told once"
    assert installed.refused() == []
    assert [line for line in troubles(operator, 0) if "too large" not in line] == []
