"""The watches: what the operator streams from the API server, what it keeps, and what wakes a reconcile.

Every kind a reconcile reads is watched and indexed by kopf, and ``kube.store`` reads the indexes:

- ``AgentOSConfig``: its body, its key (for the resync) and the Secrets it references.
- The children (ConfigMaps, Services, claims, Deployments, autoscalers, disruption budgets,
  network policies), with the operator's label selector: the operator never streams the
  cluster's other objects of those kinds.
- Secrets, when the Secret watch is on: the operator's own in full, every other one by metadata
  only (its resourceVersion tells when a referenced one changed).

Each event, once kopf updated the index, confirms the operator's own write (``Store.observe``)
or asks for a reconcile of whom it concerns: the resource itself, a child's owner, every
resource referencing a Secret. An event that is exactly a write of the operator's tells nothing
new and wakes nothing. The first event opens the reconciler: kopf delivers none before every
indexed kind has been listed once.
"""

from __future__ import annotations

from typing import Any

import kopf
from agentos_runtime.config import ConfigError

from agentos_operator import render
from agentos_operator.kube import kinds, store
from agentos_operator.kube.kinds import Kind
from agentos_operator.ownership import MANAGED_BY, OPERATOR_NAME, managed_by_operator, owner_key
from agentos_operator.resources import parse_resource
from agentos_operator.settings import OperatorSettings

Key = tuple[str, str]
CHILD_KINDS = (
    kinds.CONFIG_MAP,
    kinds.SERVICE,
    kinds.PERSISTENT_VOLUME_CLAIM,
    kinds.DEPLOYMENT,
    kinds.HORIZONTAL_POD_AUTOSCALER,
    kinds.POD_DISRUPTION_BUDGET,
    kinds.NETWORK_POLICY,
)
CHILD_SELECTOR = f"{MANAGED_BY}={OPERATOR_NAME}"


def resource_of(kind: Kind) -> tuple[str, str, str]:
    """kopf's (group, version, plural) of ``kind``."""
    group, _, version = kind.api_version.rpartition("/")
    return group, version, kind.plural


def index_id(kind: Kind) -> str:
    """The id of ``kind``'s object index: also the keyword kopf passes it to handlers under."""
    return f"{kind.plural}_store"


def watched_kinds(settings: OperatorSettings) -> list[Kind]:
    """Every kind the store reads from an index."""
    return [kinds.AGENTOS_CONFIG, *CHILD_KINDS, *([kinds.SECRET] if settings.watch_secrets else [])]


def referenced_secrets(body: Any) -> set[str]:
    """Names of the Secrets a resource reads; none while its spec is invalid (it must be edited anyway)."""
    try:
        resource = parse_resource(body)
    except ConfigError:
        return set()
    return {name for name, _ in render.required_secret_refs(resource)}


def register_watches(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    register_resource_watch(registry)
    for kind in CHILD_KINDS:
        register_child_watch(registry, kind)
    if settings.watch_secrets:
        register_secret_watch(registry)


def register_resource_watch(registry: kopf.OperatorRegistry) -> None:
    """Index every resource (body, key, referenced Secrets); reconcile it on each event not of our making."""
    resource = resource_of(kinds.AGENTOS_CONFIG)

    @kopf.index(*resource, id=index_id(kinds.AGENTOS_CONFIG), registry=registry)
    async def agentos_store(body: kopf.Body, **_: Any) -> dict[Any, bytes]:
        return store.index_entries(body, None)

    @kopf.index(*resource, id="agentos_keys", registry=registry)
    async def agentos_keys(namespace: str | None, name: str, **_: Any) -> dict[None, Key]:
        return {None: (namespace or "", name)}

    @kopf.index(*resource, id="agentos_by_secret", registry=registry)
    async def agentos_by_secret(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Key, Key]:
        return {(namespace or "", secret): (namespace or "", name) for secret in referenced_secrets(body)}

    @kopf.on.event(*resource, id="agentos-changed", registry=registry)
    async def agentos_changed(
        type: str | None, body: kopf.Body, namespace: str | None, name: str, memo: Any, **_: Any
    ) -> None:
        memo.reconciler.open()
        if not memo.store.observe(kinds.AGENTOS_CONFIG, type, body):
            memo.reconciler.request((namespace or "", name))


def register_child_watch(registry: kopf.OperatorRegistry, kind: Kind) -> None:
    """Index the operator's children of ``kind``; a change not of our making wakes their owner."""
    resource = resource_of(kind)

    @kopf.index(*resource, id=index_id(kind), registry=registry)
    async def child_store(body: kopf.Body, **_: Any) -> dict[Any, bytes]:
        owner = owner_key(body)
        return store.index_entries(body, owner[1] if owner is not None else None)

    @kopf.on.event(*resource, id=f"{kind.plural}-changed", registry=registry)
    async def child_changed(type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
        memo.reconciler.open()
        owner = owner_key(body)
        if not memo.store.observe(kind, type, body) and owner is not None:
            memo.reconciler.request(owner)


def register_secret_watch(registry: kopf.OperatorRegistry) -> None:
    """Index Secrets (others' by metadata only); a change wakes its owner and every resource referencing it."""
    resource = resource_of(kinds.SECRET)

    @kopf.index(*resource, id=index_id(kinds.SECRET), registry=registry)
    async def secrets_store(body: kopf.Body, **_: Any) -> dict[Any, bytes]:
        owner = owner_key(body)
        mine = managed_by_operator(body)
        return store.index_entries(body, owner[1] if owner is not None and mine else None, keep_data=mine)

    @kopf.on.event(*resource, id="secrets-changed", registry=registry)
    async def secret_changed(
        type: str | None, body: kopf.Body, namespace: str | None, name: str, memo: Any, **kwargs: Any
    ) -> None:
        memo.reconciler.open()
        if type == "DELETED":
            memo.secrets.forget(namespace or "", name)
        if memo.store.observe(kinds.SECRET, type, body):
            return
        index: kopf.Index[Key, Key] = kwargs["agentos_by_secret"]
        keys = set(index.get((namespace or "", name), []))
        owner = owner_key(body)
        if owner is not None:
            keys.add(owner)
        for key in keys:
            memo.reconciler.request(key)
