"""The Secret watch told 410 Gone by a real API server: it lists again, and a Secret changed while
it could not watch is seen by that list.

An API server keeps a watch cache of each kind from the etcd revision it listed at start; a
watch asked to resume from an older resourceVersion is answered 410 ("too old resource
version"). Here the API server is stopped, etcd's revision moved on by a write of a key outside
the API server's (the writes of the controllers and of other API servers do the same in a real
cluster), and the API server started again, while the operator is stopped (SIGSTOP) and cannot
read a bookmark newer than what it watched. Then the model's Secret changes, before the
operator runs again: only a new list can tell it. The operator's next watch gets 410, lists
again, rolls the new key into the pods' env Secret, and its watch still reacts to the next change.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from tests.cluster.conftest import (
    ControlPlane,
    InstallOperator,
    agentos_body,
    eventually,
    operator_running,
    wait_ready,
)
from tests.cluster.test_competing_writers import admin


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def api_server_ready(cluster: ControlPlane) -> bool:
    server, context = admin(cluster)
    try:
        with urllib.request.urlopen(f"{server}/readyz", context=context, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop_api_server(cluster: ControlPlane) -> None:
    """Stop the API server ``scripts/control-plane.sh`` started, as the script stops it: SIGTERM,
    then SIGKILL after 5 s (a graceful shutdown waits on a stopped operator's open watches)."""
    pid = int((cluster.state / "apiserver.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    try:
        eventually(lambda: not running(pid), timeout=5, what="the API server stopped")
    except AssertionError:
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: not running(pid), timeout=30, what="the API server killed")


def start_api_server(cluster: ControlPlane) -> None:
    """Start the API server again with the command line the script started it with; return at once."""
    state = cluster.state
    args = [arg.decode() for arg in (state / "apiserver.args").read_bytes().split(b"\0") if arg]
    with (state / "apiserver.log").open("ab") as log:
        server = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    (state / "apiserver.pid").write_text(f"{server.pid}\n")


def restart_api_server_advancing_etcd(cluster: ControlPlane) -> None:
    """Stop the API server, write a key to its etcd (the revision moves on), start it again with
    the command line ``scripts/control-plane.sh`` started it with; return once it is ready."""
    args = [arg.decode() for arg in (cluster.state / "apiserver.args").read_bytes().split(b"\0") if arg]
    etcd = args[args.index("--etcd-servers") + 1].split(",")[0]
    stop_api_server(cluster)

    put = {"key": base64.b64encode(b"agentos-test/revision").decode(), "value": base64.b64encode(b"moved").decode()}
    request = urllib.request.Request(f"{etcd}/v3/kv/put", data=json.dumps(put).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        revision = int(json.load(response)["header"]["revision"])
    assert revision > 0

    start_api_server(cluster)
    eventually(lambda: api_server_ready(cluster), timeout=120, what="the API server ready again")


def model_key(cluster: ControlPlane, namespace: str) -> str:
    env = cluster.get("secret", "demo-env", namespace) or {}
    return base64.b64decode((env.get("data") or {}).get("OPENAI_API_KEY", "")).decode()


def set_model_key(cluster: ControlPlane, namespace: str, value: str) -> None:
    patch = json.dumps({"stringData": {"api-key": value}})
    cluster.run("patch", "secret", "openai", "-n", namespace, "--type=merge", "-p", patch)


def secret_lists(cluster: ControlPlane, user: str, since: int) -> int:
    return sum(
        1
        for request in cluster.requests(user, since)
        if request["verb"] == "list" and request.get("objectRef", {}).get("resource") == "secrets"
    )


def test_a_secret_watch_told_gone_lists_again_and_sees_the_change_it_missed(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, operator = operator_running(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo"), namespace)
    wait_ready(control_plane, namespace, "demo")
    assert model_key(control_plane, namespace) == "sk-test-1"
    logged = len(operator.output())

    operator.process.send_signal(signal.SIGSTOP)
    try:
        restart_api_server_advancing_etcd(control_plane)
        mark = control_plane.audit_mark()
        set_model_key(control_plane, namespace, "sk-test-2")  # while the operator watches nothing
    finally:
        operator.process.send_signal(signal.SIGCONT)

    eventually(lambda: model_key(control_plane, namespace) == "sk-test-2", timeout=120, what="the change missed")
    gone = f"the watch of secrets in {namespace} is too old to resume; listing again"
    assert gone in operator.output()[logged:]
    assert secret_lists(control_plane, installed.user, mark) >= 1

    set_model_key(control_plane, namespace, "sk-test-3")  # the watch, resumed from the new list

    eventually(lambda: model_key(control_plane, namespace) == "sk-test-3", timeout=60, what="the next change")
    assert operator.alive()
    wait_ready(control_plane, namespace, "demo", timeout="120s")
    assert installed.refused() == []
