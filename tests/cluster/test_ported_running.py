"""``agentos operator`` as a process on a real control plane: its health endpoint, its JSON logs
without kopf's per-event chatter, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import time
import urllib.request

from tests.cluster.conftest import (
    ControlPlane,
    InstallOperator,
    add_secrets,
    agentos_body,
    eventually,
    free_port,
)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_the_health_endpoint_answers(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    port = free_port()

    install_operator(namespace).start(AGENTOS_HEALTH_PORT=str(port))

    assert eventually(lambda: healthy(port), what="/healthz answering 200")


def test_the_operator_logs_json_without_chatter_and_stops_cleanly_on_sigterm(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator = install_operator(namespace).start()
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)
    eventually(lambda: control_plane.get("deployment", "demo", namespace), what="the Deployment")
    # The reconcile reports its changes once it has written them all: stopping before that
    # would cancel it (cleanly) before the line this test reads.
    eventually(lambda: "Deployment 'demo'" in operator.output(), what="the reconcile's report of its changes")

    stopping = time.monotonic()
    code = operator.stop()

    # Under kopf's 5 s grace for tasks left hanging: a clean stop leaves none.
    assert (code, time.monotonic() - stopping < 4) == (0, True)
    text = [line for line in operator.output().splitlines() if line.strip()]
    assert [line for line in text if not line.startswith("{")] == []
    messages = [json.loads(line)["message"] for line in text]
    assert any("Created" in m and "Deployment 'demo'" in m for m in messages)
    assert [m for m in messages if m.startswith("Handler ")] == []  # kopf's per-event chatter
