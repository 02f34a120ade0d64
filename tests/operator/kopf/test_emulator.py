"""The emulated API server behaves like a real one where the operator's tests depend on it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.operator.kopf.conftest import AGENTOS, CONFIGMAPS, Cluster, encoded, eventually

CM_PATH = "/api/v1/namespaces/ns1/configmaps"


@pytest.fixture
async def http(cluster: Cluster) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=str(cluster.api.url)) as session:
        yield session


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": name}}, "data": data}


async def test_create_answers_201_with_identity_and_versions(http: aiohttp.ClientSession) -> None:
    async with http.post(CM_PATH, json=config_map("a", k="v")) as response:
        body = await response.json()

    assert response.status == 201
    assert {"uid", "resourceVersion", "creationTimestamp", "generation"} <= set(body["metadata"])
    assert body["metadata"]["namespace"] == "ns1"
    async with http.post(CM_PATH, json=config_map("a")) as again:
        assert again.status == 409


async def test_a_patch_with_a_stale_resource_version_is_a_conflict(http: aiohttp.ClientSession) -> None:
    async with http.post(CM_PATH, json=config_map("a", k="v")) as response:
        version = (await response.json())["metadata"]["resourceVersion"]
    headers = {"Content-Type": "application/merge-patch+json"}
    fresh = {"metadata": {"resourceVersion": version}, "data": {"k": "w"}}

    async with http.patch(f"{CM_PATH}/a", data=json.dumps(fresh), headers=headers) as ok:
        assert ok.status == 200
    async with http.patch(f"{CM_PATH}/a", data=json.dumps(fresh), headers=headers) as stale:
        assert stale.status == 409


async def test_a_patch_that_changes_nothing_is_not_a_new_version(cluster: Cluster) -> None:
    created = await cluster.api.create(CONFIGMAPS, config_map("a", k="v"), namespace="ns1")

    same = await cluster.api.patch(CONFIGMAPS, "ns1", "a", {"data": {"k": "v"}})

    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_generation_follows_the_spec_and_the_status_subresource_is_separate(cluster: Cluster) -> None:
    body = {"apiVersion": "agentos.dev/v1alpha1", "kind": "AgentOSConfig", "metadata": {"name": "x"}, "spec": {"a": 1}}
    await cluster.api.create(AGENTOS, body, namespace="ns1")

    after_status = await cluster.api.patch(
        AGENTOS, "ns1", "x", {"status": {"s": 1}, "spec": {"a": 9}}, subresource="status"
    )
    after_main = await cluster.api.patch(AGENTOS, "ns1", "x", {"status": {"s": 2}, "spec": {"a": 2}})

    assert (after_status["spec"], after_status["status"], after_status["metadata"]["generation"]) == (
        {"a": 1},
        {"s": 1},
        1,
    )
    assert (after_main["spec"], after_main["status"], after_main["metadata"]["generation"]) == ({"a": 2}, {"s": 1}, 2)


async def test_server_side_apply_creates_a_missing_object_and_needs_a_field_manager(
    http: aiohttp.ClientSession,
) -> None:
    headers = {"Content-Type": "application/apply-patch+yaml"}
    payload = json.dumps(config_map("applied", k="v"))

    async with http.patch(f"{CM_PATH}/applied", data=payload, headers=headers) as anonymous:
        assert anonymous.status == 400
    async with http.patch(f"{CM_PATH}/applied?fieldManager=t&force=true", data=payload, headers=headers) as created:
        assert created.status == 201


async def test_string_data_is_stored_as_base64_data(cluster: Cluster) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}

    stored = await cluster.api.create("v1/secrets", secret, namespace="ns1")

    assert stored["data"] == {"k": encoded("v")} and "stringData" not in stored


async def test_lists_honour_label_selectors_and_carry_a_version(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    for name in ("a", "b"):
        await cluster.api.create(CONFIGMAPS, config_map(name), namespace="ns1")

    async with http.get(CM_PATH, params={"labelSelector": "app=b"}) as response:
        listing = await response.json()

    assert [item["metadata"]["name"] for item in listing["items"]] == ["b"]
    assert listing["kind"] == "ConfigMapList" and int(listing["metadata"]["resourceVersion"]) > 0


async def test_a_watch_resumes_after_a_resource_version_without_losing_events(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    first = await cluster.api.create(CONFIGMAPS, config_map("a"), namespace="ns1")
    await cluster.api.create(CONFIGMAPS, config_map("b"), namespace="ns1")
    await cluster.api.delete(CONFIGMAPS, "ns1", "a")
    seen: list[tuple[str, str]] = []

    async def watch() -> None:
        params = {"watch": "true", "resourceVersion": first["metadata"]["resourceVersion"]}
        async with http.get(CM_PATH, params=params) as response:
            async for line in response.content:
                if line.strip():
                    event = json.loads(line)
                    seen.append((event["type"], event["object"]["metadata"]["name"]))

    task = asyncio.create_task(watch())
    await eventually(lambda: len(seen) >= 2, what="the backlog")
    await cluster.api.create(CONFIGMAPS, config_map("c"), namespace="ns1")
    await eventually(lambda: len(seen) >= 3, what="a live event")
    await cluster.api.drop_watches()
    await asyncio.wait_for(task, timeout=5)  # a dropped watch ends cleanly

    assert seen == [("ADDED", "b"), ("DELETED", "a"), ("ADDED", "c")]


async def test_namespaces_can_be_listed_and_read(http: aiohttp.ClientSession) -> None:
    async with http.get("/api/v1/namespaces") as listing, http.get("/api/v1/namespaces/ns2") as one:
        names = [item["metadata"]["name"] for item in (await listing.json())["items"]]
        assert (listing.status, one.status) == (200, 200)
        assert (await one.json())["metadata"]["name"] == "ns2"
    assert names == ["ns1", "ns2"]


async def test_core_discovery_names_the_group_version_v1(http: aiohttp.ClientSession) -> None:
    async with http.get("/api/v1") as response:
        assert (await response.json())["groupVersion"] == "v1"


async def test_deleting_an_owner_collects_what_it_owns(cluster: Cluster) -> None:
    owner = await cluster.api.create(CONFIGMAPS, config_map("owner"), namespace="ns1")
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }
    child = config_map("child")
    child["metadata"]["ownerReferences"] = [ref]
    await cluster.api.create(CONFIGMAPS, child, namespace="ns1")

    await cluster.api.delete(CONFIGMAPS, "ns1", "owner")

    assert cluster.get(CONFIGMAPS, "child") is None


async def test_injected_faults_answer_the_next_matching_requests_then_stop(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    cluster.api.fail_next(500, verb="list", plural="configmaps", times=2)
    statuses = []
    for _ in range(3):
        async with http.get(CM_PATH) as response:
            statuses.append(response.status)

    assert statuses == [500, 500, 200]
    assert [r.method.value for r in cluster.api.writes_since(0)] == []


async def test_a_list_comes_in_pages_when_asked_each_object_once(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    for index in range(5):
        await cluster.api.create(CONFIGMAPS, config_map(f"page-{index}"), namespace="ns1")
    names: list[str] = []
    versions: set[str] = set()
    params = {"limit": "2"}

    while True:
        async with http.get(CM_PATH, params=params) as response:
            page = await response.json()
        assert len(page["items"]) <= 2
        names += [item["metadata"]["name"] for item in page["items"]]
        versions.add(page["metadata"]["resourceVersion"])
        if not page["metadata"]["continue"]:
            break
        params = {"limit": "2", "continue": page["metadata"]["continue"]}

    assert names == [f"page-{index}" for index in range(5)]
    assert len(versions) == 1  # every page speaks of the list's one version


async def test_an_object_not_found_is_a_status_without_a_traceback(http: aiohttp.ClientSession) -> None:
    async with http.get(f"{CM_PATH}/absent") as response:
        body = await response.json()

    assert response.status == 404
    assert (body["kind"], body["code"]) == ("Status", 404)
    assert "traceback" not in json.dumps(body)
