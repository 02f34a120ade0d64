"""A paused resource: its children are left as they are, and its status says whether they are
as its spec says, so that a wait for Ready never takes an edit made while paused for applied.

The Deployment controller is played by the test (``Cluster.roll_out`` and status patches)."""

from __future__ import annotations

from typing import Any

from agentos_operator.watching import CHILD_SELECTOR

from tests.operator.kopf.conftest import (
    AGENTOS,
    CONFIGMAPS,
    DEPLOYMENTS,
    SECRETS,
    Cluster,
    StartOperator,
    eventually,
)

EDITED = [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Changed while paused."]}]


async def ready_and_running(cluster: Cluster, start_operator: StartOperator) -> dict[str, Any]:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    return await cluster.ready("demo")


def conditions_of(cluster: Cluster) -> dict[str, tuple[str, str]]:
    found = (cluster.agentos("demo").get("status") or {}).get("conditions") or []
    return {c["type"]: (c["status"], c["reason"]) for c in found}


def observed(cluster: Cluster) -> bool:
    body = cluster.agentos("demo")
    return (body.get("status") or {}).get("observedGeneration") == body["metadata"]["generation"]


async def test_an_edit_made_while_paused_is_not_ready_until_unpaused_applies_it(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await ready_and_running(cluster, start_operator)
    config_map = cluster.get(CONFIGMAPS, "demo-config")

    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"paused": True, "agents": EDITED}})

    await eventually(lambda: observed(cluster) and conditions_of(cluster)["Ready"] == ("False", "Paused"))
    assert conditions_of(cluster)["Stalled"] == ("True", "Paused")
    assert conditions_of(cluster)["Reconciling"] == ("False", "Paused")
    ready = cluster.condition("demo", "Ready")
    assert ready["observedGeneration"] == 2
    assert ready["message"] == (
        "spec.paused is true: the children are not as generation 2 of the spec renders them (ConfigMap "
        "'demo-config' and Deployment 'demo' differ from it), and are left so until spec.paused is set to "
        "false, which applies it; meanwhile 1 of 1 pods ready"
    )
    assert cluster.get(CONFIGMAPS, "demo-config") == config_map
    paused = [e for e in cluster.events_about("demo") if e["reason"] == "Paused"]
    assert [(e["type"], e["message"]) for e in paused] == [("Normal", ready["message"])]

    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"paused": False}})

    await cluster.ready("demo")
    assert "Changed while paused." in str(cluster.get(CONFIGMAPS, "demo-config"))
    assert conditions_of(cluster)["Stalled"] == ("False", "AsExpected")


async def test_pausing_alone_stays_ready_until_a_child_is_changed_by_hand(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await ready_and_running(cluster, start_operator)
    deployment = cluster.get(DEPLOYMENTS, "demo")
    assert deployment is not None

    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"paused": True}})

    await eventually(lambda: observed(cluster) and cluster.condition("demo", "Ready").get("reason") == "Paused")
    assert conditions_of(cluster)["Ready"] == ("True", "Paused")
    assert conditions_of(cluster)["Stalled"] == ("False", "AsExpected")
    assert cluster.condition("demo", "Ready")["message"] == (
        "spec.paused is true: children are left as they are; 1 of 1 pods ready"
    )

    # kubectl scale deploy demo --replicas=0: left so while paused, and said.
    await cluster.api.patch(DEPLOYMENTS, "ns1", "demo", {"spec": {"replicas": 0}})
    await cluster.roll_out("demo")

    await eventually(lambda: cluster.agentos("demo")["status"].get("readyReplicas") == 0, what="no pod seen")
    assert conditions_of(cluster)["Ready"] == ("False", "Paused")
    assert conditions_of(cluster)["Stalled"] == ("True", "Paused")
    message = cluster.condition("demo", "Ready")["message"]
    assert "(Deployment 'demo' differs from it)" in message and message.endswith("meanwhile 0 of 0 pods ready")
    assert cluster.get(DEPLOYMENTS, "demo")["spec"]["replicas"] == 0  # type: ignore[index]


async def test_a_paused_resource_stays_ready_through_an_operator_restart_before_its_children_are_listed(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    first = start_operator()
    await cluster.create_agentos("demo", paused=False)
    await cluster.ready("demo")
    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"paused": True}})
    await eventually(lambda: observed(cluster) and cluster.condition("demo", "Ready").get("reason") == "Paused")
    assert conditions_of(cluster)["Ready"] == ("True", "Paused")
    status = cluster.agentos("demo")["status"]

    # An upgrade: a new operator, whose lists of the Deployments and Services are slow to come.
    await first.stop()
    held = [
        cluster.api.stall_next(verb="list", plural=plural, times=1_000, label_selector=CHILD_SELECTOR)
        for plural in ("deployments", "services")
    ]
    second = start_operator()
    await eventually(lambda: second.reconciles("paused") >= 1, what="the new operator's reconcile")

    assert all(fault.fired for fault in held), "the children's lists were held"
    assert cluster.agentos("demo")["status"] == status
    assert conditions_of(cluster)["Stalled"] == ("False", "AsExpected")


async def test_a_paused_resource_says_of_its_references_what_holds_now(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """A Secret created while paused resolves what blocked the spec; one deleted while paused
    stops it, and ReferencesResolved says so, not what it said before the pause."""
    await ready_and_running(cluster, start_operator)
    models = [
        {"id": "gpt-4o-mini", "apiKeySecretRef": {"name": "openai", "key": "api-key"}},
        {"id": "other", "apiKeySecretRef": {"name": "anthropic", "key": "api-key"}},
    ]
    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"models": models}})
    await eventually(lambda: conditions_of(cluster)["Ready"] == ("False", "SecretNotFound"), what="blocked")
    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"paused": True}})
    await eventually(lambda: conditions_of(cluster)["Ready"] == ("False", "Paused"), what="paused")
    assert conditions_of(cluster)["ReferencesResolved"] == ("False", "SecretNotFound")

    await cluster.create_secret("anthropic", api_key="sk-ant-1")

    await eventually(lambda: conditions_of(cluster)["ReferencesResolved"] == ("True", "Resolved"), what="resolved")
    assert conditions_of(cluster)["Degraded"] == ("False", "AsExpected")
    assert conditions_of(cluster)["Ready"] == ("False", "Paused")  # the new model is still not applied

    await cluster.api.delete(SECRETS, "ns1", "openai")

    await eventually(
        lambda: conditions_of(cluster)["ReferencesResolved"] == ("False", "SecretNotFound"), what="unresolved again"
    )
    assert conditions_of(cluster)["Degraded"] == ("True", "SecretNotFound")
