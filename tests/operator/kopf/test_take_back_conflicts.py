"""The take-back of a hand-edited child's items (``children._restored``) when the object changes
between its read and the ownership patch: the patch, guarded by the resourceVersion read, fails
409; the object is read again and the patch tried again, at most three times in all. After the
third 409 the reconcile fails with it as it did before the retries (a 409 is retried later).

What a real API server does to the edit and the take-back: tests/cluster/test_hand_edited_children.py
(where a Deployment's controller writing its status in between made the 409, on 1.33.13).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from agentos_operator import render
from agentos_operator.kube import kinds
from agentos_operator.kube.children import Change, apply_children
from agentos_operator.kube.client import ApiConflictError, ApiError
from agentos_operator.kube.store import Store
from agentos_operator.resources import parse_resource

from tests.operator.offline.inputs import resource_body

MANAGER = "agentos-operator"
OWNER = ("ns1", "demo")
KEY_8000 = 'k:{"port":8000,"protocol":"TCP"}'
TAKEN = ("spec.ports[port=8000,protocol=TCP]",)


def rendered_service() -> dict[str, Any]:
    body = resource_body({"models": [{"id": "m", "apiKeySecretRef": {"name": "openai", "key": "k"}}], "agents": []})
    body["metadata"].update(name="demo", namespace="ns1", uid="uid-demo")
    resource = parse_resource(body)
    manifests = render.render(
        resource,
        render.placeholder_secrets(resource),
        settings=render.RenderSettings(default_image="registry.example/agentos:1"),
    )
    [service] = [m for m in manifests if m["kind"] == "Service"]
    return service


def hand_edited(service: Mapping[str, Any]) -> dict[str, Any]:
    """The Service after ``kubectl patch`` of its port: the item is kubectl-patch's, not the operator's apply's."""
    live = copy.deepcopy(dict(service))
    live["spec"]["ports"][0]["port"] = 8000
    live["metadata"].update(
        uid="uid-service",
        resourceVersion="100",
        managedFields=[
            {"manager": MANAGER, "operation": "Apply", "fieldsV1": {"f:spec": {"f:type": {}}}},
            {"manager": "kubectl-patch", "operation": "Update", "fieldsV1": {"f:spec": {"f:ports": {KEY_8000: {}}}}},
        ],
    )
    return live


class Api:
    """One hand-edited Service that another client writes just after each of the operator's reads
    while ``conflicts`` last, so that the ownership patch guarded by what was read fails 409. Its
    dry run is refused (422, a duplicate port name) until the item is taken back."""

    def __init__(self, live: dict[str, Any], conflicts: int) -> None:
        self.live = live
        self.conflicts = conflicts
        self.reads: list[str] = []  # the resourceVersion each read answered
        self.patches: list[str] = []  # the resourceVersion each ownership patch was guarded by
        self.written: list[str] = []  # the kinds really applied

    def _version(self) -> str:
        version: str = self.live["metadata"]["resourceVersion"]
        return version

    async def get(self, kind: kinds.Kind, namespace: str, name: str) -> dict[str, Any] | None:
        answer = copy.deepcopy(self.live)
        self.reads.append(self._version())
        if self.conflicts > 0:
            self.conflicts -= 1
            self.live["metadata"]["resourceVersion"] = str(int(self._version()) + 1)
        return answer

    async def patch(
        self, kind: kinds.Kind, namespace: str, name: str, patch: Mapping[str, Any], *, field_manager: str
    ) -> dict[str, Any]:
        self.patches.append(patch["metadata"]["resourceVersion"])
        if patch["metadata"]["resourceVersion"] != self._version():
            raise ApiConflictError(
                verb="patch",
                path=f"/api/v1/namespaces/{namespace}/services/{name}",
                status=409,
                reason="Conflict",
                message="the object has been modified; please apply your changes to the latest version and try again",
            )
        self.live["metadata"]["managedFields"] = patch["metadata"]["managedFields"]
        self.live["metadata"]["resourceVersion"] = str(int(self._version()) + 1)
        return copy.deepcopy(self.live)

    def taken_back(self) -> bool:
        return all(entry["manager"] == MANAGER for entry in self.live["metadata"]["managedFields"])

    async def apply(self, body: Mapping[str, Any], *, field_manager: str, dry_run: bool = False) -> dict[str, Any]:
        if not self.taken_back():
            raise ApiError(
                verb="dry-run apply" if dry_run else "apply",
                path="/api/v1/namespaces/ns1/services/demo",
                status=422,
                reason="Invalid",
                message='Service "demo" is invalid: spec.ports[1].name: Duplicate value: "http"',
            )
        answer = copy.deepcopy(dict(body))
        answer["metadata"].update(uid="uid-service", resourceVersion=self._version())
        if not dry_run:
            self.written.append(body["kind"])
        return answer


@pytest.fixture
def service() -> dict[str, Any]:
    return rendered_service()


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    """A store whose Service watch holds nothing yet; the hand-edited Service is put in by each test."""
    result = Store(None, consistency_seconds=5)  # type: ignore[arg-type]
    result.watch(kinds.SERVICE)
    yield result
    result.close()


async def take_back(api: Api, store: Store, service: Mapping[str, Any], changes: list[Change]) -> None:
    store.observe(kinds.SERVICE, "ADDED", api.live, owner="demo")
    await apply_children(
        api,  # type: ignore[arg-type]
        store,
        [service],
        owner=OWNER,
        owner_uid="uid-demo",
        field_manager=MANAGER,
        changes=changes,
    )


@pytest.mark.parametrize("conflicts", [0, 1, 2])
async def test_an_object_changed_under_the_ownership_patch_is_read_again_and_taken_back(
    service: dict[str, Any], store: Store, conflicts: int
) -> None:
    api = Api(hand_edited(service), conflicts)
    changes: list[Change] = []

    await take_back(api, store, service, changes)

    assert len(api.patches) == conflicts + 1, "one patch per read, until one met the object as read"
    assert api.patches == api.reads, "each patch guarded by the version its own read answered"
    assert len(set(api.reads)) == len(api.reads), "a new read after each 409"
    assert api.taken_back()
    assert changes == [Change("restored", "Service", "demo", TAKEN)]
    assert api.written == ["Service"]


async def test_an_object_changed_under_three_ownership_patches_fails_the_reconcile_with_the_409_writing_nothing(
    service: dict[str, Any], store: Store
) -> None:
    api = Api(hand_edited(service), conflicts=3)
    changes: list[Change] = []

    with pytest.raises(ApiConflictError) as failed:
        await take_back(api, store, service, changes)

    assert failed.value.transient, "retried as any 409, by the next reconcile"
    assert len(api.patches) == 3 and api.patches == api.reads
    assert not api.taken_back()
    assert (changes, api.written) == ([], [])
