"""Bad input never crash-loops and never half-applies: it is reported, then fixed by the next change."""

from __future__ import annotations

import base64
import logging

import pytest

from tests.operator.kopf.conftest import (
    AGENTOS,
    CONFIGMAPS,
    DEPLOYMENTS,
    SECRETS,
    Cluster,
    StartOperator,
    encoded,
    eventually,
)

UNKNOWN_MODEL = {"spec": {"agents": [{"id": "assistant", "model": "gpt-5", "instructions": ["Be brief."]}]}}


def warnings_about(cluster: Cluster, name: str) -> list[tuple[str, str]]:
    return [(e["reason"], e["message"]) for e in cluster.events_about(name) if e["type"] == "Warning"]


async def test_an_invalid_edit_sets_ready_false_with_the_field_path_and_leaves_children_untouched(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    operator = start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    children = {
        name: cluster.get(resource, name) for resource, name in ((CONFIGMAPS, "demo-config"), (DEPLOYMENTS, "demo"))
    }

    await cluster.api.patch(AGENTOS, "ns1", "demo", UNKNOWN_MODEL)

    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "InvalidSpec", what="InvalidSpec")
    ready = cluster.condition("demo", "Ready")
    assert ready["status"] == "False"
    assert "spec.agents[0].model" in ready["message"] and "gpt-5" in ready["message"]
    assert cluster.condition("demo", "Degraded")["status"] == "True"
    assert cluster.agentos("demo")["status"]["observedGeneration"] == 2
    for resource, name in ((CONFIGMAPS, "demo-config"), (DEPLOYMENTS, "demo")):
        assert cluster.get(resource, name) == children[name], f"{name} changed under an invalid spec"
    invalid = operator.reconciles("invalid")
    await eventually(lambda: warnings_about(cluster, "demo"), what="the Warning event")
    assert warnings_about(cluster, "demo") == [("InvalidSpec", ready["message"])]
    assert invalid <= 2  # a permanent error: kopf does not retry it


async def test_an_invalid_spec_is_not_retried_and_warns_once(cluster: Cluster, start_operator: StartOperator) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    operator = start_operator(resync_seconds=0.1)
    body = {"apiVersion": "agentos.dev/v1alpha1", "kind": "AgentOSConfig", "metadata": {"name": "demo"}}
    await cluster.api.create(AGENTOS, {**body, "spec": {"replicas": "two"}}, namespace="ns1")

    await eventually(lambda: operator.reconciles("invalid") >= 6, what="several resyncs of the invalid resource")

    assert cluster.condition("demo", "Ready")["reason"] == "InvalidSpec"
    assert "spec.replicas" in cluster.condition("demo", "Ready")["message"]
    assert len(warnings_about(cluster, "demo")) == 1
    assert cluster.get(DEPLOYMENTS, "demo") is None and cluster.get(SECRETS, "demo-env") is None


async def test_the_next_valid_edit_fixes_an_invalid_resource(cluster: Cluster, start_operator: StartOperator) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    await cluster.api.patch(AGENTOS, "ns1", "demo", UNKNOWN_MODEL)
    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "InvalidSpec")

    fixed = {"spec": {"agents": [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Be kind."]}]}}
    await cluster.api.patch(AGENTOS, "ns1", "demo", fixed)

    await eventually(lambda: "Be kind." in str(cluster.get(CONFIGMAPS, "demo-config")), what="the fix applied")
    body = await cluster.ready("demo")
    assert body["status"]["observedGeneration"] == 3
    assert cluster.condition("demo", "Degraded")["status"] == "False"


async def test_a_missing_secret_is_reported_and_recovers_when_it_appears(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    start_operator()
    await cluster.create_agentos("demo")

    await eventually(lambda: cluster.condition("demo", "ReferencesResolved").get("status") == "False")
    resolved = cluster.condition("demo", "ReferencesResolved")
    assert (resolved["reason"], resolved["message"]) == ("SecretNotFound", "Secret 'openai' not found")
    assert cluster.condition("demo", "Ready")["reason"] == "SecretNotFound"
    await eventually(lambda: warnings_about(cluster, "demo"), what="the Warning event")
    assert warnings_about(cluster, "demo") == [("SecretNotFound", "Secret 'openai' not found")]
    assert cluster.get(DEPLOYMENTS, "demo") is None and cluster.get(CONFIGMAPS, "demo-config") is None

    await cluster.create_secret("openai", api_key="sk-test-1")

    await cluster.ready("demo")
    assert cluster.condition("demo", "ReferencesResolved")["status"] == "True"


async def test_a_missing_secret_key_is_reported_and_recovers_when_it_is_added(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", token="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")

    await eventually(lambda: cluster.condition("demo", "ReferencesResolved").get("reason") == "SecretKeyMissing")
    assert cluster.condition("demo", "ReferencesResolved")["message"] == "Secret 'openai' has no key 'api-key'"

    await cluster.api.patch(SECRETS, "ns1", "openai", {"data": {"api-key": encoded("sk-test-1")}})

    await cluster.ready("demo")


async def test_a_paused_resource_is_left_alone_and_says_so(cluster: Cluster, start_operator: StartOperator) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    config_map = cluster.get(CONFIGMAPS, "demo-config")
    edit = {"agents": [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Changed."]}]}

    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"paused": True, **edit}})
    await eventually(lambda: cluster.condition("demo", "Progressing").get("reason") == "Paused", what="Paused")
    await cluster.api.delete(DEPLOYMENTS, "ns1", "demo")
    await eventually(lambda: cluster.condition("demo", "Ready").get("status") == "False", what="Ready follows the pods")

    assert cluster.get(CONFIGMAPS, "demo-config") == config_map
    assert cluster.get(DEPLOYMENTS, "demo") is None
    assert cluster.condition("demo", "Ready")["reason"] == "Paused"

    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"paused": False}})

    await cluster.ready("demo")
    assert "Changed." in str(cluster.get(CONFIGMAPS, "demo-config"))


async def test_secret_values_never_reach_status_events_or_logs(
    cluster: Cluster, start_operator: StartOperator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await cluster.create_secret("openai", token="sk-very-secret-value")
    start_operator()
    await cluster.create_agentos("demo")
    await eventually(lambda: cluster.condition("demo", "ReferencesResolved").get("reason") == "SecretKeyMissing")
    await cluster.api.patch(SECRETS, "ns1", "openai", {"data": {"api-key": encoded("sk-very-secret-value")}})
    await cluster.ready("demo")
    key = cluster.get(SECRETS, "demo-security-key")
    assert key is not None
    generated = base64.b64decode(key["data"]["security-key"]).decode()

    assert any(r.name.startswith("kopf") and r.levelno == logging.DEBUG for r in caplog.records)  # the logs were seen
    visible = [cluster.agentos("demo"), cluster.get(CONFIGMAPS, "demo-config"), cluster.api.list_objects("v1/events")]
    for secret in ("sk-very-secret-value", encoded("sk-very-secret-value"), generated, encoded(generated)):
        assert secret not in str(visible)
        assert secret not in caplog.text


async def test_a_child_name_taken_by_another_owner_is_reported_and_left_alone(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    foreign = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "other",
        "uid": "someone-else",
        "controller": True,
    }
    squatter = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "demo-config", "ownerReferences": [foreign]},
    }
    squatter["data"] = {"mine": "yes"}
    await cluster.api.create(CONFIGMAPS, squatter, namespace="ns1")
    start_operator()
    await cluster.create_agentos("demo")

    await eventually(
        lambda: cluster.condition("demo", "Degraded").get("reason") == "ChildConflict", what="ChildConflict"
    )
    assert (
        "ConfigMap 'demo-config' exists and is not owned by this AgentOSConfig"
        in cluster.condition("demo", "Ready")["message"]
    )
    assert cluster.get(CONFIGMAPS, "demo-config")["data"] == {"mine": "yes"}  # type: ignore[index]
    assert cluster.get(DEPLOYMENTS, "demo") is None  # nothing after the conflict was applied either
    await eventually(lambda: [w for w in warnings_about(cluster, "demo") if w[0] == "ChildConflict"])

    await cluster.api.delete(CONFIGMAPS, "ns1", "demo-config")

    await cluster.ready("demo")


async def test_a_write_the_api_server_rejects_is_reported_and_retried(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    cluster.api.fail_next(422, verb="patch", plural="deployments", times=3)
    operator = start_operator()
    await cluster.create_agentos("demo")

    # The first write judged is the dry run: refused, it stops the reconcile before any real write.
    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "ChildRejected", what="rejected")
    message = cluster.condition("demo", "Ready")["message"]
    assert message == "the API server refuses Deployment 'demo': injected fault 422: fix the spec"
    assert cluster.get(DEPLOYMENTS, "demo") is None

    await cluster.ready("demo")
    assert operator.reconciles("blocked") >= 1
