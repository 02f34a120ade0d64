"""Who may use AgentOSConfigs, on a real control plane: the chart's roles aggregated into the
built-in ``admin``, ``edit`` and ``view`` by kube-controller-manager's aggregation controller (a
user bound to ``edit`` manages them, one bound to ``view`` reads them, neither writes their
status), and the example ValidatingAdmissionPolicy of ``docs/admission-policy.yaml`` refusing
what it is meant to refuse, by the real API server's CEL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import ROOT, ControlPlane, InstallOperator, agentos_body, eventually

POLICY = ROOT / "docs" / "admission-policy.yaml"


def can(cluster: ControlPlane, user: str, verb: str, namespace: str, subresource: str = "") -> bool:
    """``kubectl auth can-i`` as ``user`` (impersonated by the cluster's admin)."""
    extra = [f"--subresource={subresource}"] if subresource else []
    result = cluster.run(
        "auth", "can-i", verb, "agentosconfigs.agentos.dev", "-n", namespace, f"--as={user}", *extra, check=False
    )
    return result.stdout.strip() == "yes"


def test_users_bound_to_edit_manage_agentosconfigs_and_to_view_read_them_and_neither_writes_status(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    install_operator()  # the chart, with its defaults; no operator needs to run
    for user, role in (("alice", "edit"), ("ada", "admin"), ("victor", "view")):
        control_plane.run(
            "create", "rolebinding", f"{user}-{role}", f"--clusterrole={role}", f"--user={user}", "-n", namespace
        )

    # The aggregation controller copies the chart's rules into the built-in roles in its own time.
    eventually(lambda: can(control_plane, "alice", "create", namespace), what="edit aggregating agentosconfigs")
    eventually(lambda: can(control_plane, "victor", "list", namespace), what="view aggregating agentosconfigs")

    writes = ("create", "update", "patch", "delete")
    reads = ("get", "list", "watch")
    for user in ("alice", "ada"):
        eventually(lambda user=user: all(can(control_plane, user, verb, namespace) for verb in writes + reads))
        assert not can(control_plane, user, "patch", namespace, "status"), user
        assert not can(control_plane, user, "update", namespace, "status"), user
    assert [verb for verb in reads if not can(control_plane, "victor", verb, namespace)] == []
    assert [verb for verb in writes if can(control_plane, "victor", verb, namespace)] == []
    assert not can(control_plane, "victor", "patch", namespace, "status")
    assert not can(control_plane, "mallory", "get", namespace)  # bound to nothing
    assert not can(control_plane, "alice", "create", "default")  # the binding is the namespace's only

    # Not only the authorizer's answer: alice creates one, victor reads it and may not change it.
    body = json.dumps(agentos_body("by-alice"))
    control_plane.run("apply", "--server-side", "-n", namespace, "--as=alice", "-f", "-", input=body)
    assert control_plane.run("get", "agentosconfig", "by-alice", "-n", namespace, "--as=victor", "-o", "name").stdout
    refused = control_plane.run(
        "delete", "agentosconfig", "by-alice", "-n", namespace, "--as=victor", "--wait=false", check=False
    )
    assert refused.returncode != 0 and "forbidden" in refused.stderr, refused.stderr
    status = control_plane.run(
        "patch", "agentosconfig", "by-alice", "-n", namespace, "--as=alice", "--subresource=status",
        "--type=merge", "-p", '{"status":{"observedGeneration":7}}', check=False,
    )  # fmt: skip
    assert status.returncode != 0 and "forbidden" in status.stderr, status.stderr


@pytest.fixture
def policy_in(control_plane: ControlPlane, namespace: str) -> Iterator[str]:
    """The example policy, its binding narrowed to the test's namespace (others run beside it)."""
    docs = [doc for doc in yaml.safe_load_all(POLICY.read_text(encoding="utf-8")) if doc]
    [binding] = [doc for doc in docs if doc["kind"] == "ValidatingAdmissionPolicyBinding"]
    selector = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    binding["spec"]["matchResources"] = {"namespaceSelector": selector}
    names = []
    for doc in docs:
        doc["metadata"]["name"] += f"-{namespace}"
        names.append(f"{doc['kind'].lower()}/{doc['metadata']['name']}")
    binding["spec"]["policyName"] += f"-{namespace}"
    control_plane.apply({"apiVersion": "v1", "kind": "List", "items": docs})
    try:
        yield namespace
    finally:
        control_plane.run("delete", *names, "--ignore-not-found", check=False)


def refusal(cluster: ControlPlane, namespace: str, body: dict[str, Any]) -> str:
    """What the API server answers to creating ``body`` (a dry run, nothing stored): '' when accepted."""
    result = cluster.run(
        "create", "--dry-run=server", "-n", namespace, "-o", "name", "-f", "-", input=json.dumps(body), check=False
    )
    return "" if result.returncode == 0 else result.stderr.strip()


def test_the_example_admission_policy_refuses_untrusted_images_accounts_and_stdio_commands(
    control_plane: ControlPlane, policy_in: str
) -> None:
    namespace = policy_in
    untrusted = agentos_body("untrusted", image="evil.example/agentos:1")
    # The policy is compiled and its binding seen in the API server's own time.
    said = eventually(lambda: refusal(control_plane, namespace, untrusted), what="the policy in force")
    assert "spec.image evil.example/agentos:1 is not from a trusted registry: use one of ghcr.io/kube-agentos/" in said
    assert "agentosconfig-trusted-images" in said

    assert refusal(control_plane, namespace, agentos_body("default-image")) == ""
    assert refusal(control_plane, namespace, agentos_body("trusted", image="ghcr.io/kube-agentos/runtime:1")) == ""
    account = refusal(control_plane, namespace, agentos_body("account", serviceAccountName="builder"))
    assert "spec.serviceAccountName builder is not allowed: use one of default" in account
    sidecar = [{"id": "time", "sidecar": {"image": "docker.io/someone/mcp:1", "port": 8081}}]
    assert "sidecar.image must be from a trusted registry" in refusal(
        control_plane, namespace, agentos_body("sidecar", mcpServers=sidecar)
    )
    stdio = [{"id": "shell", "transport": "stdio", "command": "sh", "args": ["-c", "env"]}]
    assert "transport stdio is not allowed here" in refusal(
        control_plane, namespace, agentos_body("stdio", mcpServers=stdio)
    )
    trusted_sidecar = [{"id": "time", "sidecar": {"image": "ghcr.io/kube-agentos/mcp-time:1", "port": 8081}}]
    assert refusal(control_plane, namespace, agentos_body("trusted-sidecar", mcpServers=trusted_sidecar)) == ""


def test_the_example_policy_is_namespace_free_and_binds_every_namespace() -> None:
    docs = [doc for doc in yaml.safe_load_all(POLICY.read_text(encoding="utf-8")) if doc]
    assert [doc["kind"] for doc in docs] == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
    assert all("namespace" not in doc["metadata"] for doc in docs)
    assert docs[1]["spec"]["policyName"] == docs[0]["metadata"]["name"]
    assert docs[0]["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["agentosconfigs"]  # not status
