"""The PodMonitor, a kind only clusters with the Prometheus Operator's CRDs serve, against the emulator.

The emulator serves no PodMonitor until a test declares it, as a cluster without those CRDs:
its watch finds none and says so once, at info; a resource that does not ask for one is
reconciled as ever; one that asks says what to do in its status and one Warning, and converges
once the kind is served, without a restart. The watch loop and the store read a 404 for an
optional kind as "none exist".
"""

from __future__ import annotations

import logging
from typing import Any

import kmock
import pytest
from agentos_operator import conditions
from agentos_operator.kube import kinds
from agentos_operator.kube.client import ApiClient
from agentos_operator.kube.metadata_watch import MetadataWatch
from agentos_operator.kube.store import Store
from agentos_operator.render import podmonitor

from tests.operator.kopf.conftest import Cluster, StartOperator, eventually
from tests.operator.kopf.test_secret_watch_loop import Delays, Delivered, Run, api, requests, run

__all__ = ["api", "run"]  # the fixtures, shared with the Secret watch's tests
PODMONITORS = "monitoring.coreos.com/v1/podmonitors"
OURS = {"app.kubernetes.io/managed-by": "agentos-operator"}


def serve_pod_monitors(cluster: Cluster) -> None:
    """What installing the Prometheus Operator's CRDs does: the API server serves the kind."""
    cluster.api.resources[PODMONITORS] = kmock.ResourceInfo(
        kind="PodMonitor",
        singular="podmonitor",
        namespaced=True,
        verbs={"create", "delete", "get", "list", "patch", "update", "watch"},
    )


def trouble(records: list[logging.LogRecord]) -> list[str]:
    """What was logged above info, but kopf's word that a test runs it outside the main thread."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in records
        if r.levelno > logging.INFO and not r.getMessage().startswith("OS signals are ignored")
    ]


async def test_without_the_crd_a_resource_not_asking_is_reconciled_as_ever_and_nothing_is_logged_above_info(
    cluster: Cluster, start_operator: StartOperator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await cluster.create_secret("openai", api_key="sk-1")
    await cluster.create_agentos("demo")
    start_operator()
    await cluster.ready("demo")
    await eventually(lambda: len(requests(cluster, "list", "podmonitors")) >= 2, what="podmonitors listed again")

    assert trouble(caplog.records) == []
    told = [r.getMessage() for r in caplog.records if "podmonitors" in r.getMessage()]
    assert any("not served" in line for line in told), told
    assert len([line for line in told if "not served" in line]) == len({line for line in told if "not served" in line})
    assert not [r for r in cluster.api.requests_since(0) if "podmonitors" in r.url.path and r.method != "GET"]


async def test_a_resource_asking_without_the_crd_says_what_to_do_once_then_converges_when_it_is_served(
    cluster: Cluster, start_operator: StartOperator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await cluster.create_secret("openai", api_key="sk-1")
    await cluster.create_agentos("demo", prometheus={"podMonitor": {"enabled": True, "labels": {"release": "p"}}})
    operator = start_operator()

    ready = await eventually(
        lambda: (
            cluster.condition("demo", "Ready").get("reason") == conditions.CRD_NOT_INSTALLED
            and cluster.condition("demo", "Ready")
        ),
        what="Ready=False CRDNotInstalled",
    )
    assert ready["status"] == "False"
    assert ready["message"] == podmonitor.missing_crd_message()
    assert "spec.prometheus.podMonitor.enabled" in ready["message"] and "install" in ready["message"]
    assert cluster.condition("demo", "Stalled")["status"] == "True"
    assert cluster.get("apps/v1/deployments", "demo") is None, "nothing half-applied"
    # Looked at again (its retries), one Warning all the same.
    before = operator.reconciles("waiting")
    await eventually(lambda: operator.reconciles("waiting") >= before + 3, what="retries")
    warnings = [e for e in cluster.events_about("demo") if e["type"] == "Warning"]
    assert [(e["reason"], e["message"]) for e in warnings] == [(conditions.CRD_NOT_INSTALLED, ready["message"])]
    # Logged once, as every Warning Event is; nothing else above info.
    assert trouble(caplog.records) == [f"agentos_operator.reconcile: ns1/demo CRDNotInstalled: {ready['message']}"]

    serve_pod_monitors(cluster)
    body = await cluster.ready("demo")
    monitor = cluster.get(PODMONITORS, "demo")
    assert monitor is not None
    assert monitor["spec"]["selector"] == {
        "matchLabels": cluster.get("apps/v1/deployments", "demo")["spec"]["selector"]["matchLabels"]
    }  # type: ignore[index]
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/metrics"}]
    assert monitor["metadata"]["labels"]["release"] == "p"
    assert monitor["metadata"]["ownerReferences"][0]["uid"] == body["metadata"]["uid"]
    await eventually(lambda: len(requests(cluster, "watch", "podmonitors")) >= 1, what="the PodMonitor watch")
    assert len(trouble(caplog.records)) == 1


def monitor_watch(api: ApiClient, delivered: Delivered) -> MetadataWatch:
    return MetadataWatch(
        api,
        kinds.POD_MONITOR,
        "ns1",
        delivered,
        retry_delay=Delays(),
        logger=logging.getLogger("tests.pod_monitor_watch"),
        whole=True,
        on_listed=delivered.listed,
    )


async def make_pod_monitor(cluster: Cluster, name: str) -> dict[str, Any]:
    body = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": {"name": name, "labels": OURS}}
    return await cluster.api.create(PODMONITORS, body, namespace="ns1")


async def test_the_watch_of_a_kind_not_served_lists_none_then_watches_once_it_is(
    cluster: Cluster, api: ApiClient, run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    delivered = Delivered()
    run(monitor_watch(api, delivered).run())
    await eventually(lambda: len(requests(cluster, "list", "podmonitors")) >= 3, what="listed again")
    assert delivered.events == [] and delivered.lists[:1] == [("ns1", 0)], "an empty list, said as listed"
    assert trouble(caplog.records) == []
    assert len([r for r in caplog.records if "not served" in r.getMessage()]) == 1, "said once"

    # As the CRD comes into service, the API server answers 429 until its storage is ready: said at info.
    cluster.api.fail_next(429, verb="list", plural="podmonitors", message="storage is (re)initializing")
    serve_pod_monitors(cluster)
    await eventually(lambda: len(requests(cluster, "watch", "podmonitors")) >= 1, what="watched once served")
    assert any("coming into service" in r.getMessage() for r in caplog.records)
    await make_pod_monitor(cluster, "made")
    await eventually(lambda: delivered.names("ADDED") == ["made"], what="the new PodMonitor delivered")
    assert any("served now" in r.getMessage() for r in caplog.records)


async def test_a_404_while_watching_an_optional_kind_deletes_what_was_known(
    cluster: Cluster, api: ApiClient, run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    serve_pod_monitors(cluster)
    await make_pod_monitor(cluster, "made")
    # The CRD deleted between the list and the watch (its objects go with it).
    cluster.api.fail_next(404, verb="watch", plural="podmonitors", times=1)
    delivered = Delivered()
    run(monitor_watch(api, delivered).run())

    await eventually(lambda: delivered.names("DELETED") == ["made"], what="what was known delivered as deleted")
    assert delivered.names(None) == ["made"]
    assert trouble(caplog.records) == []


async def test_the_store_finds_none_of_an_optional_kind_not_served_and_fails_for_any_other(
    cluster: Cluster, api: ApiClient
) -> None:
    store = Store(api, consistency_seconds=1.0)
    assert await store.children(kinds.POD_MONITOR, "ns1", "demo", label_selector="a=b") == []
    required = kinds.Kind("example.com/v1", "Widget", "widgets")
    with pytest.raises(Exception, match="404"):
        await store.children(required, "ns1", "demo", label_selector="a=b")
