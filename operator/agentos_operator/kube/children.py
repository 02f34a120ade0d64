"""The child objects of one ``AgentOSConfig``: apply the desired ones, prune the ones no longer desired.

A child is written only when it drifted (``drift.drifted``) from what the store holds, with
server-side apply under the operator's field manager, so fields other managers own (an
autoscaler's ``replicas``) are left to them. A child is pruned only when its controller owner
reference names this resource's uid; labels alone could be copied by anyone.
PersistentVolumeClaims are never pruned: they hold data, and go with the resource itself.
Neither are Secrets (see ``PRUNED_KINDS``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentos_operator import drift
from agentos_operator.errors import OperatorError
from agentos_operator.kube import kinds
from agentos_operator.kube.client import ApiClient, ApiError
from agentos_operator.kube.store import Store
from agentos_operator.ownership import INSTANCE, MANAGED_BY, OPERATOR_NAME, controller_uid, may_manage

# Secrets are not listed: render always wants the `<name>-env` Secret and the generated key is
# never deleted, so no Secret is ever pruned, and the operator can run with get-only access to
# Secrets (the chart's `clusterWideSecretWatch: false`).
PRUNED_KINDS = (
    kinds.CONFIG_MAP,
    kinds.SERVICE,
    kinds.DEPLOYMENT,
    kinds.HORIZONTAL_POD_AUTOSCALER,
    kinds.POD_DISRUPTION_BUDGET,
    kinds.NETWORK_POLICY,
)
Key = tuple[str, str]


@dataclass(frozen=True)
class Change:
    """One write made to a child."""

    action: Literal["created", "updated", "pruned"]
    kind: str
    name: str


class ChildRejectedError(OperatorError):
    """The API server would refuse a child as rendered: the spec must change, retrying cannot help."""

    def __init__(self, kind: str, name: str, error: ApiError) -> None:
        self.kind = kind
        self.name = name
        self.status = error.status
        self.detail = error.detail
        super().__init__(f"the API server refuses {kind} '{name}': {error.detail or error.reason}: fix the spec")


class ChildConflictError(OperatorError):
    """A child's name is taken by an object this resource does not own; it is left untouched."""

    def __init__(self, kind: str, name: str, *, fix: str = "rename or delete it") -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"{kind} '{name}' exists and is not owned by this AgentOSConfig: {fix}")


async def apply_children(
    api: ApiClient,
    store: Store,
    manifests: Sequence[Mapping[str, Any]],
    *,
    owner: Key,
    owner_uid: str | None,
    field_manager: str,
    changes: list[Change],
) -> dict[str, dict[str, Any]]:
    """Apply each drifted manifest, in order, appending each write to ``changes`` as it is made.

    Returns the live objects by kind (the last of each kind). Nothing is written when a child
    is someone else's (``ChildConflictError``) or when the API server's dry run refuses one
    (``ChildRejectedError``); a transient failure half-way leaves ``changes`` telling what was
    written before it.
    """
    planned: list[tuple[dict[str, Any], kinds.Kind, dict[str, Any] | None]] = []
    for unstamped in manifests:
        manifest = drift.stamped(unstamped)
        kind = kinds.kind_of(manifest)
        meta = manifest["metadata"]
        live = await store.get(kind, meta["namespace"], meta["name"])
        if live is not None and not may_manage(live, owner[1], owner_uid):
            raise ChildConflictError(kind.kind, meta["name"])
        planned.append((manifest, kind, live))
    drifted = [(m, k, live) for m, k, live in planned if live is None or drift.drifted(live, m)]
    # The API server judges every write first (a dry run stores nothing): a child it would refuse
    # (requests above limits, a bad CIDR, an over-size ConfigMap...) stops the reconcile before
    # the first real write, so a bad spec never leaves half of its children applied.
    for manifest, kind, _ in drifted:
        try:
            await api.apply(manifest, field_manager=field_manager, dry_run=True)
        except ApiError as error:
            if error.transient:
                raise
            raise ChildRejectedError(kind.kind, manifest["metadata"]["name"], error) from error
    written: dict[str, dict[str, Any]] = {}
    for manifest, kind, live in drifted:
        action: Literal["created", "updated"] = "created" if live is None else "updated"
        result = await api.apply(manifest, field_manager=field_manager)
        store.wrote(kind, result, sent=manifest, owner=owner)
        changes.append(Change(action, kind.kind, manifest["metadata"]["name"]))
        written[kind.kind] = result
    live_by_kind: dict[str, dict[str, Any]] = {}
    for _, kind, live in planned:
        found = written.get(kind.kind, live)
        if found is not None:
            live_by_kind[kind.kind] = found
    return live_by_kind


async def prune_children(
    api: ApiClient, store: Store, *, owner: Key, owner_uid: str | None, desired: Iterable[Mapping[str, Any]]
) -> list[Change]:
    """Delete this resource's children that ``desired`` no longer has."""
    if owner_uid is None:
        return []  # without the owner's uid nothing can be proven ours
    namespace, owner_name = owner
    wanted = {(m["kind"], m["metadata"]["name"]) for m in desired}
    selector = f"{INSTANCE}={owner_name},{MANAGED_BY}={OPERATOR_NAME}"
    changes: list[Change] = []
    for kind in PRUNED_KINDS:
        for item in await store.children(kind, namespace, owner_name, label_selector=selector):
            meta = item["metadata"]
            if controller_uid(item) != owner_uid or (kind.kind, meta["name"]) in wanted:
                continue
            if await api.delete(kind, namespace, meta["name"], uid=meta.get("uid")):
                store.deleted(kind, namespace, meta["name"], uid=meta.get("uid"), owner=owner)
                changes.append(Change("pruned", kind.kind, meta["name"]))
    return changes
