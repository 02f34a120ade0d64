"""ConfigMaps that knowledge sources mount: a missing one (or key) is reported and nothing is
written until it is there. Their watch (a change rolls the pods at once): test_config_map_watch.py."""

from __future__ import annotations

from typing import Any

from tests.operator.kopf.conftest import (
    CONFIGMAPS,
    DEPLOYMENTS,
    Cluster,
    StartOperator,
    eventually,
)


def knowledge(items: list[str] | None = None) -> dict[str, Any]:
    config_map: dict[str, Any] = {"name": "handbook"}
    if items is not None:
        config_map["items"] = items
    base = {
        "id": "handbook",
        "embedder": {"apiKeySecretRef": {"name": "openai", "key": "api-key"}},
        "sources": [{"configMap": config_map}],
    }
    return {"knowledgeBases": [base]}


async def create_handbook(cluster: Cluster, **files: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "handbook"}, "data": files}
    await cluster.api.create(CONFIGMAPS, body, namespace="ns1")


async def test_a_missing_config_map_is_reported_and_nothing_is_written_until_it_exists(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo", **knowledge())

    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "ConfigMapNotFound", what="reported")
    resolved = cluster.condition("demo", "ReferencesResolved")
    assert (resolved["status"], resolved["message"]) == (
        "False",
        "ConfigMap 'handbook' not found (spec.knowledgeBases[0].sources[0].configMap): create it in the resource's namespace",
    )

    def warnings() -> list[tuple[str, str]]:  # the Event is posted after the status
        return [(e["reason"], e["message"]) for e in cluster.events_about("demo") if e["type"] == "Warning"]

    assert await eventually(warnings, what="the Warning") == [
        (
            "ConfigMapNotFound",
            "ConfigMap 'handbook' not found (spec.knowledgeBases[0].sources[0].configMap): create it in the resource's namespace",
        )
    ]
    assert cluster.get(DEPLOYMENTS, "demo") is None

    await create_handbook(cluster, **{"leave.md": "# Leave\nTwenty-five days a year."})
    await cluster.ready("demo")
    deployment = cluster.get(DEPLOYMENTS, "demo")
    assert deployment is not None
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "knowledge-0-0", "configMap": {"name": "handbook"}} in volumes


async def test_a_listed_key_the_config_map_lacks_is_reported_by_name(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    await create_handbook(cluster, **{"leave.md": "# Leave"})
    start_operator()
    await cluster.create_agentos("demo", **knowledge(items=["leave.md", "travel.md"]))

    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "ConfigMapKeyMissing", what="missing")
    assert cluster.condition("demo", "Ready")["message"] == (
        "ConfigMap 'handbook' has no key 'travel.md' (spec.knowledgeBases[0].sources[0].configMap.items[1]); "
        "its keys: 'leave.md': add it, or list one it has"
    )
    assert cluster.get(DEPLOYMENTS, "demo") is None
