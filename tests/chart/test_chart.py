"""The Helm chart, rendered by a real helm 3 binary: lint, schema-valid output, least privilege."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "agentos-operator"
HELM = shutil.which("helm", path=str(ROOT / ".venv" / "bin")) or shutil.which("helm")
KUBE_VERSIONS = ("1.31.0", "1.35.0")

VALUE_SETS: dict[str, list[str]] = {
    "defaults": [],
    "namespaced": ["--set", "rbac.namespaces={team-a,team-b}"],
    "gitops-no-crds": ["--set", "crds.install=false", "--set", "metrics.serviceMonitor.enabled=true"],
    "network-policy": ["--set", "networkPolicy.enabled=true", "--set", "networkPolicy.apiServerCIDRs={10.96.0.1/32}"],
    "ha": [
        "--set",
        "replicaCount=2",
        "--set",
        "podDisruptionBudget.enabled=true",
        "--set",
        "image.tag=1.2.3",
        "--set",
        "rbac.clusterWideSecretWatch=false",
    ],
}


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    assert HELM, "helm is not installed: run scripts/install-helm.sh"
    home = tmp_path_factory.mktemp("helm-home")
    os.environ.setdefault("HELM_CACHE_HOME", str(home / "cache"))
    os.environ.setdefault("HELM_CONFIG_HOME", str(home / "config"))
    os.environ.setdefault("HELM_DATA_HOME", str(home / "data"))
    yield [HELM]


def render(helm: list[str], *args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [*helm, "template", "rel", str(CHART), "--namespace", "agentos-system", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_the_chart_passes_helm_lint_strict_for_every_value_set(helm: list[str]) -> None:
    for name, args in VALUE_SETS.items():
        result = subprocess.run([*helm, "lint", "--strict", str(CHART), *args], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_rendered_document_is_valid_kubernetes(helm: list[str], value_set: str, kube_version: str) -> None:
    docs = render(helm, *VALUE_SETS[value_set])
    assert docs
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            continue  # a Prometheus Operator type: no upstream schema to check against
        kubernetes_validate.validate(doc, kube_version, strict=True)


def test_the_chart_ships_exactly_the_generated_crd(helm: list[str]) -> None:
    committed = yaml.safe_load((ROOT / "crds" / "agentosconfigs.agentos.dev.yaml").read_text(encoding="utf-8"))
    [crd] = of_kind(render(helm), "CustomResourceDefinition")
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert crd["spec"] == committed["spec"]
    assert crd["metadata"]["name"] == committed["metadata"]["name"] == "agentosconfigs.agentos.dev"


def test_the_crd_can_be_left_to_gitops(helm: list[str]) -> None:
    assert not of_kind(render(helm, *VALUE_SETS["gitops-no-crds"]), "CustomResourceDefinition")


def test_rbac_never_grants_wildcards(helm: list[str]) -> None:
    for args in VALUE_SETS.values():
        for role in of_kind(render(helm, *args), "ClusterRole") + of_kind(render(helm, *args), "Role"):
            for rule in role["rules"]:
                for field in ("verbs", "resources", "apiGroups"):
                    assert "*" not in rule.get(field, []), (role["metadata"]["name"], rule)
                assert not {"update", "deletecollection", "escalate", "bind", "impersonate"} & set(rule["verbs"])


def secret_verbs(role: dict[str, Any]) -> set[str]:
    return {v for rule in role["rules"] if "secrets" in rule["resources"] for v in rule["verbs"]}


def test_cluster_wide_secret_listing_is_granted_only_when_the_values_ask_for_it(helm: list[str]) -> None:
    [watching] = of_kind(render(helm), "ClusterRole")
    assert {"list", "watch"} <= secret_verbs(watching)
    [not_watching] = of_kind(render(helm, *VALUE_SETS["ha"]), "ClusterRole")
    assert not {"list", "watch"} & secret_verbs(not_watching)
    [deployment] = of_kind(render(helm, *VALUE_SETS["ha"]), "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AGENTOS_WATCH_SECRETS"] == "false"


def test_several_operator_replicas_turn_on_leader_election(helm: list[str]) -> None:
    def env_of(args: list[str]) -> dict[str, str]:
        [deployment] = of_kind(render(helm, *args), "Deployment")
        return {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}

    assert env_of(VALUE_SETS["defaults"])["AGENTOS_LEADER_ELECTION"] == "false"
    assert env_of(VALUE_SETS["ha"])["AGENTOS_LEADER_ELECTION"] == "true"


def test_namespaced_mode_renders_roles_per_namespace_and_no_cluster_grant(helm: list[str]) -> None:
    docs = render(helm, *VALUE_SETS["namespaced"])
    assert not of_kind(docs, "ClusterRoleBinding") and not of_kind(docs, "ClusterRole")
    assert sorted(r["metadata"]["namespace"] for r in of_kind(docs, "Role")) == ["team-a", "team-b"]
    for binding in of_kind(docs, "RoleBinding"):
        assert binding["subjects"][0]["namespace"] == "agentos-system"
    [deployment] = of_kind(docs, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["operator", "--namespace=team-a", "--namespace=team-b"]


def test_the_operator_pod_runs_under_the_restricted_pod_security_standard(helm: list[str]) -> None:
    for args in VALUE_SETS.values():
        [deployment] = of_kind(render(helm, *args), "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["capabilities"]["drop"] == ["ALL"]
            assert container["livenessProbe"] and container["readinessProbe"]
            assert container["resources"]["limits"]["memory"]


def test_the_image_tag_defaults_to_the_app_version(helm: list[str]) -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    [default] = of_kind(render(helm), "Deployment")
    assert default["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{app_version}")
    [pinned] = of_kind(render(helm, *VALUE_SETS["ha"]), "Deployment")
    assert pinned["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.2.3")


def test_optional_objects_appear_only_when_enabled(helm: list[str]) -> None:
    defaults = render(helm)
    assert not of_kind(defaults, "PodDisruptionBudget") and not of_kind(defaults, "ServiceMonitor")
    assert of_kind(render(helm, *VALUE_SETS["ha"]), "PodDisruptionBudget")
    assert of_kind(render(helm, *VALUE_SETS["gitops-no-crds"]), "ServiceMonitor")


def test_the_values_schema_describes_every_value_and_rejects_unknown_ones(helm: list[str]) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(node: dict[str, Any], path: str) -> Iterator[str]:
        for name, prop in node.get("properties", {}).items():
            if not prop.get("description"):
                yield f"{path}.{name}"
            yield from walk(prop, f"{path}.{name}")

    assert list(walk(schema, "values")) == []
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(schema["properties"])
    bad = subprocess.run(
        [*helm, "template", "rel", str(CHART), "--set", "replicaCount=two"], capture_output=True, text=True
    )
    assert bad.returncode != 0 and "replicaCount" in bad.stderr
