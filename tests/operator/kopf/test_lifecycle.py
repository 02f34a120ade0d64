"""A resource's whole life under the real operator: created, ready, edited, rolled, deleted."""

from __future__ import annotations

from agentos_operator.spec import AgentOSConfigStatus

from tests.operator.kopf.conftest import (
    AGENTOS,
    CONFIGMAPS,
    DEPLOYMENTS,
    IMAGE,
    SECRETS,
    SERVICES,
    Cluster,
    StartOperator,
    eventually,
)

CHILDREN = (
    (CONFIGMAPS, "demo-config"),
    (SECRETS, "demo-env"),
    (SECRETS, "demo-security-key"),
    (SERVICES, "demo"),
    (DEPLOYMENTS, "demo"),
    ("v1/persistentvolumeclaims", "demo-data"),
)


def config_hash(cluster: Cluster, name: str = "demo") -> str:
    deployment = cluster.get(DEPLOYMENTS, name)
    assert deployment is not None
    return str(deployment["spec"]["template"]["metadata"]["annotations"]["agentos.dev/config-hash"])


async def test_create_makes_owned_children_and_a_ready_status(cluster: Cluster, start_operator: StartOperator) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    created = await cluster.create_agentos("demo")
    body = await cluster.ready("demo")

    owner = {
        "apiVersion": "agentos.dev/v1alpha1",
        "kind": "AgentOSConfig",
        "name": "demo",
        "uid": created["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for resource, name in CHILDREN:
        child = cluster.get(resource, name)
        assert child is not None, f"{resource} {name} was not created"
        assert child["metadata"]["ownerReferences"] == [owner], name
        assert child["metadata"]["labels"]["app.kubernetes.io/instance"] == "demo"
    status = body["status"]
    assert status["observedGeneration"] == body["metadata"]["generation"]
    assert (status["replicas"], status["readyReplicas"]) == (1, 1)
    assert status["url"] == "http://demo.ns1.svc:7777"
    assert status["configHash"] == config_hash(cluster)
    deployment = cluster.get(DEPLOYMENTS, "demo")
    assert deployment is not None
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert status["selector"] == ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    by_type = {c["type"]: c for c in status["conditions"]}
    assert {t: (c["status"], c["reason"]) for t, c in by_type.items()} == {
        "Ready": ("True", "Available"),
        "Progressing": ("False", "RolloutComplete"),
        "Degraded": ("False", "AsExpected"),
        "ReferencesResolved": ("True", "Resolved"),
    }
    for condition in status["conditions"]:
        assert set(condition) >= {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}
    AgentOSConfigStatus.model_validate(status, by_alias=True, by_name=False)  # what the CRD's status schema allows


async def test_the_operator_writes_nothing_on_the_resource_but_its_status(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    mark = cluster.api.mark()
    await cluster.create_agentos("demo")
    body = await cluster.ready("demo")

    assert not body["metadata"].get("finalizers")
    assert not body["metadata"].get("annotations")  # no kopf bookkeeping either
    writes = [r for r in cluster.api.writes_since(mark) if r.resource and r.resource.plural == "agentosconfigs"]
    assert writes and {(r.method.value, r.subresource) for r in writes} == {("PATCH", "status")}


async def test_an_edit_changes_the_config_and_its_hash_and_rolls_the_deployment(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    before = await cluster.ready("demo")
    old_hash = before["status"]["configHash"]

    patch = {"spec": {"agents": [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Answer in French."]}]}}
    await cluster.api.patch(AGENTOS, "ns1", "demo", patch)

    await eventually(lambda: config_hash(cluster) != old_hash, what="a new config hash on the pod template")
    config_map = cluster.get(CONFIGMAPS, "demo-config")
    assert config_map is not None and "Answer in French." in str(config_map["data"])
    after = await cluster.ready("demo")
    assert after["status"]["configHash"] == config_hash(cluster) != old_hash
    assert after["status"]["observedGeneration"] == after["metadata"]["generation"] == 2
    updates = {"ConfigMap 'demo-config'", "Deployment 'demo'"}
    await eventually(lambda: updates <= set(cluster.children_told("demo", "Updated")), what="the Updated event")


async def test_deleting_the_resource_removes_everything_it_owns(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")

    await cluster.api.delete(AGENTOS, "ns1", "demo")

    assert cluster.get(AGENTOS, "demo") is None  # no finalizer holds it back
    for resource, name in CHILDREN:
        assert cluster.get(resource, name) is None, f"{resource} {name} outlived its owner"
    assert cluster.get(SECRETS, "openai") is not None  # referenced, not owned: the user's to keep


async def test_events_tell_what_was_decided_once_and_resyncs_add_none(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    operator = start_operator(resync_seconds=0.1)
    await cluster.create_agentos("demo")
    await cluster.ready("demo")

    def events() -> list[tuple[str, str, str]]:
        return [(e["type"], e["reason"], e["message"]) for e in cluster.events_about("demo")]

    await eventually(lambda: ("Normal", "Available", "1 of 1 pods ready") in events(), what="the Available event")
    resyncs = operator.reconciles()
    await eventually(lambda: operator.reconciles() >= resyncs + 3, what="three resyncs")

    created = cluster.children_told("demo", "Created")
    for kind, name in (("ConfigMap", "demo-config"), ("Deployment", "demo"), ("Secret", "demo-security-key")):
        assert created.count(f"{kind} '{name}'") == 1
    assert [e for e in events() if e[1] == "Created"] == [("Normal", "Created", f"Created {', '.join(created)}")]
    assert [e for e in events() if e[1] == "Available"] == [("Normal", "Available", "1 of 1 pods ready")]
    assert all(e["source"]["component"] == "agentos-operator" for e in cluster.events_about("demo"))


async def test_the_generated_security_key_is_never_regenerated(cluster: Cluster, start_operator: StartOperator) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    operator = start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    key = cluster.get(SECRETS, "demo-security-key")
    assert key is not None and key["data"]["security-key"]

    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"replicas": 1, "image": "registry.example/other:2"}})
    await eventually(lambda: cluster.agentos("demo")["status"]["observedGeneration"] == 2)
    await operator.stop()
    start_operator()
    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"image": "registry.example/other:3"}})
    await eventually(lambda: cluster.agentos("demo")["status"]["observedGeneration"] == 3)

    assert cluster.get(SECRETS, "demo-security-key") == key
