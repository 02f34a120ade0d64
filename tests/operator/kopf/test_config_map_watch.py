"""The ConfigMaps knowledge sources mount are watched by metadata: creating, editing or deleting one
reconciles every resource mounting it at once.

Through the real operator and the emulator. The resync and the retry of a resource waiting for
a ConfigMap are a minute away in every test, so whatever happens within seconds was woken by
the watch.
"""

from __future__ import annotations

from typing import Any

from kmock._internal import rendering

from tests.operator.kopf.conftest import CONFIGMAPS, DEPLOYMENTS, Cluster, StartOperator, eventually
from tests.support.emulator import VERBS, accept_header

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
HASH = "agentos.dev/config-hash"
# Neither the resync nor the retry of a resource waiting for its ConfigMap comes within a test.
LATER = {"resync_seconds": 60.0, "secret_retry_seconds": 60.0, "error_retry_max_seconds": 60.0}


def knowledge(config_map: str = "handbook") -> dict[str, Any]:
    base = {
        "id": "handbook",
        "embedder": {"apiKeySecretRef": {"name": "openai", "key": "api-key"}},
        "sources": [{"configMap": {"name": config_map}}],
    }
    return {"knowledgeBases": [base]}


async def create_config_map(cluster: Cluster, name: str = "handbook", namespace: str = "ns1", **files: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": files}
    await cluster.api.create(CONFIGMAPS, body, namespace=namespace)


def pods_hash(cluster: Cluster, name: str) -> str | None:
    deployment = cluster.get(DEPLOYMENTS, name)
    return None if deployment is None else str(deployment["spec"]["template"]["metadata"]["annotations"][HASH])


def reads_of(cluster: Cluster, name: str, since: int = 0) -> int:
    """How many times the ConfigMap ``name`` of ns1 was read (``get``) since request ``since``."""
    return len(
        [r for r in cluster.api.requests_since(since) if r.url.path == f"/api/v1/namespaces/ns1/configmaps/{name}"]
    )


def config_map_requests(cluster: Cluster, wanted: str) -> list[rendering.Request]:
    return [
        r
        for r in cluster.api.requests_since(0)
        if r.resource is not None
        and r.resource.plural == "configmaps"
        and r.action is not None
        and VERBS.get(r.action.name) == wanted
    ]


async def waiting_for_the_config_map(cluster: Cluster, name: str = "demo") -> None:
    await eventually(lambda: cluster.condition(name, "Ready").get("reason") == "ConfigMapNotFound", what="waiting")


async def test_a_config_map_created_after_its_resource_resolves_it_without_waiting_for_a_retry(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator(**LATER)
    await cluster.create_agentos("demo", **knowledge())
    await waiting_for_the_config_map(cluster)
    assert cluster.get(DEPLOYMENTS, "demo") is None

    await create_config_map(cluster, **{"leave.md": "# Leave\nTwenty-five days a year."})

    body = await cluster.ready("demo")
    assert body["status"]["configHash"] == pods_hash(cluster, "demo")


async def test_an_edited_config_map_rolls_the_pods_of_every_resource_mounting_it_and_of_no_other(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    await create_config_map(cluster, **{"leave.md": "# Leave\nTwenty-five days a year."})
    await create_config_map(cluster, "faq", **{"faq.md": "# FAQ"})
    start_operator(**LATER)
    readers = ("first", "second")
    for name in readers:
        await cluster.create_agentos(name, **knowledge())
    await cluster.create_agentos("unrelated", **knowledge("faq"))
    before = {name: (await cluster.ready(name))["status"]["configHash"] for name in (*readers, "unrelated")}

    await cluster.api.patch(CONFIGMAPS, "ns1", "handbook", {"data": {"leave.md": "# Leave\nThirty days a year."}})

    for name in readers:
        await eventually(lambda name=name: pods_hash(cluster, name) != before[name], what=f"{name}'s pods rolled")
        body = await cluster.ready(name)
        assert body["metadata"]["generation"] == 1  # the resource was not edited
    assert pods_hash(cluster, "unrelated") == before["unrelated"]


async def test_a_label_alone_wakes_the_readers_and_rolls_nothing(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    await create_config_map(cluster, **{"leave.md": "# Leave"})
    start_operator(**LATER)
    await cluster.create_agentos("demo", **knowledge())
    first = (await cluster.ready("demo"))["status"]["configHash"]
    mark = len(cluster.api.requests_since(0))

    await cluster.api.patch(CONFIGMAPS, "ns1", "handbook", {"metadata": {"labels": {"team": "platform"}}})

    await eventually(lambda: reads_of(cluster, "handbook", mark) >= 1, what="the reader read it again")
    await cluster.ready("demo")
    assert pods_hash(cluster, "demo") == first


async def test_a_deleted_config_map_makes_every_resource_mounting_it_report_it_missing(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    await create_config_map(cluster, **{"leave.md": "# Leave"})
    start_operator(**LATER)
    await cluster.create_agentos("demo", **knowledge())
    await cluster.ready("demo")

    await cluster.api.delete(CONFIGMAPS, "ns1", "handbook")

    await waiting_for_the_config_map(cluster)
    resolved = cluster.condition("demo", "ReferencesResolved")
    assert (resolved["status"], resolved["message"]) == (
        "False",
        "ConfigMap 'handbook' not found (spec.knowledgeBases[0].sources[0].configMap): create it in the resource's namespace",
    )


async def test_the_config_map_watch_asks_for_metadata_only_and_only_in_the_namespaces_served(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    start_operator(namespaces=("ns1",))
    await cluster.watched("configmaps")
    await cluster.watched("agentosconfigs")
    await eventually(
        lambda: any(accept_header(r) == METADATA for r in config_map_requests(cluster, "watch")),
        what="the metadata watch of ConfigMaps",
    )

    lists = [r for r in config_map_requests(cluster, "list") if "labelSelector" not in r.params]
    watches = [r for r in config_map_requests(cluster, "watch") if "labelSelector" not in r.params]

    assert [(r.url.path, accept_header(r)) for r in lists] == [("/api/v1/namespaces/ns1/configmaps", METADATA_LIST)]
    assert [(r.url.path, accept_header(r)) for r in watches] == [("/api/v1/namespaces/ns1/configmaps", METADATA)]
    assert {r.url.path for r in config_map_requests(cluster, "list")} == {"/api/v1/namespaces/ns1/configmaps"}


async def test_an_operator_without_the_secret_watch_still_watches_config_maps(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator(watch_secrets=False, **LATER)
    await cluster.create_agentos("demo", **knowledge())
    await waiting_for_the_config_map(cluster)

    await create_config_map(cluster, **{"leave.md": "# Leave"})

    await cluster.ready("demo")
