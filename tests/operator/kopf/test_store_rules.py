"""The store a reconcile reads: the watches' last word, overlaid with the operator's own writes until confirmed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from agentos_operator.kube import kinds, store
from agentos_operator.kube.store import Store

from tests.operator.kopf.conftest import eventually

OWNER = ("ns1", "demo")


def config_map(rv: str, data: str = "a", *, uid: str = "cm-1", name: str = "demo-config") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns1", "uid": uid, "resourceVersion": rv, "managedFields": [{}]},
        "data": {"config.yaml": data},
    }


def secret(rv: str, value: str = "c2stMQ==") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "openai", "namespace": "ns1", "uid": "s-1", "resourceVersion": rv},
        "data": {"api-key": value},
    }


class FakeApi:
    """Answers GETs and LISTs from a dict, and remembers the GETs."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.gets: list[tuple[str, str, str]] = []
        self.during_list: Callable[[], None] = lambda: None

    async def get(self, kind: kinds.Kind, namespace: str, name: str) -> dict[str, Any] | None:
        self.gets.append((kind.kind, namespace, name))
        return self.objects.get((kind.kind, namespace, name))

    async def list(self, kind: kinds.Kind, namespace: str, *, label_selector: str | None) -> list[dict[str, Any]]:
        self.during_list()
        return [body for (k, ns, _), body in self.objects.items() if (k, ns) == (kind.kind, namespace)]


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
async def cache(api: FakeApi) -> AsyncIterator[Store]:
    result = Store(api, consistency_seconds=0.2)  # type: ignore[arg-type]
    result.watch(kinds.CONFIG_MAP)
    result.watch(kinds.SECRET, keep_data=False)
    yield result
    result.close()


async def data_of(cache: Store) -> Any:
    body = await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config")
    return body["data"]["config.yaml"] if body is not None else None


async def test_a_watched_object_is_read_without_a_request_and_without_managed_fields(
    cache: Store, api: FakeApi
) -> None:
    cache.observe(kinds.CONFIG_MAP, None, config_map("5"), owner="demo")

    found = await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config")

    assert found is not None and found["data"] == {"config.yaml": "a"}
    assert "managedFields" not in found["metadata"]
    assert api.gets == []


async def test_a_write_is_read_back_until_the_watch_delivers_it(cache: Store) -> None:
    cache.observe(kinds.CONFIG_MAP, None, config_map("5", "old"), owner="demo")
    cache.wrote(kinds.CONFIG_MAP, config_map("6", "new"), sent=config_map("", "new"), owner=OWNER)

    assert await data_of(cache) == "new"
    assert cache.observe(kinds.CONFIG_MAP, "MODIFIED", config_map("6", "new"), owner="demo") is False  # ours
    assert cache.observe(kinds.CONFIG_MAP, "MODIFIED", config_map("7", "by hand"), owner="demo") is True
    assert await data_of(cache) == "by hand"


async def test_an_older_event_arriving_after_the_write_does_not_hide_it(cache: Store) -> None:
    cache.wrote(kinds.CONFIG_MAP, config_map("6", "new"), sent=config_map("", "new"), owner=OWNER)

    cache.observe(kinds.CONFIG_MAP, "MODIFIED", config_map("5", "old"), owner="demo")

    assert await data_of(cache) == "new"


async def test_a_later_version_holding_the_write_confirms_it_but_is_news(cache: Store) -> None:
    cache.wrote(kinds.CONFIG_MAP, config_map("6", "new"), sent={"data": {"config.yaml": "new"}}, owner=OWNER)
    later = config_map("8", "new")
    later["metadata"]["annotations"] = {"added": "by someone"}

    assert cache.observe(kinds.CONFIG_MAP, "MODIFIED", later, owner="demo") is True
    found = await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config")
    assert found is not None and found["metadata"]["resourceVersion"] == "8"


async def test_a_write_the_watch_never_confirms_is_dropped_and_its_owner_reconciled(cache: Store) -> None:
    woken: list[tuple[str, str]] = []
    cache.on_unconfirmed = woken.append
    cache.observe(kinds.CONFIG_MAP, None, config_map("5", "old"), owner="demo")
    cache.wrote(kinds.CONFIG_MAP, config_map("6", "new"), sent=config_map("", "new"), owner=OWNER)

    await eventually(lambda: woken == [OWNER], timeout=2, what="the owner woken")

    assert await data_of(cache) == "old"


async def test_a_write_the_watch_told_before_its_answer_came_leaves_no_overlay(cache: Store) -> None:
    cache.observe(kinds.CONFIG_MAP, None, config_map("5", "old"), owner="demo")
    cache.observe(kinds.CONFIG_MAP, "MODIFIED", config_map("6", "new"), owner="demo")  # our write's event, first
    cache.wrote(kinds.CONFIG_MAP, config_map("6", "new"), sent=config_map("", "new"), owner=OWNER)

    assert cache.observe(kinds.CONFIG_MAP, "MODIFIED", config_map("7", "by hand"), owner="demo") is True
    assert await data_of(cache) == "by hand"  # not hidden behind the write


async def test_a_delete_the_watch_told_before_its_answer_came_hides_nothing(cache: Store) -> None:
    cache.observe(kinds.CONFIG_MAP, None, config_map("5"), owner="demo")
    cache.observe(kinds.CONFIG_MAP, "DELETED", config_map("5"), owner="demo")  # our delete's event, first
    cache.observe(kinds.CONFIG_MAP, "ADDED", config_map("9", "anew", uid="cm-2"), owner="demo")
    cache.deleted(kinds.CONFIG_MAP, "ns1", "demo-config", uid="cm-1", owner=OWNER)

    assert await data_of(cache) == "anew"


async def test_a_delete_hides_the_child_until_its_deleted_event(cache: Store) -> None:
    cache.observe(kinds.CONFIG_MAP, None, config_map("5"), owner="demo")
    cache.deleted(kinds.CONFIG_MAP, "ns1", "demo-config", uid="cm-1", owner=OWNER)

    assert await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config") is None
    assert await cache.children(kinds.CONFIG_MAP, "ns1", "demo", label_selector="") == []
    assert cache.observe(kinds.CONFIG_MAP, "DELETED", config_map("5"), owner="demo") is False  # ours
    assert await cache.children(kinds.CONFIG_MAP, "ns1", "demo", label_selector="") == []


async def test_children_are_found_by_owner_and_leave_with_their_deleted_event(cache: Store) -> None:
    cache.observe(kinds.CONFIG_MAP, None, config_map("5"), owner="demo")
    cache.observe(kinds.CONFIG_MAP, None, config_map("6", uid="cm-2", name="other-config"), owner="other")

    children = await cache.children(kinds.CONFIG_MAP, "ns1", "demo", label_selector="")
    assert [child["metadata"]["name"] for child in children] == ["demo-config"]

    cache.observe(kinds.CONFIG_MAP, "DELETED", config_map("7"), owner="demo")
    assert await cache.children(kinds.CONFIG_MAP, "ns1", "demo", label_selector="") == []


async def test_absence_is_confirmed_with_a_get(cache: Store, api: FakeApi) -> None:
    squatter = config_map("3", "theirs")
    api.objects[("ConfigMap", "ns1", "demo-config")] = squatter

    assert await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config") == squatter
    assert api.gets == [("ConfigMap", "ns1", "demo-config")]


async def test_absence_is_trusted_where_told_to(cache: Store, api: FakeApi) -> None:
    cache.watch(kinds.AGENTOS_CONFIG, trust_absence=True)

    assert await cache.get(kinds.AGENTOS_CONFIG, "ns1", "demo") is None
    assert api.gets == []


async def test_an_unwatched_kind_is_read_from_the_api(cache: Store, api: FakeApi) -> None:
    await cache.get(kinds.SERVICE, "ns1", "demo")

    assert api.gets == [("Service", "ns1", "demo")]


async def test_a_secret_is_kept_by_metadata_and_read_once_per_version(cache: Store, api: FakeApi) -> None:
    cache.observe(kinds.SECRET, None, secret("9"), owner=None)
    api.objects[("Secret", "ns1", "openai")] = secret("9")

    first = await cache.get(kinds.SECRET, "ns1", "openai")
    again = await cache.get(kinds.SECRET, "ns1", "openai")
    assert first == again == secret("9")
    assert api.gets == [("Secret", "ns1", "openai")]

    cache.observe(kinds.SECRET, "MODIFIED", secret("10", "c2stMg=="), owner=None)
    api.objects[("Secret", "ns1", "openai")] = secret("10", "c2stMg==")
    rotated = await cache.get(kinds.SECRET, "ns1", "openai")
    assert rotated is not None and rotated["data"] == {"api-key": "c2stMg=="}
    assert len(api.gets) == 2


def test_a_metadata_only_copy_keeps_no_data() -> None:
    kept = json.loads(
        store.compact({**secret("9"), "metadata": {**secret("9")["metadata"], "managedFields": [{}]}}, keep_data=False)
    )

    assert kept == {"metadata": {"name": "openai", "namespace": "ns1", "uid": "s-1", "resourceVersion": "9"}}


async def test_a_secret_read_is_kept_without_its_managed_fields(cache: Store, api: FakeApi) -> None:
    managed = [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:data": {"f:api-key": {}}}}]
    cache.observe(kinds.SECRET, None, secret("9"), owner=None)
    api.objects[("Secret", "ns1", "openai")] = {
        **secret("9"),
        "metadata": {**secret("9")["metadata"], "managedFields": managed},
    }

    first = await cache.get(kinds.SECRET, "ns1", "openai")
    again = await cache.get(kinds.SECRET, "ns1", "openai")

    assert first == again == secret("9")
    assert len(api.gets) == 1


async def test_a_secret_written_is_read_back_without_a_request(cache: Store, api: FakeApi) -> None:
    cache.wrote(kinds.SECRET, secret("4"), sent=secret(""), owner=OWNER)
    cache.observe(kinds.SECRET, "ADDED", secret("4"), owner="demo")

    assert await cache.get(kinds.SECRET, "ns1", "openai") == secret("4")
    assert api.gets == []


async def test_an_audit_forgets_what_the_api_server_no_longer_has_and_names_its_owner(
    cache: Store, api: FakeApi
) -> None:
    cache.observe(kinds.CONFIG_MAP, None, config_map("5"), owner="demo")  # deleted while the watch was away
    kept = config_map("6", uid="cm-2", name="kept-config")
    cache.observe(kinds.CONFIG_MAP, None, kept, owner="kept")
    api.objects[("ConfigMap", "ns1", "kept-config")] = kept

    assert await cache.audit(kinds.CONFIG_MAP) == [OWNER]

    assert [
        c["metadata"]["name"] for c in await cache.children(kinds.CONFIG_MAP, "ns1", "demo", label_selector="")
    ] == []
    assert [
        c["metadata"]["name"] for c in await cache.children(kinds.CONFIG_MAP, "ns1", "kept", label_selector="")
    ] == ["kept-config"]


async def test_an_audit_keeps_what_an_event_delivered_while_it_listed(cache: Store, api: FakeApi) -> None:
    kept = config_map("6", uid="cm-2", name="kept-config")
    cache.observe(kinds.CONFIG_MAP, None, kept, owner="kept")
    api.objects[("ConfigMap", "ns1", "kept-config")] = kept
    api.during_list = lambda: cache.observe(kinds.CONFIG_MAP, "ADDED", config_map("7"), owner="demo")

    assert await cache.audit(kinds.CONFIG_MAP) == []

    assert await cache.children(kinds.CONFIG_MAP, "ns1", "demo", label_selector="") != []


def test_a_listing_is_news_only_where_an_object_changed_since_it_was_last_seen(cache: Store) -> None:
    assert cache.observe(kinds.CONFIG_MAP, None, config_map("5"), owner="demo") is False  # first seen, at start
    assert cache.observe(kinds.CONFIG_MAP, None, config_map("5"), owner="demo") is False  # listed again, unchanged
    assert cache.observe(kinds.CONFIG_MAP, None, config_map("9", "b"), owner="demo") is True  # changed meanwhile
    assert cache.observe(kinds.CONFIG_MAP, "MODIFIED", config_map("10", "c"), owner="demo") is True


async def test_absence_left_unconfirmed_costs_no_request(cache: Store, api: FakeApi) -> None:
    api.objects[("ConfigMap", "ns1", "demo-config")] = config_map("3", "theirs")

    assert await cache.get(kinds.CONFIG_MAP, "ns1", "demo-config", confirm_absence=False) is None
    assert api.gets == []


def claim(rv: str, *, phase: str = "Pending", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": "demo-data",
            "namespace": "ns1",
            "uid": "c-1",
            "resourceVersion": rv,
            "labels": labels or {},
        },
        "spec": {"resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": phase},
    }


async def test_a_status_no_decision_reads_is_no_news_but_anything_else_it_changes_is(cache: Store) -> None:
    cache.watch(kinds.PERSISTENT_VOLUME_CLAIM, read_status=False)
    cache.observe(kinds.PERSISTENT_VOLUME_CLAIM, "ADDED", claim("1"), owner="demo")

    assert not cache.observe(kinds.PERSISTENT_VOLUME_CLAIM, "MODIFIED", claim("2", phase="Bound"), owner="demo")
    found = await cache.get(kinds.PERSISTENT_VOLUME_CLAIM, "ns1", "demo-data")
    assert found is not None and found["status"] == {"phase": "Bound"}  # kept all the same
    assert cache.observe(
        kinds.PERSISTENT_VOLUME_CLAIM, "MODIFIED", claim("3", phase="Bound", labels={"x": "y"}), owner="demo"
    )


async def test_a_status_a_decision_reads_is_news(cache: Store) -> None:
    cache.watch(kinds.PERSISTENT_VOLUME_CLAIM)
    cache.observe(kinds.PERSISTENT_VOLUME_CLAIM, "ADDED", claim("1"), owner="demo")

    assert cache.observe(kinds.PERSISTENT_VOLUME_CLAIM, "MODIFIED", claim("2", phase="Bound"), owner="demo")
