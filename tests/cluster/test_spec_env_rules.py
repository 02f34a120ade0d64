"""spec.env rules on a real control plane: the API server accepts them (the CRD cannot say them),
the operator refuses them.

A resource whose ``spec.env`` replaces a variable the operator sets (the metrics port, a variable
read from a referenced Secret) or gives a credential-named variable a literal value ends
``Ready=False`` reason ``InvalidSpec`` naming ``spec.env[i]`` and the fix, with one Warning;
nothing is written, so the pods of a resource served before keep serving; the fixed spec
converges. One operator serves the file's tests, each its own resource.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.conftest import (
    ControlPlane,
    Installed,
    OperatorProcess,
    add_secrets,
    agentos_body,
    child_versions,
    condition,
    create_secret,
    events_about,
    eventually,
    fresh_namespace,
    installing,
    wait_settled,
    wait_until_condition,
    warnings_about,
)
from tests.cluster.test_competing_writers import troubles

FROM_THE_MODEL_SECRET = {"secretKeyRef": {"name": "openai", "key": "api-key"}}
LITERAL = "literal-pw-6d1f0a"


@pytest.fixture(scope="module")
def served(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Installed, OperatorProcess, str]]:
    """One namespace, the chart installed for it and its operator running, shared by the file."""
    with (
        fresh_namespace(control_plane) as namespace,
        installing(control_plane, tmp_path_factory.mktemp("spec-env")) as install,
    ):
        installed = install(namespace)
        operator = installed.start()
        add_secrets(control_plane, namespace)
        yield installed, operator, namespace


def resync_all(cluster: ControlPlane, operator: OperatorProcess, namespace: str) -> None:
    """A resync of every resource of ``namespace``, awaited: what a retry would write is written."""
    operator.resynced(len(cluster.items("agentosconfigs", namespace)))


def container_env(cluster: ControlPlane, namespace: str, name: str) -> list[dict[str, Any]]:
    deployment = cluster.get("deployment", name, namespace) or {}
    found: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"][0].get("env") or []
    return found


def test_a_served_resource_whose_env_replaces_the_metrics_port_keeps_serving_until_the_spec_is_fixed(
    control_plane: ControlPlane, served: tuple[Installed, OperatorProcess, str]
) -> None:
    installed, operator, namespace = served
    control_plane.apply(agentos_body("metrics"), namespace)
    wait_settled(control_plane, namespace, "metrics")
    deployment = control_plane.get("deployment", "metrics", namespace) or {}
    others = {k: v for k, v in child_versions(control_plane, namespace, "metrics").items() if "deployments/" not in k}
    logged = len(operator.output())
    env = [{"name": "TEAM_NAME", "value": "support"}, {"name": "AGENTOS_METRICS_PORT", "value": "9999"}]

    control_plane.apply(agentos_body("metrics", env=env), namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", name="metrics", reason="InvalidSpec")
    assert ready["status"] == "False"
    assert ready["message"] == (
        "spec.env[1].name: 'AGENTOS_METRICS_PORT' is set by the operator: set spec.prometheus.port"
        " (or prometheus.enabled: false) instead; the previous pods serve meanwhile"
    )
    eventually(lambda: warnings_about(control_plane, namespace, "metrics"), what="the Warning event")
    resync_all(control_plane, operator, namespace)
    assert warnings_about(control_plane, namespace, "metrics") == [("InvalidSpec", ready["message"])]
    # Nothing written: the pods of the valid spec still serve it.
    now = control_plane.get("deployment", "metrics", namespace) or {}
    assert now["metadata"]["generation"] == deployment["metadata"]["generation"]
    assert now["spec"]["template"] == deployment["spec"]["template"]
    assert now["status"].get("availableReplicas") == 1
    assert {
        k: v for k, v in child_versions(control_plane, namespace, "metrics").items() if "deployments/" not in k
    } == (others)

    control_plane.apply(agentos_body("metrics", env=env[:1]), namespace)

    body = wait_settled(control_plane, namespace, "metrics")
    assert condition(body, "Ready")["reason"] != "InvalidSpec"
    variables = container_env(control_plane, namespace, "metrics")
    assert {"name": "TEAM_NAME", "value": "support"} in variables
    assert [v["value"] for v in variables if v["name"] == "AGENTOS_METRICS_PORT"] == ["9464"], "the operator's port"
    assert troubles(operator, logged) == [f"{namespace}/metrics InvalidSpec: {ready['message']}"], "said once"
    assert installed.refused() == []


def test_a_new_resource_replacing_a_secret_variable_and_giving_a_password_literally_is_told_both_and_converges_fixed(
    control_plane: ControlPlane, served: tuple[Installed, OperatorProcess, str]
) -> None:
    installed, operator, namespace = served
    logged = len(operator.output())
    env = [
        {"name": "OPENAI_API_KEY", "valueFrom": FROM_THE_MODEL_SECRET},
        {"name": "DB_PASSWORD", "value": LITERAL},
    ]

    control_plane.apply(agentos_body("creds", env=env), namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", name="creds", reason="InvalidSpec")
    message = ready["message"]
    assert ready["status"] == "False"
    assert message.startswith("spec.env[0].name: 'OPENAI_API_KEY' is set by the operator: it is read from the Secrets")
    assert "(models[].apiKeySecretRef," in message
    assert (
        "spec.env[1].value: 'DB_PASSWORD' names a credential, and a literal value is stored in clear text with the"
        " resource (etcd, Git): put it in a Secret and reference it with valueFrom.secretKeyRef"
    ) in message
    assert "previous pods serve" not in message, "it never served"
    eventually(lambda: warnings_about(control_plane, namespace, "creds"), what="the Warning event")
    resync_all(control_plane, operator, namespace)
    assert warnings_about(control_plane, namespace, "creds") == [("InvalidSpec", message)]
    assert child_versions(control_plane, namespace, "creds") == {}, "nothing written for an invalid spec"

    create_secret(control_plane, namespace, "db", password="from-a-secret")
    fixed = [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]
    control_plane.apply(agentos_body("creds", env=fixed), namespace)

    wait_settled(control_plane, namespace, "creds")
    assert fixed[0] in container_env(control_plane, namespace, "creds")
    said = json.dumps(control_plane.get("agentosconfig", "creds", namespace)["status"])  # type: ignore[index]
    said += json.dumps(events_about(control_plane, namespace, "creds")) + operator.output()
    assert LITERAL not in said, "the literal credential was repeated"
    assert troubles(operator, logged) == [f"{namespace}/creds InvalidSpec: {message}"], "said once"
    assert installed.refused() == []
