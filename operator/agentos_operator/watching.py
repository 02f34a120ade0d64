"""The watches: what the operator streams from the API server, what it keeps, and what wakes a reconcile.

Every kind a reconcile reads is watched, and each event lands in the store (``kube.store``):

- ``AgentOSConfig``: its body, and the Secrets its spec references (``SecretReferences``).
- The children (ConfigMaps, Services, claims, Deployments, autoscalers, disruption budgets,
  network policies), with the operator's label selector: the operator never streams the
  cluster's other objects of those kinds.
- Secrets, when the Secret watch is on, by metadata only: their resourceVersion tells when a
  referenced one changed. Not through kopf, which would stream every Secret's data into the
  operator, but by a metadata-only watch (``kube.metadata_watch``): the API server sends
  ``PartialObjectMetadata``, and what annotations it carries is dropped on arrival. It covers
  the namespaces the operator serves, by kopf's rules for ``settings.namespaces``.

Each event, once in the store, asks for a reconcile of whom it concerns (the resource itself,
a child's owner, every resource referencing a Secret) when it is news (``Store.observe``): not
a write of the operator's own, not the first listing of a child (each resource's own listing
reconciles it). No kopf index is used: kopf holds back every event
until each indexed object is indexed, re-checking all of them at each step, which at start
costs time quadratic in the number of objects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf
from agentos_runtime.config import ConfigError

from agentos_operator import render
from agentos_operator.kube import kinds, metadata_watch
from agentos_operator.kube.client import ApiClient, ApiError
from agentos_operator.kube.kinds import Kind
from agentos_operator.kube.metadata_watch import watch_in_scope
from agentos_operator.kube.store import Store
from agentos_operator.ownership import MANAGED_BY, OPERATOR_NAME, managed_by_operator, owner_key
from agentos_operator.queueing import Reconciler
from agentos_operator.resources import parse_resource
from agentos_operator.settings import OperatorSettings

Key = tuple[str, str]
Body = dict[str, Any]
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


def referenced_secrets(body: Mapping[str, Any]) -> set[str]:
    """Names of the Secrets a resource reads; none while its spec is invalid (it must be edited anyway)."""
    try:
        resource = parse_resource(body)
    except ConfigError:
        return set()
    return {name for name, _ in render.required_secret_refs(resource)}


class SecretReferences:
    """Which resources read which Secret; a resource's spec is parsed again only when its generation moves."""

    def __init__(self) -> None:
        self._readers: dict[Key, set[str]] = {}  # (namespace, secret) -> resource names
        self._read: dict[Key, tuple[Any, set[str]]] = {}  # resource -> (generation, secrets)

    def update(self, key: Key, body: Mapping[str, Any]) -> None:
        generation = (body.get("metadata") or {}).get("generation")
        known = self._read.get(key)
        if known is not None and generation is not None and known[0] == generation:
            return
        self.remove(key)
        secrets = referenced_secrets(body)
        self._read[key] = (generation, secrets)
        for secret in secrets:
            self._readers.setdefault((key[0], secret), set()).add(key[1])

    def remove(self, key: Key) -> None:
        _, secrets = self._read.pop(key, (None, set()))
        for secret in secrets:
            readers = self._readers.get((key[0], secret), set())
            readers.discard(key[1])
            if not readers:
                self._readers.pop((key[0], secret), None)

    def readers(self, namespace: str, secret: str) -> list[Key]:
        return [(namespace, name) for name in sorted(self._readers.get((namespace, secret), ()))]


async def resync(store: Store, reconciler: Reconciler, *, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """The safety net: forget what the watches missed (``Store.audit``), then reconcile every resource.

    Secrets are not audited here: their watch lists them again (by metadata) whenever it lost
    track, and delivers the deletions it missed itself.
    """
    audited = [(kinds.AGENTOS_CONFIG, None), *((kind, CHILD_SELECTOR) for kind in CHILD_KINDS)]
    for kind, selector in audited:
        try:
            owners = await store.audit(kind, label_selector=selector)
        except ApiError as error:
            logger.warning("could not list %s to check the watch: %s", kind.plural, error)
            continue
        for key in owners:
            reconciler.request(key)
    reconciler.request_all(store.keys(kinds.AGENTOS_CONFIG))


async def resync_forever(every: float, run: Callable[[], Awaitable[None]]) -> None:
    """``run`` every ``every`` seconds, until cancelled."""
    while True:
        await asyncio.sleep(every)
        await run()


def secret_changed(
    store: Store, references: SecretReferences, reconciler: Reconciler, event_type: str | None, body: Body
) -> None:
    """Keep a Secret's metadata; when it is news, wake the Secret's owner and every resource reading it.

    ``event_type``: None for a listed Secret, else the watch event's type. Only the operator's
    own Secrets (its label) have an owner to wake: anyone may set an ownerReference.
    """
    owner = owner_key(body) if managed_by_operator(body) else None
    if not store.observe(kinds.SECRET, event_type, body, owner=owner[1] if owner is not None else None):
        return
    meta = body.get("metadata") or {}
    keys = set(references.readers(str(meta.get("namespace") or ""), str(meta.get("name"))))
    if owner is not None:
        keys.add(owner)
    for key in sorted(keys):
        reconciler.request(key)


async def watch_secrets(
    api: ApiClient,
    settings: OperatorSettings,
    deliver: Callable[[str | None, Body], None],
    *,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    """Watch Secrets by metadata in the namespaces the operator serves, each event to ``deliver``, until cancelled."""
    await watch_in_scope(
        api, kinds.SECRET, settings.namespaces, deliver, retry_delay=settings.retry_delay, logger=logger
    )


def scope_of(settings: OperatorSettings) -> Callable[[str | None], bool]:
    """Which namespaces' events the operator takes in.

    kopf follows a namespace pattern by listing namespaces, then watching them from a second
    listing whose objects it ignores: a namespace created between the two is never served. So a
    pattern is served by cluster-wide watches and this filter, as a namespace-filtered cache
    would; names and all-namespaces are scoped by kopf's watches themselves.
    """
    if not settings.namespace_patterns:
        return lambda _: True
    patterns = settings.namespaces
    return lambda namespace: namespace is not None and metadata_watch.namespace_matches(namespace, patterns)


def register_watches(registry: kopf.OperatorRegistry) -> None:
    """kopf's watches: the resources and their children. Secrets are watched apart (``watch_secrets``)."""
    register_resource_watch(registry)
    for kind in CHILD_KINDS:
        register_child_watch(registry, kind)


def register_resource_watch(registry: kopf.OperatorRegistry) -> None:
    """Keep every resource and what it references; reconcile it on each event not of our making."""

    @kopf.on.event(*resource_of(kinds.AGENTOS_CONFIG), id="agentos-changed", registry=registry)
    async def agentos_changed(
        type: str | None, body: kopf.Body, namespace: str | None, name: str, memo: Any, **_: Any
    ) -> None:
        if not memo.serves(namespace):
            return
        key = (namespace or "", name)
        if type == "DELETED":
            memo.references.remove(key)
        else:
            memo.references.update(key, body)
        news = memo.store.observe(kinds.AGENTOS_CONFIG, type, body, owner=None)
        if news or type is None:  # a listed resource is reconciled, changed or not
            memo.reconciler.request(key)


def register_child_watch(registry: kopf.OperatorRegistry, kind: Kind) -> None:
    """Keep the operator's children of ``kind``; a change not of our making wakes their owner."""

    @kopf.on.event(*resource_of(kind), id=f"{kind.plural}-changed", registry=registry)
    async def child_changed(type: str | None, body: kopf.Body, namespace: str | None, memo: Any, **_: Any) -> None:
        if not memo.serves(namespace):
            return
        owner = owner_key(body)
        news = memo.store.observe(kind, type, body, owner=owner[1] if owner is not None else None)
        if news and owner is not None:
            memo.reconciler.request(owner)
