"""The Helm chart, rendered by a real helm 3 binary: lint, schema-valid output, least privilege."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from agentos_operator import spec
from agentos_operator.kube import kinds
from agentos_operator.kube.children import PRUNED_KINDS
from agentos_operator.settings import OperatorSettings
from agentos_operator.watching import CHILD_KINDS

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "agentos-operator"
KUBE_VERSIONS = ("1.33.0", "1.37.0")

VALUE_SETS: dict[str, list[str]] = {
    "defaults": [],
    "namespaced": ["--set", "rbac.namespaces={team-a,team-b}"],
    "two-replicas": ["--set", "replicaCount=2"],
    "namespaced-two-replicas": ["--set", "rbac.namespaces={team-a,agentos-system}", "--set", "replicaCount=2"],
    "gitops-no-crds": [
        "--set",
        "crds.install=false",
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.prometheusRule.enabled=true",
    ],
    "ids-left-to-the-platform": ["--set", "fixedUserIds=false"],
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
    "pinned-and-prioritised": [
        "--set",
        "image.tag=sha256:" + "0123456789abcdef" * 4,
        "--set",
        "priorityClassName=system-cluster-critical",
        "--set",
        "replicaCount=3",
        "--set",
        "podDisruptionBudget.enabled=true",
        "--set",
        "podDisruptionBudget.minAvailable=50%",
    ],
}


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
        if doc["kind"] in ("ServiceMonitor", "PrometheusRule"):
            continue  # Prometheus Operator types: no upstream schema to check against
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
                assert not {"deletecollection", "escalate", "bind", "impersonate"} & set(rule["verbs"])
                if "update" in rule["verbs"] and not aggregated(role):  # what blockOwnerDeletion needs, no more
                    assert rule["resources"] == ["agentosconfigs/finalizers"], rule


AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"


def aggregated(role: dict[str, Any]) -> bool:
    """Whether ``role`` is one of the chart's additions to the built-in user-facing roles (people's, not the operator's)."""
    return any(label.startswith(AGGREGATE_TO) for label in role["metadata"].get("labels", {}))


def operator_cluster_roles(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [role for role in of_kind(docs, "ClusterRole") if not aggregated(role)]


def secret_verbs(role: dict[str, Any]) -> set[str]:
    return {v for rule in role["rules"] if "secrets" in rule["resources"] for v in rule["verbs"]}


def test_cluster_wide_secret_listing_is_granted_only_when_the_values_ask_for_it(helm: list[str]) -> None:
    [watching] = operator_cluster_roles(render(helm))
    assert {"list", "watch"} <= secret_verbs(watching)
    [not_watching] = operator_cluster_roles(render(helm, *VALUE_SETS["ha"]))
    assert not {"list", "watch"} & secret_verbs(not_watching)
    [deployment] = of_kind(render(helm, *VALUE_SETS["ha"]), "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AGENTOS_WATCH_SECRETS"] == "false"


def test_the_operator_elects_a_leader_even_with_one_replica(helm: list[str]) -> None:
    """A rolling update runs the new pod beside the old one (maxSurge 1, maxUnavailable 0): with
    one replica too, only the Lease holder may write, or the two versions fight over every child."""

    def env_of(args: list[str]) -> dict[str, str]:
        [deployment] = of_kind(render(helm, *args), "Deployment")
        return {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}

    assert env_of(VALUE_SETS["defaults"])["AGENTOS_LEADER_ELECTION"] == "true"
    assert env_of(VALUE_SETS["ha"])["AGENTOS_LEADER_ELECTION"] == "true"


def test_the_operator_values_reach_the_operator_settings(helm: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``operator.*`` says is what the operator runs with: its env read as the operator reads it."""
    args = [
        *("--set", "operator.resyncIntervalSeconds=120"),
        *("--set", "operator.maxConcurrentReconciles=25"),
        *("--set", "operator.podsGraceSeconds=90"),
        *("--set", "fixedUserIds=false"),
    ]
    [deployment] = of_kind(render(helm, *args), "Deployment")
    env = {
        e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = OperatorSettings()
    assert (settings.resync_seconds, settings.max_concurrent_reconciles, settings.pods_grace_seconds) == (120, 25, 90)
    assert settings.runtime_fixed_user_ids is False
    assert not {"runAsUser", "runAsGroup", "fsGroup"} & set(deployment["spec"]["template"]["spec"]["securityContext"])

    fields = OperatorSettings.model_fields
    [default_deployment] = of_kind(render(helm), "Deployment")
    default_env = {
        e["name"]: e.get("value") for e in default_deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert default_env["AGENTOS_MAX_CONCURRENT_RECONCILES"] == str(fields["max_concurrent_reconciles"].default)
    assert float(default_env["AGENTOS_PODS_GRACE_SECONDS"]) == fields["pods_grace_seconds"].default
    assert default_env["AGENTOS_RUNTIME_FIXED_USER_IDS"] == "true" and fields["runtime_fixed_user_ids"].default is True
    assert default_deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001


@pytest.mark.parametrize("value", ["operator.maxConcurrentReconciles=0", "operator.podsGraceSeconds=0"])
def test_operator_values_out_of_range_are_refused_by_the_schema(helm: list[str], value: str) -> None:
    result = subprocess.run(
        [*helm, "template", "rel", str(CHART), "--set", value], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and value.split("=")[0].split(".")[1] in result.stderr


def test_namespaced_mode_renders_roles_per_namespace_and_no_cluster_grant(helm: list[str]) -> None:
    docs = render(helm, *VALUE_SETS["namespaced"])
    assert not of_kind(docs, "ClusterRoleBinding") and not operator_cluster_roles(docs)
    assert sorted(r["metadata"]["namespace"] for r in watched_roles(docs)) == ["team-a", "team-b"]
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


def containers(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for d in of_kind(docs, "Deployment") for c in d["spec"]["template"]["spec"]["containers"]]


def repeated(values: list[Any]) -> list[Any]:
    return sorted({value for value in values if values.count(value) > 1}, key=str)


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_no_container_repeats_an_env_name_or_a_port(helm: list[str], value_set: str) -> None:
    # Server-side apply (Argo CD, Flux) merges env by name and ports by number: a repeat is refused.
    docs = render(helm, *VALUE_SETS[value_set])
    for container in containers(docs):
        assert repeated([e["name"] for e in container.get("env", [])]) == [], container["name"]
        ports = container.get("ports", [])
        assert repeated([p["name"] for p in ports]) == [], container["name"]
        assert repeated([(p["containerPort"], p.get("protocol", "TCP")) for p in ports]) == [], container["name"]
    for service in of_kind(docs, "Service"):
        ports = service["spec"]["ports"]
        assert repeated([p["name"] for p in ports]) == repeated([p["port"] for p in ports]) == []


@pytest.mark.parametrize("value_set", ["defaults", "two-replicas", "namespaced"])
def test_the_chart_renders_objects_a_1_31_api_server_accepts_strictly(helm: list[str], value_set: str) -> None:
    for doc in render(helm, *VALUE_SETS[value_set]):
        kubernetes_validate.validate(doc, "1.33.0", strict=True)


def test_the_metrics_and_health_ports_must_differ(helm: list[str]) -> None:
    same = subprocess.run(
        [*helm, "template", "rel", str(CHART), "--set", "metrics.port=8081"], capture_output=True, text=True
    )
    assert same.returncode != 0
    assert "metrics.port and health.port are both 8081" in same.stderr and "different ports" in same.stderr


LEADER_ROLE = "rel-agentos-operator-leader-election"
Grants = dict[tuple[str, str], set[str]]


def watched_roles(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ClusterRole, or the Role of each watched namespace (not the leader-election Role, nor
    the roles aggregated into the built-in ones)."""
    roles = operator_cluster_roles(docs) + of_kind(docs, "Role")
    return [role for role in roles if role["metadata"]["name"] != LEADER_ROLE]


def grants(role: dict[str, Any]) -> Grants:
    """(API group, resource) -> verbs, over every rule of ``role`` (rules naming objects included)."""
    table: Grants = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                table.setdefault((group, resource), set()).update(rule["verbs"])
    return table


def what_the_operator_does(*, watches_secrets: bool) -> Grants:
    """The verbs the operator's code uses in a watched namespace, from the code's own tables.

    Watched kinds are listed and watched (and read one by one when the watch is behind);
    rendered children are written with server-side apply, which the API server authorises as
    `patch`, and as `create` when the object is new; only ``PRUNED_KINDS`` are ever deleted.
    """
    table: Grants = {}

    def grant(kind: kinds.Kind, *verbs: str) -> None:
        table.setdefault((kind.api_version.rpartition("/")[0], kind.plural), set()).update(verbs)

    grant(kinds.AGENTOS_CONFIG, "get", "list", "watch")
    table[("agentos.dev", "agentosconfigs/status")] = {"patch"}
    table[("agentos.dev", "agentosconfigs/finalizers")] = {"update"}
    for kind in CHILD_KINDS:
        grant(kind, "get", "list", "watch", "create", "patch")
    for kind in PRUNED_KINDS:
        grant(kind, "delete")
    grant(kinds.SECRET, "get", "create", "patch", *(("list", "watch") if watches_secrets else ()))
    grant(kinds.CONFIG_MAP, "get", "list", "watch")  # knowledge sources: read, and watched by metadata
    grant(kinds.EVENT, "create")
    grant(kinds.POD, "get", "list")  # an unready resource's pods, to say why (pods.py); never watched
    return table


# Cluster-wide only: kopf follows the CRD. Namespaces are not followed: the chart runs the operator
# with --all-namespaces, never a pattern (tests/operator/kopf/test_scope.py shows it asks nothing of them).
KOPF_CRD_WATCH: Grants = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
}


def test_cluster_wide_rbac_grants_exactly_what_the_operator_does(helm: list[str]) -> None:
    [watching] = operator_cluster_roles(render(helm))
    assert grants(watching) == {**what_the_operator_does(watches_secrets=True), **KOPF_CRD_WATCH}
    [not_watching] = operator_cluster_roles(render(helm, "--set", "rbac.clusterWideSecretWatch=false"))
    assert grants(not_watching) == {**what_the_operator_does(watches_secrets=False), **KOPF_CRD_WATCH}


def test_namespaced_rbac_grants_exactly_what_the_operator_does_in_each_namespace(helm: list[str]) -> None:
    # Namespaced mode always watches Secrets: the grant stops at the listed namespaces anyway.
    for value_set in ("namespaced", "namespaced-two-replicas"):
        for role in watched_roles(render(helm, *VALUE_SETS[value_set])):
            assert grants(role) == what_the_operator_does(watches_secrets=True), role["metadata"]["namespace"]


def test_owner_references_that_block_deletion_are_allowed_in_both_modes(helm: list[str]) -> None:
    # OwnerReferencesPermissionEnforcement: blockOwnerDeletion needs update on the owner's finalizers.
    for value_set in ("defaults", "namespaced"):
        for role in watched_roles(render(helm, *VALUE_SETS[value_set])):
            assert grants(role)[("agentos.dev", "agentosconfigs/finalizers")] == {"update"}


def test_no_secret_is_ever_deleted(helm: list[str]) -> None:
    for args in VALUE_SETS.values():
        for role in watched_roles(render(helm, *args)):
            assert "delete" not in grants(role)[("", "secrets")]


@pytest.mark.parametrize("value_set", ["defaults", "namespaced", "two-replicas", "namespaced-two-replicas"])
def test_the_replicas_may_hold_their_own_lease_in_the_release_namespace_in_every_mode(
    helm: list[str], value_set: str
) -> None:
    docs = render(helm, *VALUE_SETS[value_set])
    [role] = [r for r in of_kind(docs, "Role") if r["metadata"]["name"] == LEADER_ROLE]
    assert role["metadata"]["namespace"] == "agentos-system"
    [deployment] = of_kind(docs, "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    lease = env["AGENTOS_LEASE_NAME"]
    assert role["rules"] == [
        # Reading every Lease of the release namespace: a claim of a release gone from it is taken over.
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease],
            "verbs": ["patch"],
        },
    ]
    [binding] = [b for b in of_kind(docs, "RoleBinding") if b["metadata"]["name"] == LEADER_ROLE]
    assert binding["metadata"]["namespace"] == "agentos-system"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": LEADER_ROLE}
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "rel-agentos-operator", "namespace": "agentos-system"}
    ]
    # The Lease is the only thing granted in the release namespace when it is not watched.
    if value_set in ("defaults", "two-replicas", "namespaced"):
        others = [r for r in of_kind(docs, "Role") if r["metadata"]["namespace"] == "agentos-system"]
        assert others == [role]


def test_leases_are_granted_nowhere_but_the_release_namespace(helm: list[str]) -> None:
    for args in VALUE_SETS.values():
        for role in watched_roles(render(helm, *args)):
            assert not any(group == "coordination.k8s.io" for group, _ in grants(role))


def test_two_releases_in_one_namespace_elect_with_different_leases(helm: list[str]) -> None:
    def lease_of(release: str) -> str:
        out = subprocess.run(
            [*helm, "template", release, str(CHART), "--namespace", "ops", "--set", "replicaCount=2"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        [deployment] = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment"]
        env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["AGENTOS_LEADER_ELECTION"] == "true"
        return str(env["AGENTOS_LEASE_NAME"])

    assert lease_of("team-a") != lease_of("team-b")


def render_notes(helm: list[str], tmp_path: Path, *args: str) -> str:
    """NOTES.txt as `helm install` prints it (helm template skips it: it is wrapped in a ConfigMap here)."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    (chart / "templates" / "_notes.tpl").write_text('{{- define "notes" -}}\n' + notes + "{{- end -}}\n")
    (chart / "templates" / "notes.yaml").write_text(
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: {{ include "notes" . | quote }}\n'
    )
    out = subprocess.run(
        [
            *helm,
            "template",
            "rel",
            str(chart),
            "--namespace",
            "agentos-system",
            "--show-only",
            "templates/notes.yaml",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return str(yaml.safe_load(out)["data"]["notes"])


def test_the_install_notes_say_what_the_operator_may_do_with_secrets_in_each_mode(
    helm: list[str], tmp_path: Path
) -> None:
    watching = render_notes(helm, tmp_path / "watching")
    assert (
        "creates\nand patches the ones it writes (`<name>-env`, `<name>-security-key`), and never deletes one"
        in watching
    )
    assert "lists and watches them, asking for metadata only" in watching
    assert "rbac.clusterWideSecretWatch=false to leave list and watch of Secrets out" in watching
    not_watching = render_notes(helm, tmp_path / "not-watching", "--set", "rbac.clusterWideSecretWatch=false")
    assert "does not list or watch them" in not_watching and "within 300 seconds" in not_watching
    namespaced = render_notes(helm, tmp_path / "namespaced", *VALUE_SETS["namespaced"])
    assert "Secrets, in the watched namespaces only:" in namespaced
    assert "lists and watches them" in namespaced and "clusterWideSecretWatch" not in namespaced


def test_the_install_notes_quickstart_creates_what_the_example_references_and_waits_for_it(
    helm: list[str], tmp_path: Path
) -> None:
    notes = render_notes(helm, tmp_path / "quickstart")
    example = yaml.safe_load((ROOT / "examples" / "minimal-sqlite.yaml").read_text(encoding="utf-8"))
    [ref] = [model["apiKeySecretRef"] for model in example["spec"]["models"]]
    assert f"kubectl create secret generic {ref['name']} -n <namespace> --from-literal={ref['key']}=" in notes
    assert "examples/minimal-sqlite.yaml" in notes
    assert f"agentosconfig/{example['metadata']['name']} " in notes


def template(helm: list[str], values: dict[str, Any], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`helm template` with ``values`` as a values file (newlines and all, as a hostile user would write them).

    Written as JSON (which is YAML), so that every string stays a string: PyYAML leaves `1e3` unquoted,
    and helm reads that as a number.
    """
    path = tmp_path / f"values-{len(list(tmp_path.glob('values-*.yaml')))}.yaml"
    path.write_text(json.dumps(values))
    return subprocess.run(
        [*helm, "template", "rel", str(CHART), "--namespace", "agentos-system", "-f", str(path), *args],
        capture_output=True,
        text=True,
    )


# Each value the tester printed unquoted, with what it tried to add below it at that place's indentation.
INJECTIONS: dict[str, dict[str, Any]] = {
    "priorityClassName": {"priorityClassName": "x\n      hostPID: true"},
    "image.repository": {"image": {"repository": "x\n          command: [sh, -c, id]"}},
    "image.tag": {"image": {"tag": "1.0\n          command: [sh, -c, id]"}},
    "runtimeImage.repository": {"runtimeImage": {"repository": "x\n              valueFrom: {}"}},
    "networkPolicy.apiServerCIDRs.0": {
        "networkPolicy": {
            "enabled": True,
            "apiServerCIDRs": ["10.0.0.1/32\n        - ipBlock:\n            cidr: 0.0.0.0/0"],
        }
    },
    "podDisruptionBudget.minAvailable": {
        "replicaCount": 3,
        "podDisruptionBudget": {"enabled": True, "minAvailable": "1\n  maxUnavailable: 3"},
    },
}


@pytest.mark.parametrize("value", sorted(INJECTIONS))
def test_a_value_that_would_inject_yaml_is_refused_by_the_schema(helm: list[str], tmp_path: Path, value: str) -> None:
    result = template(helm, INJECTIONS[value], tmp_path)
    assert result.returncode != 0
    assert f"- {value}:" in result.stderr, result.stderr


def test_the_testers_privileged_init_container_is_refused(helm: list[str], tmp_path: Path) -> None:
    hostile = (
        "x\n      hostPID: true\n      initContainers: [{name: x, image: busybox, securityContext: {privileged: true}}]"
    )
    result = template(helm, {"priorityClassName": hostile}, tmp_path)
    assert result.returncode != 0 and "priorityClassName" in result.stderr


@pytest.mark.parametrize("value", sorted(INJECTIONS))
def test_a_value_the_schema_would_refuse_still_renders_as_one_scalar(
    helm: list[str], tmp_path: Path, value: str
) -> None:
    # Quoting is the second wall: without the schema, the value stays one string where it is printed.
    result = template(helm, INJECTIONS[value], tmp_path, "--skip-schema-validation")
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    [deployment] = of_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert "hostPID" not in pod and "command" not in container and "valueFrom" not in env["AGENTOS_RUNTIME_IMAGE"]
    if value == "priorityClassName":
        assert pod["priorityClassName"] == INJECTIONS[value]["priorityClassName"]
    elif value.startswith("image."):
        assert INJECTIONS[value]["image"][value.partition(".")[2]] in container["image"]
    elif value.startswith("runtimeImage."):
        assert env["AGENTOS_RUNTIME_IMAGE"]["value"].startswith(INJECTIONS[value]["runtimeImage"]["repository"])
    elif value.startswith("networkPolicy."):
        [policy] = of_kind(docs, "NetworkPolicy")
        assert policy["spec"]["egress"][1]["to"] == [
            {"ipBlock": {"cidr": INJECTIONS[value]["networkPolicy"]["apiServerCIDRs"][0]}}
        ]
    else:
        [budget] = of_kind(docs, "PodDisruptionBudget")
        assert set(budget["spec"]) == {"minAvailable", "selector"}
        assert budget["spec"]["minAvailable"] == INJECTIONS[value]["podDisruptionBudget"]["minAvailable"]


def test_values_the_schema_accepts_that_yaml_would_read_as_other_types_render_as_strings(
    helm: list[str], tmp_path: Path
) -> None:
    values = {"priorityClassName": "true", "rbac": {"namespaces": ["null", "yes", "123"]}, "image": {"tag": "1e3"}}
    result = template(helm, values, tmp_path)
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    [deployment] = of_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "true"
    assert pod["containers"][0]["args"] == ["operator", "--namespace=null", "--namespace=yes", "--namespace=123"]
    assert sorted(r["metadata"]["namespace"] for r in watched_roles(docs)) == ["123", "null", "yes"]
    assert pod["containers"][0]["image"] == "ghcr.io/kube-agentos/operator:1e3"


def test_an_image_pinned_by_digest_is_referenced_with_an_at_sign(helm: list[str]) -> None:
    digest = "sha256:" + "0123456789abcdef" * 4
    [deployment] = of_kind(
        render(helm, "--set", f"image.tag={digest}", "--set", f"runtimeImage.tag={digest}"), "Deployment"
    )
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"ghcr.io/kube-agentos/operator@{digest}"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["AGENTOS_RUNTIME_IMAGE"] == f"ghcr.io/kube-agentos/runtime@{digest}"


@pytest.mark.parametrize(
    ("value", "good", "bad"),
    [
        (
            "image.repository",
            ["registry.local:5000/team/operator", "operator", "a/b__c/d-e.f"],
            ["team/Operator", "x:1.0", "x@sha256:00", "a//b"],
        ),
        (
            "runtimeImage.repository",
            ["registry.local:5000/team/runtime", "localhost/runtime", "Registry.Example.com/team/runtime"],
            ["UPPER/x", "Team/runtime", "x:1.0", "a//b"],  # no '.', no port: a path, which is lowercase
        ),
        ("image.tag", ["1.2.3", "v1_rc.2-x", "sha256:" + "a" * 64], [".hidden", "-x", "a" * 129, "sha256:ABC", "a b"]),
        ("priorityClassName", ["system-cluster-critical", "a.b-c"], ["Upper", "-x", "a_b", "a" * 254]),
        (
            "networkPolicy.apiServerCIDRs",
            ["10.96.0.1/32", "0.0.0.0/0", "fd00::1/128", "2001:db8::/32", "::/0"],
            ["10.96.0.1", "256.0.0.0/8", "10.0.0.0/33", "fd00::/129", "host/32"],
        ),
        ("podDisruptionBudget.minAvailable", ["0", "2", "50%", "66%"], ["-1", "101%", "1.5", "50 %", "half"]),
    ],
)
def test_the_schema_refuses_malformed_values_and_takes_wellformed_ones(
    helm: list[str], value: str, good: list[str], bad: list[str]
) -> None:
    def outcome(text: str) -> subprocess.CompletedProcess[str]:
        setting = f"{{{text}}}" if value.endswith("CIDRs") else text
        kind = "--set" if value.endswith("minAvailable") and text.lstrip("-").isdigit() else "--set-string"
        args = [kind, f"{value}={setting}"]
        if value.startswith("networkPolicy."):
            args += ["--set", "networkPolicy.enabled=true"]
        if value.startswith("podDisruptionBudget."):
            args += ["--set", "podDisruptionBudget.enabled=true", "--set", "replicaCount=3"]
        return subprocess.run([*helm, "template", "rel", str(CHART), *args], capture_output=True, text=True)

    for text in good:
        assert outcome(text).returncode == 0, (text, outcome(text).stderr)
    for text in bad:
        result = outcome(text)
        assert result.returncode != 0 and value in result.stderr, (text, result.stderr)


# A printed value is quoted, or serialised (toJson, toYaml), or a number (int); a block is included with nindent.
SAFE_PRINT = re.compile(r"\|\s*(quote|toJson|int|nindent \d+|indent \d+)\s*$")
CONTROL = re.compile(r"^(if|else|end|range|with|define|fail|/\*|\$[A-Za-z_]*\s*:?=)")


def test_every_value_the_templates_print_is_quoted_or_serialised() -> None:
    unsafe = []
    for path in sorted((CHART / "templates").iterdir()):
        if path.name == "NOTES.txt":  # printed to the installer, not parsed as YAML
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            # In _helpers.tpl, names are built for callers to quote; only its `key: {{ value }}` lines print YAML.
            if path.name == "_helpers.tpl" and not re.search(r"^\s*[\w./-]+:\s+\{\{", line):
                continue
            for action in re.findall(r"\{\{-?\s*(.*?)\s*-?\}\}", line):
                if CONTROL.match(action) or action.startswith("toYaml"):
                    continue
                if not SAFE_PRINT.search(action):
                    unsafe.append(f"{path.name}:{number}: {{{{ {action} }}}}")
    assert unsafe == []


def bound_accounts(docs: list[dict[str, Any]]) -> set[tuple[str, str]]:
    bindings = of_kind(docs, "ClusterRoleBinding") + of_kind(docs, "RoleBinding")
    return {(s["namespace"], s["name"]) for b in bindings for s in b["subjects"]}


def test_a_service_account_the_chart_does_not_create_must_be_named(helm: list[str]) -> None:
    # Falling back to `default` would grant the operator's roles to every pod that runs as `default`.
    for mode in (VALUE_SETS["defaults"], VALUE_SETS["namespaced"]):
        unnamed = subprocess.run(
            [*helm, "template", "rel", str(CHART), "-n", "ops", "--set", "serviceAccount.create=false", *mode],
            capture_output=True,
            text=True,
        )
        assert unnamed.returncode != 0
        assert "serviceAccount.create=false and serviceAccount.name is empty" in unnamed.stderr
        assert 'the "ops" namespace\'s "default" ServiceAccount' in unnamed.stderr
        assert "set serviceAccount.name" in unnamed.stderr


def test_a_named_service_account_the_chart_does_not_create_is_the_one_bound(helm: list[str]) -> None:
    for mode in (VALUE_SETS["defaults"], VALUE_SETS["namespaced"]):
        docs = render(helm, "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=ops-sa", *mode)
        assert not of_kind(docs, "ServiceAccount")
        assert bound_accounts(docs) == {("agentos-system", "ops-sa")}
        [deployment] = of_kind(docs, "Deployment")
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "ops-sa"


def test_without_rbac_an_unnamed_service_account_is_the_namespace_default_and_nothing_is_bound(
    helm: list[str],
) -> None:
    docs = render(helm, "--set", "serviceAccount.create=false", "--set", "rbac.create=false")
    assert bound_accounts(docs) == set()
    [deployment] = of_kind(docs, "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "default"


def test_the_service_account_name_must_be_a_dns_subdomain(helm: list[str]) -> None:
    for bad in ("Ops_SA", "-ops", "ops sa", "a" * 254):
        result = subprocess.run(
            [*helm, "template", "rel", str(CHART), "--set-string", f"serviceAccount.name={bad}"],
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0 and "serviceAccount.name" in result.stderr, bad
    assert render(helm, "--set", "serviceAccount.name=agentos.operator-1")


DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
# What the API server asks of each kind's name. A Deployment's may be a subdomain, but its pods'
# hostnames come from it: Kubernetes advises a DNS label. RBAC names need only be path segments.
NAME_RULES: dict[str, tuple[re.Pattern[str], int]] = {
    "Service": (DNS_1035_LABEL, 63),
    "Deployment": (DNS_1123_LABEL, 63),
    "ServiceAccount": (DNS_1123_SUBDOMAIN, 253),
    "NetworkPolicy": (DNS_1123_SUBDOMAIN, 253),
    "PodDisruptionBudget": (DNS_1123_SUBDOMAIN, 253),
    "ServiceMonitor": (DNS_1123_SUBDOMAIN, 253),
    "PrometheusRule": (DNS_1123_SUBDOMAIN, 253),
    "CustomResourceDefinition": (DNS_1123_SUBDOMAIN, 253),
    "ClusterRole": (re.compile(r"[^/%]+"), 253),
    "ClusterRoleBinding": (re.compile(r"[^/%]+"), 253),
    "Role": (re.compile(r"[^/%]+"), 253),
    "RoleBinding": (re.compile(r"[^/%]+"), 253),
}
EVERYTHING_ON = [
    "--set",
    "metrics.serviceMonitor.enabled=true",
    "--set",
    "metrics.prometheusRule.enabled=true",
    "--set",
    "networkPolicy.enabled=true",
    "--set",
    "replicaCount=2",
    "--set",
    "podDisruptionBudget.enabled=true",
]


def render_release(helm: list[str], release: str, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [*helm, "template", release, str(CHART), "--namespace", "agentos-system", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.mark.parametrize("release", ["r" * 53, "x" * 20 + "-agentos-operator-" + "y" * 15, "a"])
@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_every_generated_name_fits_its_kind_even_for_the_longest_release_name(
    helm: list[str], release: str, mode: str
) -> None:
    assert len(release) <= 53  # helm's own limit on release names
    scope = VALUE_SETS["namespaced"] if mode == "namespaced" else []
    docs = render_release(helm, release, *EVERYTHING_ON, *scope)
    assert {doc["kind"] for doc in docs} >= {
        "Service",
        "Deployment",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
    }
    for doc in docs:
        name = doc["metadata"]["name"]
        pattern, limit = NAME_RULES[doc["kind"]]
        assert len(name) <= limit and pattern.fullmatch(name), (doc["kind"], name, len(name))
        for key, value in doc["metadata"].get("labels", {}).items():
            assert len(value) <= 63 and LABEL_VALUE.fullmatch(value), (doc["kind"], key, value)
    [deployment] = of_kind(docs, "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    lease = env["AGENTOS_LEASE_NAME"]
    assert len(lease) <= 253 and DNS_1123_SUBDOMAIN.fullmatch(lease)
    names = [(doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"]) for doc in docs]
    assert repeated(names) == []


def test_two_long_release_names_get_different_metrics_services(helm: list[str]) -> None:
    def service_of(release: str) -> str:
        [service] = of_kind(render_release(helm, release), "Service")
        return str(service["metadata"]["name"])

    assert service_of("r" * 52 + "a") != service_of("r" * 52 + "b")


def test_a_release_name_no_service_may_bear_is_refused_with_the_fix(helm: list[str]) -> None:
    for release in ("1rel", "team.a"):
        result = subprocess.run([*helm, "template", release, str(CHART)], capture_output=True, text=True)
        assert result.returncode != 0
        assert (
            "which is no DNS-1035 label" in result.stderr and "release name that starts with a letter" in result.stderr
        )
        assert render_release(helm, release, "--set", "metrics.enabled=false")


def refusal(helm: list[str], tmp_path: Path, values: dict[str, Any]) -> str:
    """What `helm template` says when it refuses ``values`` (it must refuse them)."""
    result = template(helm, values, tmp_path)
    assert result.returncode != 0, f"accepted {values}"
    return result.stderr


def test_resource_quantities_are_checked_with_the_operators_own_pattern(helm: list[str], tmp_path: Path) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    for key in ("requests", "limits"):
        quantities = schema["properties"]["resources"]["properties"][key]["additionalProperties"]
        assert quantities["pattern"] == spec.QUANTITY_PATTERN
    for bad in ("lots", "1Gb", "1 Gi", "-1", "", "128Mi\n    cpu: 64"):
        assert "resources.limits.memory" in refusal(helm, tmp_path, {"resources": {"limits": {"memory": bad}}})
    assert "resources.requests.cpu" in refusal(helm, tmp_path, {"resources": {"requests": {"cpu": -1}}})
    good = {"requests": {"cpu": "250m", "memory": "1.5Gi"}, "limits": {"cpu": 2, "memory": "512M"}}
    assert template(helm, {"resources": good}, tmp_path).returncode == 0


def test_replicas_and_watched_namespaces_stay_within_what_kubernetes_takes(helm: list[str], tmp_path: Path) -> None:
    assert "replicaCount" in refusal(helm, tmp_path, {"replicaCount": 101})
    assert "rbac.namespaces.0" in refusal(helm, tmp_path, {"rbac": {"namespaces": ["a" * 64]}})
    assert template(helm, {"replicaCount": 100, "rbac": {"namespaces": ["a" * 63]}}, tmp_path).returncode == 0


@pytest.mark.parametrize("cidrs", [None, []])
def test_a_network_policy_without_api_server_addresses_is_refused(
    helm: list[str], tmp_path: Path, cidrs: list[str] | None
) -> None:
    # `to:` with no address would let the operator reach every address on the API server's port.
    stderr = refusal(helm, tmp_path, {"networkPolicy": {"enabled": True, "apiServerCIDRs": cidrs}})
    if cidrs is None:  # `null` drops the value: the schema requires it
        assert "networkPolicy: apiServerCIDRs is required" in stderr
    else:
        assert "networkPolicy.apiServerCIDRs" in stderr


@pytest.mark.parametrize("label", ["app.kubernetes.io/name", "app.kubernetes.io/instance"])
def test_pod_labels_may_not_override_the_labels_the_deployment_selects_by(
    helm: list[str], tmp_path: Path, label: str
) -> None:
    stderr = refusal(helm, tmp_path, {"podLabels": {label: "other"}})
    assert f'podLabels sets "{label}", a label the Deployment selects its pods by' in stderr
    assert "remove it from podLabels" in stderr
    [deployment] = of_kind(render(helm, "--set", "podLabels.team=a"), "Deployment")
    assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "a"


def test_a_service_monitor_labels_may_not_repeat_the_charts(helm: list[str], tmp_path: Path) -> None:
    values = {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"app.kubernetes.io/name": "x"}}}}
    assert "metrics.serviceMonitor.labels sets" in refusal(helm, tmp_path, values)
    values["metrics"]["serviceMonitor"]["labels"] = {"release": "prometheus"}
    [monitor] = of_kind([d for d in yaml.safe_load_all(template(helm, values, tmp_path).stdout) if d], "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"


def test_a_service_monitor_without_the_metrics_service_is_refused(helm: list[str], tmp_path: Path) -> None:
    stderr = refusal(helm, tmp_path, {"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}})
    assert "metrics.serviceMonitor.enabled=true with metrics.enabled=false" in stderr
    assert "set metrics.enabled=true, or metrics.serviceMonitor.enabled=false" in stderr


@pytest.mark.parametrize(
    ("replicas", "min_available", "kept"),
    [(1, 1, 1), (2, 2, 2), (2, 3, 3), (3, "67%", 3), (2, "100%", 2), (1, "1%", 1)],
)
def test_a_disruption_budget_that_would_block_every_drain_is_refused(
    helm: list[str], tmp_path: Path, replicas: int, min_available: int | str, kept: int
) -> None:
    values = {"replicaCount": replicas, "podDisruptionBudget": {"enabled": True, "minAvailable": min_available}}
    stderr = refusal(helm, tmp_path, values)
    assert f"podDisruptionBudget.minAvailable={min_available} keeps {kept} of replicaCount={replicas}" in stderr
    assert "a node drain would wait forever" in stderr


@pytest.mark.parametrize(("replicas", "min_available"), [(2, 1), (3, 2), (3, "66%"), (2, "50%"), (1, 0), (1, "0%")])
def test_a_disruption_budget_that_leaves_a_pod_to_evict_is_rendered(
    helm: list[str], tmp_path: Path, replicas: int, min_available: int | str
) -> None:
    values = {"replicaCount": replicas, "podDisruptionBudget": {"enabled": True, "minAvailable": min_available}}
    result = template(helm, values, tmp_path)
    assert result.returncode == 0, result.stderr
    [budget] = of_kind([d for d in yaml.safe_load_all(result.stdout) if d], "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == min_available


def test_no_mode_grants_namespaces_since_the_chart_never_runs_a_namespace_pattern(
    helm: list[str], tmp_path: Path
) -> None:
    for args in VALUE_SETS.values():
        docs = render(helm, *args)
        for role in of_kind(docs, "ClusterRole") + of_kind(docs, "Role"):
            assert ("", "namespaces") not in grants(role), role["metadata"]["name"]
        [deployment] = of_kind(docs, "Deployment")
        scope = deployment["spec"]["template"]["spec"]["containers"][0]["args"][1:]
        assert scope == ["--all-namespaces"] or all(re.fullmatch(r"--namespace=[-a-z0-9]+", arg) for arg in scope)
    assert "rbac.namespaces.0" in refusal(helm, tmp_path, {"rbac": {"namespaces": ["team-*"]}})


AGENTOS_CONFIGS = ("agentos.dev", "agentosconfigs")
WRITE_AND_READ = {"create", "update", "patch", "delete", "get", "list", "watch"}


@pytest.mark.parametrize("value_set", ["defaults", "namespaced", "ha"])
def test_the_built_in_admin_edit_and_view_roles_are_given_agentosconfigs_and_never_their_status(
    helm: list[str], value_set: str
) -> None:
    """Whoever may edit a namespace may manage its AgentOSConfigs, whoever may view it may read
    them (in both scopes: the roles bind nobody); the status is written by the operator alone."""
    docs = render(helm, *VALUE_SETS[value_set])
    added = {
        label.removeprefix(AGGREGATE_TO): grants(role)
        for role in of_kind(docs, "ClusterRole")
        for label, value in role["metadata"]["labels"].items()
        if label.startswith(AGGREGATE_TO) and value == "true"
    }
    scale, read = ("agentos.dev", "agentosconfigs/scale"), {"get", "list", "watch"}
    assert added == {
        "admin": {AGENTOS_CONFIGS: WRITE_AND_READ, scale: {"update", "patch", *read}},
        "edit": {AGENTOS_CONFIGS: WRITE_AND_READ, scale: {"update", "patch", *read}},
        "view": {AGENTOS_CONFIGS: read, scale: read},
    }
    for role in of_kind(docs, "ClusterRole"):
        assert "aggregationRule" not in role  # adds to the built-in roles, never gathers others'
    bound = {b["roleRef"]["name"] for b in of_kind(docs, "ClusterRoleBinding") + of_kind(docs, "RoleBinding")}
    assert not bound & {r["metadata"]["name"] for r in of_kind(docs, "ClusterRole") if aggregated(r)}


@pytest.mark.parametrize("off", [["--set", "rbac.aggregateToDefaultRoles=false"], ["--set", "rbac.create=false"]])
def test_the_built_in_roles_are_left_alone_when_the_values_say_so(helm: list[str], off: list[str]) -> None:
    docs = render(helm, *off, "--set", "serviceAccount.name=ops")
    assert [r["metadata"]["name"] for r in of_kind(docs, "ClusterRole") if aggregated(r)] == []
    if "rbac.create=false" not in off:
        assert len(operator_cluster_roles(docs)) == 1  # the operator's own grant is unchanged


def _fixed_value_paths(schema: dict[str, Any], values: Any, path: str = "") -> Iterator[str]:
    """The dotted path of every value the chart sets by default inside an object of fixed shape
    (one whose schema allows no other keys): the values a template reads without a default."""
    if schema.get("additionalProperties") is not False or not isinstance(values, dict):
        return
    for name, value in values.items():
        yield f"{path}{name}"
        yield from _fixed_value_paths(schema["properties"][name], value, f"{path}{name}.")


FIXED_VALUE_PATHS = list(
    _fixed_value_paths(
        json.loads((CHART / "values.schema.json").read_text()), yaml.safe_load((CHART / "values.yaml").read_text())
    )
)


def test_the_fixed_value_paths_cover_every_section_of_the_values() -> None:
    assert {"replicaCount", "image.tag", "metrics.port", "metrics.serviceMonitor.interval", "resources"} <= set(
        FIXED_VALUE_PATHS
    )
    assert len(FIXED_VALUE_PATHS) > 40


@pytest.mark.parametrize("path", FIXED_VALUE_PATHS)
def test_a_value_set_to_null_is_refused_naming_it_instead_of_rendering_without_it(helm: list[str], path: str) -> None:
    # helm drops a key set to null and renders its template without it: replicas 0, a port 0, an
    # empty log level (the operator's crash loop) before every key was required.
    refused = subprocess.run(
        [*helm, "template", "rel", str(CHART), "--set", f"{path}=null"], capture_output=True, text=True
    )
    parent, _, name = path.rpartition(".")
    assert refused.returncode != 0, path
    assert f"{parent or '(root)'}: {name} is required" in refused.stderr


@pytest.mark.parametrize(
    "mode", [[], ["--set", "rbac.namespaces={team-a}"]], ids=["cluster-wide", "namespaced-on-one-namespace"]
)
def test_two_releases_of_one_name_in_two_namespaces_share_no_object(helm: list[str], mode: list[str]) -> None:
    # helm refuses to install an object another release owns: before, the second release's
    # ClusterRoles (and in namespaced mode its Roles in a namespace both watch) collided.
    def objects(namespace: str) -> set[tuple[str, str, str]]:
        out = subprocess.run(
            [*helm, "template", "agentos", str(CHART), "--namespace", namespace, "--set", "crds.install=false", *mode],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        docs = [d for d in yaml.safe_load_all(out) if d]
        cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
        return {
            (
                d["kind"],
                "" if d["kind"] in cluster_scoped else d["metadata"].get("namespace", namespace),
                d["metadata"]["name"],
            )
            for d in docs
        }

    first, second = objects("ops-a"), objects("ops-b")
    assert any(kind == "ClusterRole" for kind, _, _ in first)
    assert first & second == set()


@pytest.mark.parametrize(
    ("ports", "expected"),
    [([], [443, 6443]), (["--set", "networkPolicy.apiServerPorts={6443}"], [6443])],
    ids=["both-by-default", "the-endpoints-port"],
)
def test_the_network_policy_lets_the_operator_reach_the_api_servers_endpoint_ports(
    helm: list[str], ports: list[str], expected: list[int]
) -> None:
    # Network plugins judge egress after the Service's 443 is translated to its endpoint's port:
    # 6443 on kubeadm and kind, where a policy allowing 443 alone cut the operator off.
    docs = render(helm, *VALUE_SETS["network-policy"], *ports)
    [policy] = of_kind(docs, "NetworkPolicy")
    assert [p["port"] for p in policy["spec"]["egress"][1]["ports"]] == expected


def test_a_network_policy_without_api_server_ports_is_refused(helm: list[str]) -> None:
    refused = subprocess.run(
        [
            *helm,
            "template",
            "rel",
            str(CHART),
            *VALUE_SETS["network-policy"],
            "--set",
            "networkPolicy.apiServerPorts=[]",
        ],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "apiServerPorts" in refused.stderr
