"""Which resources an operator serves on a real API server, and with what access: only the
namespaces it is given (by name, or by a glob it follows as namespaces come), and Secrets read
one by one when the chart grants no list or watch of them, a rotation then found by the resync."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.cluster.conftest import (
    ControlPlane,
    InstallOperator,
    NamespaceMaker,
    add_secrets,
    agentos_body,
    create_secret,
    eventually,
    settled,
    wait_ready,
    wait_settled,
)

GET_ONLY_SECRETS = ("--set", "rbac.clusterWideSecretWatch=false")


def touched_namespaces(cluster: ControlPlane, user: str, since: int = 0) -> set[str]:
    """Every namespace ``user`` sent a request about, by the API server's audit log."""
    return {
        ref["namespace"] for r in cluster.requests(user, since) if (ref := r.get("objectRef") or {}).get("namespace")
    }


def untouched(cluster: ControlPlane, namespace: str, name: str) -> bool:
    body = cluster.get("agentosconfig", name, namespace)
    return body is not None and "status" not in body and cluster.get("deployment", name, namespace) is None


def test_an_operator_given_a_namespace_ignores_the_others_even_when_granted_them(
    control_plane: ControlPlane, namespace: str, make_namespace: NamespaceMaker, install_operator: InstallOperator
) -> None:
    other = make_namespace(f"o-{uuid.uuid4().hex[:8]}")
    installed = install_operator()  # cluster-wide grants: only the operator's scope keeps it out
    operator = installed.start(f"--namespace={namespace}")
    for each in (namespace, other):
        create_secret(control_plane, each, "openai", api_key="sk-test-1")

    control_plane.apply(agentos_body("outside"), other)
    control_plane.apply(agentos_body("inside"), namespace)

    wait_ready(control_plane, namespace, "inside")
    operator.resynced(1)  # a resync reconciles what it serves: one resource
    assert untouched(control_plane, other, "outside")
    assert other not in touched_namespaces(control_plane, installed.user)
    assert installed.refused() == []


def test_a_glob_serves_the_namespaces_it_matches_and_those_created_later(
    control_plane: ControlPlane, namespace: str, make_namespace: NamespaceMaker, install_operator: InstallOperator
) -> None:
    prefix = f"g{uuid.uuid4().hex[:6]}"
    early = make_namespace(f"{prefix}-early")
    installed = install_operator()
    # Following namespaces takes a cluster-wide list and watch of them, which the chart does not grant
    # (it runs the operator with --all-namespaces or names, never a pattern): granted here beside it.
    follow = f"{installed.release}-follow-namespaces"
    control_plane.run("create", "clusterrole", follow, "--verb=get,list,watch", "--resource=namespaces")
    account = f"{installed.release_namespace}:{installed.service_account}"
    control_plane.run("create", "clusterrolebinding", follow, f"--clusterrole={follow}", f"--serviceaccount={account}")
    try:
        eventually(lambda: can_i(control_plane, installed.user, "watch", "namespaces", namespace), what="the grant")
        installed.start(f"--namespace={prefix}-*")
        late = make_namespace(f"{prefix}-late")
        for each in (early, late, namespace):
            create_secret(control_plane, each, "openai", api_key="sk-test-1")
            control_plane.apply(agentos_body("demo"), each)

        wait_ready(control_plane, early, "demo", timeout="30s")
        wait_ready(control_plane, late, "demo", timeout="30s")

        assert untouched(control_plane, namespace, "demo")
        assert namespace not in touched_namespaces(control_plane, installed.user)
        assert [r for r in installed.refused() if "/namespaces/" not in r or prefix in r] == []
    finally:
        control_plane.run("delete", "clusterrolebinding,clusterrole", follow, "--ignore-not-found", check=False)


def can_i(cluster: ControlPlane, user: str, verb: str, resource: str, namespace: str) -> bool:
    result = cluster.run("auth", "can-i", verb, resource, "-n", namespace, f"--as={user}", check=False)
    return result.stdout.strip() == "yes"


def test_get_only_access_to_secrets_is_enough_without_the_secret_watch(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(values=GET_ONLY_SECRETS)
    assert can_i(control_plane, installed.user, "get", "secrets", namespace)
    assert not can_i(control_plane, installed.user, "list", "secrets", namespace)
    assert not can_i(control_plane, installed.user, "watch", "secrets", namespace)
    operator = installed.start(f"--namespace={namespace}", AGENTOS_WATCH_SECRETS="false")
    add_secrets(control_plane, namespace)

    control_plane.apply(agentos_body("demo"), namespace)

    wait_ready(control_plane, namespace, "demo")
    assert installed.refused() == []
    assert operator.reconciles("blocked") == operator.reconciles("error") == 0


def test_without_a_secret_watch_a_rotation_is_found_by_the_resync(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(values=GET_ONLY_SECRETS)
    installed.start(f"--namespace={namespace}", "--resync-seconds=1", AGENTOS_WATCH_SECRETS="false")
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)
    before = wait_settled(control_plane, namespace, "demo")["status"]["configHash"]

    rotation = json.dumps({"stringData": {"api-key": "sk-test-2"}})
    control_plane.run("patch", "secret", "openai", "-n", namespace, "--type=merge", "-p", rotation)

    def rotated() -> dict[str, Any] | None:
        body = settled(control_plane, namespace, "demo")
        return body if body is not None and body["status"]["configHash"] != before else None

    eventually(rotated, what="the rotation rolled out")
    secrets = [
        r for r in control_plane.requests(installed.user) if (r.get("objectRef") or {}).get("resource") == "secrets"
    ]
    assert {r["verb"] for r in secrets} <= {"get", "create", "patch"}
    assert installed.refused() == []
