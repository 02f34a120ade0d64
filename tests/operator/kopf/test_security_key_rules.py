"""The generated security key: created, with the children, when the operator's listed Secrets do
not hold it, and a create the API server answers 409 read back to tell ours (kept, read on the
retry) from someone else's (refused). Before the Secrets are listed (an operator just started),
it is looked up first."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from agentos_operator.kube import kinds
from agentos_operator.kube.children import Change, ChildBeingRemovedError, ChildConflictError, apply_children
from agentos_operator.kube.client import ApiConflictError
from agentos_operator.kube.secrets import security_key
from agentos_operator.kube.store import Store
from agentos_operator.resources import AgentOSResource, parse_resource

from tests.operator.offline.inputs import resource_body

KEY = ("ns1", "demo-security-key")


def demo() -> AgentOSResource:
    body = resource_body(
        {"models": [{"id": "m", "apiKeySecretRef": {"name": "openai", "key": "k"}}], "agents": [{"id": "a"}]}
    )
    body["metadata"].update(name="demo", namespace="ns1", uid="uid-demo")
    return parse_resource(body)


class Api:
    """Creates into ``objects`` (409 for a name taken), answers GETs from it, applies over it; counts each call."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[str] = []
        self.made_meanwhile: dict[str, Any] | None = None
        """Stored just before the next real create: another replica's, made since the dry run."""

    async def create(self, body: Mapping[str, Any], *, field_manager: str, dry_run: bool = False) -> dict[str, Any]:
        self.calls.append("dry-run create" if dry_run else "create")
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if not dry_run and self.made_meanwhile is not None:
            self.objects[key], self.made_meanwhile = self.made_meanwhile, None
        if key in self.objects:
            raise ApiConflictError(verb="create", path="/secrets", status=409, reason="AlreadyExists", message="exists")
        if dry_run:
            return {**body}
        self.objects[key] = {**body, "metadata": {**body["metadata"], "uid": "s-1", "resourceVersion": "5"}}
        return self.objects[key]

    async def get(self, kind: kinds.Kind, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append("get")
        return self.objects.get((namespace, name))

    async def apply(self, body: Mapping[str, Any], *, field_manager: str, dry_run: bool = False) -> dict[str, Any]:
        """What taking a Secret over would call: overwrites, as server-side apply with force does."""
        self.calls.append("dry-run apply" if dry_run else "apply")
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if not dry_run:
            self.objects[key] = {**body}
        return self.objects.get(key, {**body})


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
async def cache(api: Api) -> AsyncIterator[Store]:
    result = Store(api, consistency_seconds=5)  # type: ignore[arg-type]
    result.watch(kinds.SECRET, keep_data=False)
    result.listed(kinds.SECRET, "ns1")
    yield result
    result.close()


async def ensure(api: Api, store: Store) -> bool:
    """What a reconcile of a resource with no other child does: plan the key, create it if new."""
    key = await security_key(store, demo())
    assert key is not None
    changes: list[Change] = []
    once = [key.to_create] if key.to_create is not None else []
    await apply_children(
        api,  # type: ignore[arg-type]
        store,
        [],
        owner=("ns1", "demo"),
        owner_uid="uid-demo",
        field_manager="op",
        changes=changes,
        created_once=once,
    )
    return changes == [Change("created", "Secret", "demo-security-key")]


async def test_a_key_no_watch_holds_is_created_without_being_looked_up(api: Api, cache: Store) -> None:
    assert await ensure(api, cache)

    assert api.calls == ["dry-run create", "create"]
    owner = api.objects[KEY]["metadata"]["ownerReferences"][0]
    assert (owner["name"], owner["uid"]) == ("demo", "uid-demo")


async def test_the_value_planned_is_the_value_created(api: Api, cache: Store) -> None:
    key = await security_key(cache, demo())
    assert key is not None and key.to_create is not None

    stored = base64.b64decode(key.to_create.manifest["data"]["security-key"]).decode()

    assert stored == key.value
    assert len(key.value) >= 43


async def test_a_key_created_first_by_another_replica_is_kept_and_read_on_the_retry(api: Api, cache: Store) -> None:
    assert await ensure(api, cache)
    theirs = api.objects[KEY]
    fresh = Store(api, consistency_seconds=5)  # type: ignore[arg-type]
    fresh.watch(kinds.SECRET, keep_data=False)  # a replica whose watch listed before it was made
    fresh.listed(kinds.SECRET, None)

    with pytest.raises(ApiConflictError) as raised:
        await ensure(api, fresh)

    assert raised.value.transient
    assert api.objects[KEY] is theirs
    assert api.calls == ["dry-run create", "create", "dry-run create", "get"]
    fresh.close()


async def test_a_key_planted_where_no_watch_sees_it_is_refused_and_left_alone(api: Api, cache: Store) -> None:
    planted = {"metadata": {"name": "demo-security-key", "namespace": "ns1", "uid": "x", "resourceVersion": "2"}}
    api.objects[KEY] = planted

    with pytest.raises(ChildConflictError, match="Secret 'demo-security-key' exists and is not owned by this"):
        await ensure(api, cache)

    assert api.objects[KEY] is planted
    assert api.calls == ["dry-run create", "get"]


async def test_the_key_of_a_previous_resource_of_this_name_is_waited_for_while_it_is_collected(
    api: Api, cache: Store
) -> None:
    previous = [
        {
            "apiVersion": "agentos.dev/v1alpha1",
            "kind": "AgentOSConfig",
            "name": "demo",
            "uid": "old",
            "controller": True,
        }
    ]
    planted = {
        "metadata": {
            "name": "demo-security-key",
            "namespace": "ns1",
            "uid": "x",
            "resourceVersion": "2",
            "ownerReferences": previous,
        }
    }
    api.objects[KEY] = planted

    with pytest.raises(ChildBeingRemovedError, match="Secret 'demo-security-key' .* garbage collector"):
        await ensure(api, cache)

    assert api.objects[KEY] is planted


async def test_before_the_secrets_are_listed_an_existing_key_is_read_and_no_create_is_sent(api: Api) -> None:
    first = Store(api, consistency_seconds=5)  # type: ignore[arg-type]
    first.watch(kinds.SECRET, keep_data=False)
    first.listed(kinds.SECRET, "ns1")
    assert await ensure(api, first)
    restarted = Store(api, consistency_seconds=5)  # type: ignore[arg-type]
    restarted.watch(kinds.SECRET, keep_data=False)
    restarted.listed(kinds.SECRET, "elsewhere")  # another namespace's list says nothing of ns1

    assert not await ensure(api, restarted)

    assert api.calls == ["dry-run create", "create", "get"]
    first.close()
    restarted.close()


async def test_before_the_secrets_are_listed_a_missing_key_is_looked_up_then_created(api: Api) -> None:
    restarted = Store(api, consistency_seconds=5)  # type: ignore[arg-type]
    restarted.watch(kinds.SECRET, keep_data=False)

    assert await ensure(api, restarted)

    assert api.calls == ["get", "dry-run create", "create"]
    restarted.close()


async def test_a_key_another_replica_creates_after_the_dry_run_stops_the_reconcile_before_any_write(
    api: Api, cache: Store
) -> None:
    """The env Secret carries the key's value: written beside a create that got 409, it would
    hand the pods a key no Secret holds (seen on a real control plane, two replicas racing)."""
    key = await security_key(cache, demo())
    assert key is not None and key.to_create is not None
    theirs = {**key.to_create.manifest, "data": {"security-key": "dGhlaXJz"}}
    api.made_meanwhile = {**theirs, "metadata": {**theirs["metadata"], "uid": "s-9", "resourceVersion": "7"}}
    env = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "demo-env", "namespace": "ns1", "labels": key.to_create.manifest["metadata"]["labels"]},
        "data": {"OS_SECURITY_KEY": key.to_create.manifest["data"]["security-key"]},
    }
    changes: list[Change] = []

    with pytest.raises(ApiConflictError) as raised:
        await apply_children(
            api,  # type: ignore[arg-type]
            cache,
            [env],
            owner=("ns1", "demo"),
            owner_uid="uid-demo",
            field_manager="op",
            changes=changes,
            created_once=[key.to_create],
        )

    assert raised.value.transient, "retried: the next reconcile reads the stored key"
    assert api.calls == ["dry-run apply", "dry-run create", "create", "get"]
    assert ("ns1", "demo-env") not in api.objects
    assert changes == []
