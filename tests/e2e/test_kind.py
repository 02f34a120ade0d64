"""End to end on a kind cluster (scripts/e2e-kind.sh): the operator, the runtime and a test model.

Skipped unless AGENTOS_E2E=1 and kubectl reaches a cluster; this machine has neither, so the
suite has only been checked offline (shellcheck, manifest validation), never run here.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
NAMESPACE = "agentos-e2e"
RUNTIME_URL = os.environ.get("AGENTOS_E2E_URL", "http://127.0.0.1:7777")


def cluster_reachable() -> bool:
    if os.environ.get("AGENTOS_E2E") != "1" or not shutil.which("kubectl"):
        return False
    probe = subprocess.run(["kubectl", "version", "--request-timeout=5s"], capture_output=True)
    return probe.returncode == 0


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not cluster_reachable(), reason="needs AGENTOS_E2E=1 and a reachable cluster (scripts/e2e-kind.sh)"
    ),
]


def kubectl(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


def get_json(*args: str) -> dict[str, Any]:
    return json.loads(kubectl("get", "-n", NAMESPACE, "-o", "json", *args))  # type: ignore[no-any-return]


def eventually(check: Callable[[], Any], *, timeout: float = 180, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(2)  # polling a real cluster: there is no event to wait on from here
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


@pytest.fixture(scope="module")
def deployed() -> Iterator[None]:
    kubectl("apply", "-f", "-", stdin=kubectl("create", "namespace", NAMESPACE, "--dry-run=client", "-o", "yaml"))
    kubectl("apply", "-f", str(HERE / "manifests" / "fake-openai.yaml"))
    kubectl("apply", "-f", str(HERE / "manifests" / "agentos.yaml"))
    kubectl("wait", "-n", NAMESPACE, "--for=condition=Ready", "agentosconfig/e2e", "--timeout=300s")
    yield
    kubectl("delete", "namespace", NAMESPACE, "--wait=true", "--timeout=300s")


def test_the_resource_becomes_ready_with_its_children_and_status(deployed: None) -> None:
    resource = get_json("agentosconfig", "e2e")
    ready = next(c for c in resource["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert resource["status"]["observedGeneration"] == resource["metadata"]["generation"]
    assert resource["status"]["url"] == f"http://e2e.{NAMESPACE}.svc:7777"
    for kind, name in (("configmap", "e2e-config"), ("secret", "e2e-env"), ("deployment", "e2e"), ("service", "e2e")):
        child = get_json(kind, name)
        assert child["metadata"]["ownerReferences"][0]["uid"] == resource["metadata"]["uid"]
    config = get_json("configmap", "e2e-config")["data"]["config.yaml"]
    assert "e2e-first-key" not in config


def test_an_agent_answers_over_http_through_the_service(deployed: None) -> None:
    def health() -> bool:
        try:
            return httpx.get(f"{RUNTIME_URL}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    eventually(health, what="the runtime's /health on the node port")
    key = base64.b64decode(get_json("secret", "e2e-env")["data"]["OS_SECURITY_KEY"]).decode()
    headers = {"Authorization": f"Bearer {key}"}
    agents = httpx.get(f"{RUNTIME_URL}/agents", headers=headers, timeout=10).json()
    assert [a["id"] for a in agents] == ["assistant"]
    run = httpx.post(
        f"{RUNTIME_URL}/agents/assistant/runs",
        data={"message": "hello", "stream": "false"},
        headers=headers,
        timeout=30,
    )
    assert run.status_code == 200 and run.json()["status"] == "COMPLETED" and run.json()["content"]


def test_rotating_the_referenced_secret_rolls_the_pods(deployed: None) -> None:
    before = get_json("agentosconfig", "e2e")["status"]["configHash"]
    template_before = get_json("deployment", "e2e")["spec"]["template"]["metadata"]["annotations"]
    patch = json.dumps({"stringData": {"api-key": "e2e-second-key"}})
    kubectl("patch", "-n", NAMESPACE, "secret", "model-credentials", "--type=merge", "-p", patch)
    after = eventually(
        lambda: (h := get_json("agentosconfig", "e2e")["status"].get("configHash")) != before and h,
        what="a new config hash after the Secret rotation",
    )
    annotations = get_json("deployment", "e2e")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["agentos.dev/config-hash"] != template_before["agentos.dev/config-hash"]
    assert after
    kubectl("rollout", "status", "-n", NAMESPACE, "deployment/e2e", "--timeout=300s")


def test_deleting_the_resource_removes_everything_it_owns(deployed: None) -> None:
    kubectl("delete", "-n", NAMESPACE, "agentosconfig", "e2e", "--wait=true", "--timeout=120s")

    def nothing_left() -> bool:
        out = kubectl(
            "get",
            "-n",
            NAMESPACE,
            "deploy,svc,cm,secret,pvc,hpa,pdb",
            "-l",
            "app.kubernetes.io/instance=e2e",
            "-o",
            "name",
        )
        return out.strip() == ""

    eventually(nothing_left, what="garbage collection of the owned children")
