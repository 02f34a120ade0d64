"""Another client writing the AgentOSConfig while the operator reconciles it, on a real control plane.

GitOps tools and people label and annotate resources (Argo CD's tracking annotation, a refresh
request, ``kubectl label``), and each such write is a new resourceVersion and a watch event that
wakes a reconcile. The operator writes its status by a merge patch of the keys it owns, with no
resourceVersion, so another writer cannot make it fail with a 409: the edit converges to Ready
for its generation while the other writer keeps writing, the other writer's labels and
annotations stay, the reconciles it wakes make no request once settled, and nothing is logged
above info. A status another client overwrote with a stale one is written back.
"""

from __future__ import annotations

import json
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.conftest import (
    POSTGRES,
    TROUBLE,
    ControlPlane,
    InstallOperator,
    OperatorProcess,
    agentos_body,
    condition,
    eventually,
    operator_running,
    wait_settled,
    warnings_about,
)


def admin(cluster: ControlPlane) -> tuple[str, ssl.SSLContext]:
    """The API server's URL, and a TLS context with the control plane's cluster-admin certificate:
    requests faster than a kubectl process each."""
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    server = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    context = ssl.create_default_context(cafile=server["certificate-authority"])
    context.load_cert_chain(user["client-certificate"], user["client-key"])
    return server["server"], context


class Toucher:
    """Merge-patches the resource's labels and annotations as fast as the API server answers,
    with the control plane's cluster-admin certificate, until stopped; counts its writes."""

    def __init__(self, cluster: ControlPlane, namespace: str, name: str) -> None:
        server, self.context = admin(cluster)
        self.url = f"{server}/apis/agentos.dev/v1alpha1/namespaces/{namespace}/agentosconfigs/{name}"
        self.written = 0
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def patch(self, body: dict[str, Any], subresource: str = "") -> None:
        request = urllib.request.Request(
            self.url + subresource,
            data=json.dumps(body).encode(),
            method="PATCH",
            headers={"Content-Type": "application/merge-patch+json"},
        )
        with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
            response.read()

    def run(self) -> None:
        while not self.stopping.is_set():
            count = str(self.written + 1)
            touch = {"labels": {"example.com/touched": count}, "annotations": {"example.com/refresh": count}}
            try:
                self.patch({"metadata": touch})
                self.written += 1
            except OSError as error:  # an HTTPError too: the other writer's own failures are reported
                self.failures.append(str(error))


@contextmanager
def touching(cluster: ControlPlane, namespace: str, name: str) -> Iterator[Toucher]:
    toucher = Toucher(cluster, namespace, name)
    toucher.thread.start()
    try:
        yield toucher
    finally:
        toucher.stopping.set()
        toucher.thread.join(timeout=20)


def troubles(operator: OperatorProcess, since: int) -> list[str]:
    """The operator's log lines above info, from character ``since`` of its log."""
    lines = [json.loads(line) for line in operator.output()[since:].splitlines() if line.startswith("{")]
    return [line["message"] for line in lines if line.get("severity") in TROUBLE]


def test_an_edit_converges_while_another_client_keeps_writing_the_resources_metadata(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, operator = operator_running(control_plane, namespace, install_operator, postgres=True)
    control_plane.apply(agentos_body("demo", databases=POSTGRES), namespace)
    wait_settled(control_plane, namespace, "demo")
    logged = len(operator.output())

    with touching(control_plane, namespace, "demo") as toucher:
        eventually(lambda: toucher.written >= 10, timeout=30, what="the other writer writing")
        edit = agentos_body("demo", databases=POSTGRES)
        edit["spec"]["agents"][0]["instructions"] = ["Be brief.", "Answer in English."]
        control_plane.apply(edit, namespace)

        body = wait_settled(control_plane, namespace, "demo", timeout=90)
        assert body["metadata"]["generation"] == 2
        assert condition(body, "Ready")["observedGeneration"] == 2

        # Settled: the reconciles further touches wake make no request at all (they read the
        # watches' store, and find nothing to write).
        woken = operator.reconciles()
        eventually(operator_quiet(control_plane, installed.requests, toucher), timeout=60, what="touches, no request")
        assert operator.reconciles() >= woken + 10, "the touches woke reconciles"
        during = toucher.written

    assert toucher.failures == [], "the other writer was never refused either"
    assert during >= 50, f"the other writer kept writing ({during} writes)"
    body = control_plane.get("agentosconfig", "demo", namespace) or {}
    assert body["metadata"]["labels"]["example.com/touched"] == str(toucher.written), "its labels stay"
    assert body["metadata"]["annotations"]["example.com/refresh"] == str(toucher.written)
    assert troubles(operator, logged) == [], "nothing logged above info"
    assert warnings_about(control_plane, namespace, "demo") == []
    assert operator.reconciles("error") == 0

    # Another client writes a stale status (the previous generation's, not ready): written back.
    was_ready = {**condition(body, "Ready"), "status": "False", "observedGeneration": 1}
    stale = {"status": {"observedGeneration": 1, "conditions": [was_ready]}}
    Toucher(control_plane, namespace, "demo").patch(stale, "/status")
    repaired = wait_settled(control_plane, namespace, "demo", timeout=30)
    assert {c["type"] for c in repaired["status"]["conditions"]} >= {"Ready", "Progressing", "Degraded", "Stalled"}

    # Another tool (a policy controller) adds a condition of its own: the operator's next status
    # writes, for an edit, keep it.
    policy = {
        "type": "PolicyCompliant",
        "status": "True",
        "reason": "Checked",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    Toucher(control_plane, namespace, "demo").patch(
        {"status": {"conditions": [*repaired["status"]["conditions"], policy]}}, "/status"
    )
    edit = agentos_body("demo", databases=POSTGRES)
    edit["spec"]["agents"][0]["instructions"] = ["Be brief."]
    control_plane.apply(edit, namespace)
    edited = wait_settled(control_plane, namespace, "demo", timeout=90)
    assert condition(edited, "Ready")["observedGeneration"] == 3
    assert condition(edited, "PolicyCompliant") == policy
    assert installed.refused() == []


def operator_quiet(
    cluster: ControlPlane, requests: Callable[[int], list[dict[str, Any]]], toucher: Toucher
) -> Callable[[], bool]:
    """A probe: whether 20 more touches (20 more watch events) passed with no request by the operator."""

    def probe() -> bool:
        mark, before = cluster.audit_mark(), toucher.written
        eventually(lambda: toucher.written >= before + 20, timeout=30, what="20 more touches")
        return requests(mark) == []

    return probe
