"""Level-triggered: children are held to the spec whatever happens to them, and a no-op writes nothing."""

from __future__ import annotations

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

NETWORK_POLICIES = "networking.k8s.io/v1/networkpolicies"


async def test_a_deleted_deployment_is_restored(cluster: Cluster, start_operator: StartOperator) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    old_uid = cluster.get(DEPLOYMENTS, "demo")["metadata"]["uid"]  # type: ignore[index]

    await cluster.api.delete(DEPLOYMENTS, "ns1", "demo")

    restored = await eventually(lambda: cluster.get(DEPLOYMENTS, "demo"), what="the Deployment back")
    assert restored["metadata"]["uid"] != old_uid
    assert restored["metadata"]["ownerReferences"][0]["name"] == "demo"


async def test_a_hand_edited_configmap_is_restored(cluster: Cluster, start_operator: StartOperator) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    config_map = cluster.get(CONFIGMAPS, "demo-config")
    assert config_map is not None
    (key, original), *_ = config_map["data"].items()

    await cluster.api.patch(CONFIGMAPS, "ns1", "demo-config", {"data": {key: "tampered: true\n"}})

    await eventually(lambda: cluster.get(CONFIGMAPS, "demo-config")["data"][key] == original, what="the data back")  # type: ignore[index]


async def test_rotating_a_referenced_secret_rolls_the_pods_without_editing_the_resource(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    before = await cluster.ready("demo")

    await cluster.api.patch(SECRETS, "ns1", "openai", {"data": {"api-key": encoded("sk-test-2")}})

    def template_hash() -> str:
        deployment = cluster.get(DEPLOYMENTS, "demo") or {}
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["agentos.dev/config-hash"])

    await eventually(lambda: template_hash() != before["status"]["configHash"], what="a new hash on the pods")
    env = cluster.get(SECRETS, "demo-env")
    assert env is not None and encoded("sk-test-2") in env["data"].values()
    after = await cluster.ready("demo")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]  # the resource was not edited
    assert after["status"]["configHash"] == template_hash()


async def test_a_resync_of_an_unchanged_resource_writes_nothing_and_only_lists(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    operator = start_operator(resync_seconds=0.1)
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    # Settled: a full resync ran after the last write anyone made.
    settled = operator.reconciles()
    await eventually(lambda: operator.reconciles() >= settled + 2, what="two resyncs")
    mark = cluster.api.mark()
    reconciles = operator.reconciles()

    await eventually(lambda: operator.reconciles() >= reconciles + 5, what="five more resyncs")

    requests = cluster.api.requests_since(mark)
    assert [f"{r.method.value} {r.url.path}" for r in cluster.api.writes_since(mark)] == []
    # The watches told the operator everything; each resync only lists each kind once to check them.
    assert {r.action.name for r in requests if r.action is not None} == {"LIST"}
    assert len(requests) <= 6 * 8  # six resyncs, one list per kind (one namespace)


async def test_quantities_the_server_rewrites_cause_no_write_on_resync(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    operator = start_operator(resync_seconds=0.1)
    resources = {"requests": {"cpu": "0.5", "memory": "0.125Gi"}, "limits": {"memory": "1024Mi"}}
    await cluster.create_agentos("demo", resources=resources, persistence={"size": "0.5Gi"})
    await cluster.ready("demo")
    deployment = cluster.get(DEPLOYMENTS, "demo")
    assert deployment is not None
    stored = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert stored == {"requests": {"cpu": "500m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}}
    claim = cluster.get("v1/persistentvolumeclaims", "demo-data")
    assert claim is not None and claim["spec"]["resources"]["requests"]["storage"] == "512Mi"
    settled = operator.reconciles()
    await eventually(lambda: operator.reconciles() >= settled + 2, what="two resyncs")
    mark = cluster.api.mark()
    reconciles = operator.reconciles()

    await eventually(lambda: operator.reconciles() >= reconciles + 3, what="three more resyncs")

    assert [f"{r.method.value} {r.url.path}" for r in cluster.api.writes_since(mark)] == []


async def test_deployment_progress_reaches_the_status_without_any_edit(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    await cluster.create_secret("redis", url="redis://redis.ns1.svc:6379/0")
    start_operator()
    redis = {"id": "redis-db", "type": "redis", "urlSecretRef": {"name": "redis", "key": "url"}}
    await cluster.create_agentos("demo", replicas=3, databases=[redis])
    await eventually(lambda: cluster.get(DEPLOYMENTS, "demo"))
    generation = cluster.get(DEPLOYMENTS, "demo")["metadata"]["generation"]  # type: ignore[index]
    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "DeploymentUnavailable")

    status = {
        "replicas": 3,
        "readyReplicas": 1,
        "availableReplicas": 1,
        "updatedReplicas": 3,
        "observedGeneration": generation,
    }
    await cluster.api.patch(DEPLOYMENTS, "ns1", "demo", {"status": status}, subresource="status")

    await eventually(lambda: cluster.agentos("demo")["status"].get("readyReplicas") == 1, what="1 ready replica")
    ready = cluster.condition("demo", "Ready")
    assert (ready["status"], ready["message"]) == ("False", "1 of 3 pods ready")
    assert cluster.condition("demo", "Progressing")["reason"] == "RolloutInProgress"
    await cluster.roll_out("demo")
    await eventually(lambda: cluster.condition("demo", "Ready").get("status") == "True")
    assert cluster.agentos("demo")["status"]["readyReplicas"] == 3
    assert cluster.get(AGENTOS, "demo")["metadata"]["generation"] == 1  # type: ignore[index]


async def test_a_child_no_longer_desired_is_pruned(cluster: Cluster, start_operator: StartOperator) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo", networkPolicy={"enabled": True})
    await eventually(lambda: cluster.get(NETWORK_POLICIES, "demo"), what="the NetworkPolicy")
    await cluster.ready("demo")

    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"networkPolicy": {"enabled": False}}})

    await eventually(lambda: cluster.get(NETWORK_POLICIES, "demo") is None, what="the NetworkPolicy pruned")
    pruned = ("Pruned", "Deleted NetworkPolicy 'demo'")
    await eventually(lambda: pruned in [(e["reason"], e["message"]) for e in cluster.events_about("demo")])
    assert cluster.get(DEPLOYMENTS, "demo") is not None


async def test_lookalike_objects_not_owned_by_the_resource_are_never_pruned(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    labels = {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/managed-by": "agentos-operator"}
    stranger = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "demo-extra", "labels": labels}}
    await cluster.api.create(CONFIGMAPS, stranger, namespace="ns1")
    start_operator()
    await cluster.create_agentos("demo")

    await cluster.ready("demo")

    assert cluster.get(CONFIGMAPS, "demo-extra") is not None


async def test_without_a_secret_watch_a_rotation_is_found_by_the_resync(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator(watch_secrets=False, resync_seconds=0.2)
    await cluster.create_agentos("demo")
    before = await cluster.ready("demo")

    await cluster.api.patch(SECRETS, "ns1", "openai", {"data": {"api-key": encoded("sk-test-2")}})

    await eventually(lambda: cluster.agentos("demo")["status"]["configHash"] != before["status"]["configHash"])
    assert not [r for r in cluster.api.requests_since(0) if r.url.path.endswith("/secrets") and r.params.get("watch")]


async def test_a_setting_removed_from_the_spec_is_removed_from_the_child(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo", nodeSelector={"disk": "ssd"})
    before = await cluster.ready("demo")

    def node_selector() -> object:
        deployment = cluster.get(DEPLOYMENTS, "demo") or {}
        return deployment["spec"]["template"]["spec"].get("nodeSelector")

    assert node_selector() == {"disk": "ssd"}

    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"nodeSelector": None}})

    await eventually(lambda: node_selector() is None, what="the nodeSelector gone")
    after = await cluster.ready("demo")
    assert after["status"]["configHash"] == before["status"]["configHash"]  # not a config change: no rollout for it
