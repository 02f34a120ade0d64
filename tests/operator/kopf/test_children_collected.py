"""Children the garbage collector takes. A child a previous AgentOSConfig of the same name still
controls (deleted and made again, its children not collected yet) is waited for: no
ChildConflict Warning advising to delete it. Children collected in a resource's foreground
deletion, told before the resource's own deletion reached the operator (the watches of
different kinds keep no order between them), are not made again.

The emulator runs no garbage collector: the test deletes the children as it would."""

from __future__ import annotations

import pytest

from tests.operator.kopf.conftest import (
    CONFIGMAPS,
    DEPLOYMENTS,
    EVENTS,
    SECRETS,
    SERVICES,
    Cluster,
    StartOperator,
    agentos_body,
    encoded,
    eventually,
)
from tests.support.emulator import AGENTOS


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


async def hold_the_resources_watch(cluster: Cluster) -> None:
    """From now on the operator's list and watch of AgentOSConfigs go unanswered: the resource's
    news lags behind its children's, as one watch's may behind another's."""
    held = [cluster.api.stall_next(verb=verb, plural="agentosconfigs", times=1_000) for verb in ("list", "watch")]
    await cluster.api.drop_watches()
    await eventually(lambda: any(fault.fired for fault in held), what="the resource's watch held")


async def mark_for_deletion(cluster: Cluster, finalizer: str) -> None:
    """Delete the resource as kubectl's ``--cascade`` does: marked, and kept while ``finalizer`` holds it."""
    await cluster.api.patch(AGENTOS, "ns1", "demo", {"metadata": {"finalizers": [finalizer]}})
    await cluster.api.delete(AGENTOS, "ns1", "demo")
    assert cluster.agentos("demo")["metadata"]["deletionTimestamp"]


COLLECTED = {
    "the ConfigMap": [(CONFIGMAPS, "demo-config")],
    "the Deployment": [(DEPLOYMENTS, "demo")],
    "the generated key first": [(SECRETS, "demo-security-key"), (CONFIGMAPS, "demo-config")],
}


@pytest.mark.parametrize("collected", COLLECTED)
async def test_children_collected_before_the_resources_deletion_is_told_are_not_made_again(
    cluster: Cluster, start_operator: StartOperator, collected: str
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    operator = start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    await hold_the_resources_watch(cluster)
    await mark_for_deletion(cluster, "foregroundDeletion")
    mark = cluster.api.mark()
    gone_before = operator.reconciles("gone")

    for resource, name in COLLECTED[collected]:  # as the garbage collector does, one by one
        await cluster.api.delete(resource, "ns1", name)
    await eventually(lambda: operator.reconciles("gone") > gone_before, what="a reconcile finding it being deleted")

    assert [cluster.get(resource, name) for resource, name in COLLECTED[collected]] == [None] * len(
        COLLECTED[collected]
    )
    assert [f"{r.method} {r.url.path}" for r in cluster.api.writes_since(mark)] == []


async def test_children_orphaned_before_the_resources_deletion_is_told_are_not_adopted_again(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    await cluster.create_secret("server-key", key="k" * 32)
    operator = start_operator()
    await cluster.api.create(
        AGENTOS, agentos_body("demo", securityKeySecretRef={"name": "server-key", "key": "key"}), namespace="ns1"
    )
    await cluster.ready("demo")
    await hold_the_resources_watch(cluster)
    await mark_for_deletion(cluster, "orphan")
    for resource in (CONFIGMAPS, SERVICES):  # as the garbage collector orphans them
        await cluster.api.patch(resource, "ns1", "demo-config" if resource == CONFIGMAPS else "demo", ORPHANED)
    mark = cluster.api.mark()
    gone_before = operator.reconciles("gone")

    # A reconcile comes for another reason meanwhile: a Secret the resource reads changes.
    await cluster.api.patch(SECRETS, "ns1", "openai", {"data": {"api-key": encoded("sk-test-2")}})
    await eventually(lambda: operator.reconciles("gone") > gone_before, what="a reconcile finding it being deleted")

    assert [f"{r.method} {r.url.path}" for r in cluster.api.writes_since(mark)] == []
    for resource, name in ((CONFIGMAPS, "demo-config"), (SERVICES, "demo")):
        assert (cluster.get(resource, name) or {})["metadata"].get("ownerReferences") is None


ORPHANED = {"metadata": {"ownerReferences": None}}


async def test_children_of_a_resource_whose_first_reconcile_failed_are_not_made_again_once_it_is_being_deleted(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """Its status holds only the claim: the first reconcile made the ConfigMap, then failed at the
    Deployment (an API server that keeps answering 500), and is retried."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    # The Deployment's writes fail throughout: one in flight as the deletion begins, past its
    # check that the resource is not being deleted, is refused too (a success would make it,
    # rightly, and report it). A retry after the deletion, were it not checked, would make the
    # ConfigMap again before failing at the Deployment.
    cluster.api.fail_next(500, verb="patch", plural="deployments", times=100_000, dry_run=False)
    operator = start_operator(failure_grace_seconds=3600)  # retried, never reported: no status but the claim
    await cluster.create_agentos("demo")
    await eventually(lambda: cluster.get(CONFIGMAPS, "demo-config"), what="the ConfigMap")
    await eventually(lambda: [e for e in cluster.events_about("demo") if e["reason"] == "Created"], what="its Event")
    assert set(cluster.agentos("demo").get("status") or {}) == {"operator"}
    await hold_the_resources_watch(cluster)
    await mark_for_deletion(cluster, "foregroundDeletion")
    gone_before = operator.reconciles("gone")
    mark = cluster.api.mark()

    await cluster.api.delete(CONFIGMAPS, "ns1", "demo-config")  # as the garbage collector does
    await eventually(
        lambda: operator.reconciles("gone") > gone_before or cluster.get(CONFIGMAPS, "demo-config"),
        what="a reconcile finding it being deleted, or making the ConfigMap again",
    )

    assert cluster.get(CONFIGMAPS, "demo-config") is None
    writes = [f"{r.method} {r.url.path}" for r in cluster.api.writes_since(mark)]
    # Retries under way at the mark or after it may have sent the Deployment's write (refused, 500).
    assert [w for w in writes if not w.endswith("/deployments/demo")] == []
