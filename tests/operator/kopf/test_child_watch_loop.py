"""The children's watch against the emulator: whole objects, the operator's label selector only, apart from kopf.

The children are watched by the loop the metadata watches run (``MetadataWatch`` with
``whole``), not by kopf: each event goes into the store as it is read, and kopf keeps neither a
queue nor a memory per child.
"""

from __future__ import annotations

from typing import Any

from agentos_operator import handlers, watching
from agentos_operator.kube.client import ApiClient
from agentos_operator.kube.kinds import CONFIG_MAP
from agentos_operator.kube.metadata_watch import WHOLE_PAGE_SIZE, MetadataWatch, watch_in_scope
from agentos_operator.metrics import Metrics
from agentos_operator.settings import OperatorSettings
from kmock._internal import rendering

from tests.operator.kopf.conftest import CONFIGMAPS, Cluster, StartOperator, eventually
from tests.operator.kopf.test_secret_watch_loop import LOGGER, Delays, Delivered, Run, api, requests, run

__all__ = ["api", "run"]  # the fixtures, shared with the Secret watch's tests
OURS = {watching.MANAGED_BY: watching.OPERATOR_NAME}


async def config_map(cluster: Cluster, name: str, labels: dict[str, str], namespace: str = "ns1") -> dict[str, Any]:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}
    return await cluster.api.create(CONFIGMAPS, body, namespace=namespace)


def child_watch(api: ApiClient, delivered: Delivered, *, page_size: int = WHOLE_PAGE_SIZE) -> MetadataWatch:
    return MetadataWatch(
        api,
        CONFIG_MAP,
        "ns1",
        delivered,
        retry_delay=Delays(),
        logger=LOGGER,
        page_size=page_size,
        label_selector=watching.CHILD_SELECTOR,
        whole=True,
    )


async def test_a_whole_watch_lists_and_watches_only_the_selected_objects_and_delivers_them_whole(
    cluster: Cluster, api: ApiClient, run: Run
) -> None:
    for index in range(3):
        await config_map(cluster, f"ours-{index}", OURS)
    await config_map(cluster, "theirs", {"team": "a"})
    delivered = Delivered()

    run(child_watch(api, delivered, page_size=2).run())
    await eventually(lambda: len(requests(cluster, "watch", "configmaps")) == 1, what="the watch")
    await config_map(cluster, "ours-new", OURS)
    await config_map(cluster, "theirs-new", {"team": "a"})
    await eventually(lambda: "ours-new" in delivered.names("ADDED"), what="the new child delivered")

    assert sorted(delivered.names(None)) == ["ours-0", "ours-1", "ours-2"]
    assert delivered.names("ADDED") == ["ours-new"]
    assert all(body["data"] == {"k": "v"} and body["kind"] == "ConfigMap" for body in delivered.bodies)
    asked = [*requests(cluster, "list", "configmaps"), *requests(cluster, "watch", "configmaps")]
    assert {r.params.get("labelSelector") for r in asked} == {watching.CHILD_SELECTOR}
    assert all("PartialObjectMetadata" not in (r.headers.get("Accept") or "") for r in asked)
    assert [r.params["limit"] for r in requests(cluster, "list", "configmaps")] == ["2", "2"]


async def test_a_listed_child_arrives_with_its_api_version_and_kind_which_a_list_leaves_out_of_its_items(
    cluster: Cluster, api: ApiClient, run: Run
) -> None:
    await config_map(cluster, "listed", OURS)
    delivered = Delivered()

    run(child_watch(api, delivered).run())
    await eventually(lambda: len(requests(cluster, "watch", "configmaps")) == 1, what="the watch")
    await config_map(cluster, "watched", OURS)
    await eventually(lambda: "watched" in delivered.names("ADDED"), what="the new child delivered")

    assert [(body["apiVersion"], body["kind"]) for body in delivered.bodies] == [("v1", "ConfigMap")] * 2


async def test_a_whole_watch_remembers_only_the_metadata_and_delivers_a_missed_deletion_by_it(
    cluster: Cluster, api: ApiClient, run: Run
) -> None:
    await config_map(cluster, "kept", OURS)
    await config_map(cluster, "deleted", OURS)
    delivered = Delivered()
    watch = child_watch(api, delivered)
    run(watch.run())
    await eventually(lambda: len(requests(cluster, "watch", "configmaps")) == 1, what="the watch")
    refused = cluster.api.fail_next(503, verb="watch", plural="configmaps", times=10_000)
    await cluster.api.drop_watches()
    await eventually(lambda: refused.fired, what="the watch kept away")
    await cluster.api.delete(CONFIGMAPS, "ns1", "deleted")
    cluster.api.expire_history(CONFIGMAPS)
    cluster.api.clear_faults()

    await eventually(lambda: "deleted" in delivered.names("DELETED"), what="the deletion delivered")

    assert all(set(body) == {"metadata"} for body in watch.known.values())  # no second copy of the data
    assert set(delivered.bodies[-1]) == {"metadata"}


async def test_a_scope_of_named_namespaces_watches_each_with_the_selector(
    cluster: Cluster, api: ApiClient, run: Run
) -> None:
    await config_map(cluster, "in-one", OURS, "ns1")
    await config_map(cluster, "in-two", OURS, "ns2")
    delivered = Delivered()

    run(
        watch_in_scope(
            api,
            CONFIG_MAP,
            ("ns2",),
            delivered,
            retry_delay=Delays(),
            logger=LOGGER,
            label_selector=watching.CHILD_SELECTOR,
            whole=True,
        )
    )
    await eventually(lambda: delivered.names(None) == ["in-two"], what="the namespace's child listed")

    (listed,) = requests(cluster, "list", "configmaps")
    assert listed.params["labelSelector"] == watching.CHILD_SELECTOR
    assert listed.params["limit"] == str(WHOLE_PAGE_SIZE)


def test_kopf_watches_the_resources_only_the_operator_watches_the_children_itself() -> None:
    settings = OperatorSettings()

    registry = handlers.build_registry(settings, login=kopf_login, metrics=Metrics())

    watched = {handler.selector.any_name for handler in registry._watching.get_all_handlers() if handler.selector}
    assert watched == {"agentosconfigs"}
    assert not list(handlers.kopf_settings(settings).watching.label_selectors.keys())


def kopf_login(**_: Any) -> Any:
    raise AssertionError("no login in this test")


async def test_a_new_operator_process_on_a_converged_cluster_rewrites_no_child_it_listed(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    first = start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    await first.stop()
    mark = len(cluster.api.requests_since(0))

    second = start_operator(resync_seconds=0.2)  # each resync reconciles it again, from what the watches listed
    await eventually(lambda: second.reconciles() >= 4, what="the resource reconciled after its children were listed")

    assert [(r.method, r.url.path) for r in cluster.api.requests_since(mark) if is_write(r)] == []


def is_write(request: rendering.Request) -> bool:
    return request.method in ("POST", "PUT", "PATCH", "DELETE") and "dryRun" not in request.params
