"""The store a reconcile reads: the watches' last word, overlaid with the operator's own writes until confirmed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from agentos_operator.kube import kinds, store
from agentos_operator.kube.store import Store

from tests.operator.kopf.conftest import eventually

OWNER = ("ns1", "demo")


def config_map(rv: str, data: str = "a", *, uid: str = "cm-1", labelled: bool = True) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "agentos-operator"} if labelled else {}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "demo-config", "namespace": "ns1", "uid": uid, "resourceVersion": rv, "labels": labels},
        "data": {"config.yaml": data},
    }


class FakeIndex:
    """What kopf's index holds: per key, the blobs of the objects that produced it."""

    def __init__(self) -> None:
        self.entries: dict[Any, list[bytes]] = {}

    def get(self, key: Any, default: Any = None) -> list[bytes] | None:
        return self.entries.get(key, default)

    def put(self, body: dict[str, Any], owner: str | None = "demo") -> None:
        """Index ``body`` as kopf does on an event (replacing what the same object indexed before)."""
        self.drop(body)
        for key, blob in store.index_entries(body, owner).items():
            self.entries.setdefault(key, []).append(blob)

    def drop(self, body: dict[str, Any]) -> None:
        for key in list(self.entries):
            self.entries[key] = [
                b for b in self.entries[key] if json.loads(b)["metadata"]["uid"] != body["metadata"]["uid"]
            ]
            if not self.entries[key]:
                del self.entries[key]


class FakeApi:
    """Answers GETs from a dict, and remembers them."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.gets: list[tuple[str, str, str]] = []

    async def get(self, kind: kinds.Kind, namespace: str, name: str) -> dict[str, Any] | None:
        self.gets.append((kind.kind, namespace, name))
        return self.objects.get((kind.kind, namespace, name))

    async def list(self, kind: kinds.Kind, namespace: str, *, label_selector: str) -> list[dict[str, Any]]:
        return []


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def index() -> FakeIndex:
    return FakeIndex()


@pytest.fixture
async def cache(api: FakeApi, index: FakeIndex) -> AsyncIterator[Store]:
    result = Store(api, consistency_seconds=0.2)  # type: ignore[arg-type]
    result.watch(kinds.CONFIG_MAP, index, selected=True)  # type: ignore[arg-type]
    yield result
    result.close()


async def test_an_indexed_object_is_read_without_a_request(cache: Store, index: FakeIndex, api: FakeApi) -> None:
    index.put(config_map("5"))

    assert await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config") == json.loads(store.compact(config_map("5")))
    assert api.gets == []


async def test_a_write_is_read_back_until_the_watch_delivers_it(cache: Store, index: FakeIndex) -> None:
    index.put(config_map("5", "old"))
    cache.wrote(kinds.CONFIG_MAP, config_map("6", "new"), sent=config_map("", "new"), owner=OWNER)

    assert (await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config"))["data"] == {"config.yaml": "new"}  # type: ignore[index]

    index.put(config_map("6", "new"))
    assert cache.observe(kinds.CONFIG_MAP, "MODIFIED", config_map("6", "new")) is True  # exactly ours: nothing new
    index.put(config_map("7", "edited by hand"))
    assert cache.observe(kinds.CONFIG_MAP, "MODIFIED", config_map("7", "edited by hand")) is False
    assert (await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config"))["data"] == {"config.yaml": "edited by hand"}  # type: ignore[index]


async def test_an_older_event_arriving_after_the_write_does_not_hide_it(cache: Store, index: FakeIndex) -> None:
    cache.wrote(kinds.CONFIG_MAP, config_map("6", "new"), sent=config_map("", "new"), owner=OWNER)

    index.put(config_map("5", "old"))
    cache.observe(kinds.CONFIG_MAP, "MODIFIED", config_map("5", "old"))

    assert (await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config"))["data"] == {"config.yaml": "new"}  # type: ignore[index]


async def test_a_later_version_holding_the_write_confirms_it_but_still_wakes_the_owner(
    cache: Store, index: FakeIndex
) -> None:
    cache.wrote(kinds.CONFIG_MAP, config_map("6", "new"), sent={"data": {"config.yaml": "new"}}, owner=OWNER)
    later = {**config_map("8", "new"), "metadata": {**config_map("8")["metadata"], "annotations": {"x": "y"}}}

    index.put(later)

    assert cache.observe(kinds.CONFIG_MAP, "MODIFIED", later) is False
    assert (await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config"))["metadata"]["resourceVersion"] == "8"  # type: ignore[index]


async def test_a_write_the_watch_never_confirms_is_dropped_and_its_owner_reconciled(
    cache: Store, index: FakeIndex
) -> None:
    woken: list[tuple[str, str]] = []
    cache.on_unconfirmed = woken.append
    index.put(config_map("5", "old"))
    cache.wrote(kinds.CONFIG_MAP, config_map("6", "new"), sent=config_map("", "new"), owner=OWNER)

    await eventually(lambda: woken == [OWNER], timeout=2, what="the owner woken")

    assert (await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config"))["data"] == {"config.yaml": "old"}  # type: ignore[index]


async def test_a_delete_hides_the_child_until_its_deleted_event(cache: Store, index: FakeIndex) -> None:
    index.put(config_map("5"))
    cache.deleted(kinds.CONFIG_MAP, "ns1", "demo-config", uid="cm-1", owner=OWNER)

    assert await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config") is None
    assert await cache.children(kinds.CONFIG_MAP, "ns1", "demo", label_selector="") == []

    index.drop(config_map("5"))
    assert cache.observe(kinds.CONFIG_MAP, "DELETED", config_map("5")) is True
    assert await cache.children(kinds.CONFIG_MAP, "ns1", "demo", label_selector="") == []


async def test_children_are_found_by_owner(cache: Store, index: FakeIndex) -> None:
    index.put(config_map("5"))
    other = config_map("6", uid="cm-2")
    other["metadata"]["name"] = "other-config"
    index.put(other, owner="other")

    children = await cache.children(kinds.CONFIG_MAP, "ns1", "demo", label_selector="")

    assert [child["metadata"]["name"] for child in children] == ["demo-config"]


async def test_absence_from_a_label_selected_watch_is_confirmed_with_a_get(cache: Store, api: FakeApi) -> None:
    squatter = config_map("3", "theirs", labelled=False)
    api.objects[("ConfigMap", "ns1", "demo-config")] = squatter

    assert await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config") == squatter
    assert api.gets == [("ConfigMap", "ns1", "demo-config")]


async def test_absence_from_an_unselected_watch_is_trusted(cache: Store, api: FakeApi) -> None:
    cache.watch(kinds.SECRET, FakeIndex())  # type: ignore[arg-type]

    assert await cache.get(kinds.SECRET, "ns1", "openai") is None
    assert api.gets == []


async def test_an_unwatched_kind_is_read_from_the_api(cache: Store, api: FakeApi) -> None:
    await cache.get(kinds.SECRET, "ns1", "openai")

    assert api.gets == [("Secret", "ns1", "openai")]


def test_the_index_keeps_no_data_of_secrets_it_does_not_own() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "openai", "namespace": "ns1", "uid": "s-1", "resourceVersion": "9", "managedFields": [{}]},
        "data": {"api-key": "c2stc2VjcmV0"},
    }

    kept = json.loads(store.compact(secret, keep_data=False))

    assert kept == {"metadata": {"name": "openai", "namespace": "ns1", "uid": "s-1", "resourceVersion": "9"}}
    assert "managedFields" not in json.loads(store.compact(secret))["metadata"]


async def test_writes_are_not_overlaid_for_kinds_read_from_the_api(cache: Store, api: FakeApi) -> None:
    secret = {"metadata": {"name": "demo-env", "namespace": "ns1", "uid": "s-2", "resourceVersion": "4"}}
    cache.wrote(kinds.SECRET, secret, sent=secret, owner=OWNER)
    await asyncio.sleep(0)

    assert await cache.get(kinds.SECRET, "ns1", "demo-env") is None  # the API's answer, not the write
    assert api.gets == [("Secret", "ns1", "demo-env")]
