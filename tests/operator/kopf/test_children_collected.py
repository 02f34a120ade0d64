"""A child a previous AgentOSConfig of the same name still controls (deleted and made again,
its children not collected yet) is waited for: no ChildConflict Warning advising to delete it.

The emulator runs no garbage collector: the test deletes the old child as it would."""

from __future__ import annotations

from tests.operator.kopf.conftest import CONFIGMAPS, EVENTS, Cluster, StartOperator, eventually


async def test_a_child_of_the_previous_resource_of_this_name_is_waited_for_then_made_anew(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    previous = {"apiVersion": "agentos.dev/v1alpha1", "kind": "AgentOSConfig", "name": "demo", "uid": "gone-uid"}
    leftover = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "demo-config",
            "labels": {"app.kubernetes.io/managed-by": "agentos-operator", "app.kubernetes.io/instance": "demo"},
            "ownerReferences": [{**previous, "controller": True, "blockOwnerDeletion": True}],
        },
        "data": {"old": "x"},
    }
    await cluster.api.create(CONFIGMAPS, leftover, namespace="ns1")
    start_operator()
    await cluster.create_agentos("demo")

    waiting = await eventually(
        lambda: (c := cluster.condition("demo", "Ready")).get("reason") == "ChildBeingRemoved" and c,
        what="Ready=False, ChildBeingRemoved",
    )
    assert waiting["status"] == "False"
    assert "ConfigMap 'demo-config'" in waiting["message"] and "garbage collector" in waiting["message"]
    assert cluster.condition("demo", "Stalled")["status"] == "False"
    assert cluster.get("apps/v1/deployments", "demo") is None  # nothing written meanwhile

    await cluster.api.delete(CONFIGMAPS, "ns1", "demo-config")  # what the garbage collector does
    await cluster.ready("demo")

    made = cluster.get(CONFIGMAPS, "demo-config")
    assert (
        made is not None and made["metadata"]["ownerReferences"][0]["uid"] == cluster.agentos("demo")["metadata"]["uid"]
    )
    warnings = [e for e in cluster.api.list_objects(EVENTS, "ns1") if e["type"] == "Warning"]
    assert warnings == []
