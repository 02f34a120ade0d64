"""The watches: what the operator streams from the API server, what it keeps, and what wakes a reconcile.

Every kind a reconcile reads is watched, and each event lands in the store (``kube.store``):

- ``AgentOSConfig``: its body, and what its spec reads by name (``References``): the Secrets it
  references and the ConfigMaps its knowledge sources mount.
- The children (ConfigMaps, Services, claims, Deployments, autoscalers, disruption budgets,
  network policies, Ingresses, PodMonitors where their CRD is installed), whole, with the
  operator's label selector: the operator never streams the cluster's other objects of those kinds. Not through kopf but by the loop the metadata
  watches run (``watch_children``): each event goes into the store as it is read, rather than
  into kopf's per-object queues, and kopf keeps no memory of each child.
- Secrets, when the Secret watch is on, by metadata only: their resourceVersion tells when a
  referenced one changed. Not through kopf, which would stream every Secret's data into the
  operator, but by a metadata-only watch (``kube.metadata_watch``): the API server sends
  ``PartialObjectMetadata``, and what annotations it carries is dropped on arrival. It covers
  the namespaces the operator serves, by kopf's rules for ``settings.namespaces``.
- ConfigMaps, every one in those namespaces, by metadata too (``watch_by_metadata``): a knowledge
  source's ConfigMap is the user's, outside the children's label selector, and only its
  resourceVersion is needed to know that it appeared, changed or went. Their metadata is not
  kept in the store, whose ConfigMaps are the children with their data: only each one's last
  resourceVersion (``Versions``), and a reconcile reads a source's ConfigMap with ``get``.

Each event, once in the store, asks for a reconcile of whom it concerns (the resource itself,
a child's owner, every resource referencing a Secret, every resource mounting a ConfigMap) when
it is news (``Store.observe``, ``Versions.observe``): not a write of the operator's own, not the
first listing of an object (each resource's own listing reconciles it). A ConfigMap's event
wakes its readers only, never an owner: the operator's own ConfigMaps wake their owner through
the children's watch. No kopf index is used: kopf holds back every event
until each indexed object is indexed, re-checking all of them at each step, which at start
costs time quadratic in the number of objects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
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
    kinds.INGRESS,
    kinds.POD_MONITOR,  # optional: where its CRD is not installed, its watch waits quietly (``kube.metadata_watch``)
)
CHILD_SELECTOR = f"{MANAGED_BY}={OPERATOR_NAME}"


def resource_of(kind: Kind) -> tuple[str, str, str]:
    """kopf's (group, version, plural) of ``kind``."""
    group, _, version = kind.api_version.rpartition("/")
    return group, version, kind.plural


@dataclass(frozen=True)
class Referenced:
    """What a resource reads by name in its own namespace."""

    secrets: frozenset[str] = frozenset()
    config_maps: frozenset[str] = frozenset()


def referenced(body: Mapping[str, Any], *, default_image: str | None = None) -> Referenced:
    """Pure: the Secrets and ConfigMaps a resource reads; none while its spec is invalid (it must
    be edited anyway). ``default_image``: as ``parse_resource`` takes it, so that what the
    reconcile finds valid is watched."""
    try:
        resource = parse_resource(body, default_image=default_image)
    except ConfigError:
        return Referenced()
    return Referenced(
        # A mounted Secret (the JWKS) too: its creation ends a SecretNotFound wait. Its updates
        # reconcile to the same children (its value is in no hash), so they restart no pod.
        secrets=frozenset(
            name for name, _ in [*render.required_secret_refs(resource), *render.mounted_secret_refs(resource)]
        ),
        config_maps=frozenset(render.required_config_maps(resource)),
    )


def referenced_secrets(body: Mapping[str, Any]) -> set[str]:
    """Pure: names of the Secrets a resource reads (``referenced``)."""
    return set(referenced(body).secrets)


def referenced_config_maps(body: Mapping[str, Any]) -> set[str]:
    """Pure: names of the ConfigMaps a resource's knowledge sources mount (``referenced``)."""
    return set(referenced(body).config_maps)


class References:
    """Which resources read which Secret and which ConfigMap; a spec is parsed again only when its generation moves."""

    def __init__(self, *, default_image: str | None = None) -> None:
        self._default_image = default_image
        self._secret_readers: dict[Key, set[str]] = {}  # (namespace, secret) -> resource names
        self._config_map_readers: dict[Key, set[str]] = {}  # (namespace, config map) -> resource names
        self._read: dict[Key, tuple[Any, Referenced]] = {}  # resource -> (generation, what it reads)

    def update(self, key: Key, body: Mapping[str, Any]) -> None:
        generation = (body.get("metadata") or {}).get("generation")
        known = self._read.get(key)
        if known is not None and generation is not None and known[0] == generation:
            return
        self.remove(key)
        reads = referenced(body, default_image=self._default_image)
        self._read[key] = (generation, reads)
        _add(self._secret_readers, key, reads.secrets)
        _add(self._config_map_readers, key, reads.config_maps)

    def remove(self, key: Key) -> None:
        _, reads = self._read.pop(key, (None, Referenced()))
        _discard(self._secret_readers, key, reads.secrets)
        _discard(self._config_map_readers, key, reads.config_maps)

    def secret_readers(self, namespace: str, secret: str) -> list[Key]:
        return _readers(self._secret_readers, namespace, secret)

    def config_map_readers(self, namespace: str, config_map: str) -> list[Key]:
        return _readers(self._config_map_readers, namespace, config_map)


def _add(index: dict[Key, set[str]], resource: Key, names: frozenset[str]) -> None:
    for name in names:
        index.setdefault((resource[0], name), set()).add(resource[1])


def _discard(index: dict[Key, set[str]], resource: Key, names: frozenset[str]) -> None:
    for name in names:
        readers = index.get((resource[0], name), set())
        readers.discard(resource[1])
        if not readers:
            index.pop((resource[0], name), None)


def _readers(index: dict[Key, set[str]], namespace: str, name: str) -> list[Key]:
    return [(namespace, reader) for reader in sorted(index.get((namespace, name), ()))]


def news(event_type: str | None, version: str | None, previous: str | None) -> bool:
    """Pure: whether an event about an object whose last seen resourceVersion is ``previous`` may change a decision.

    A deletion is; a watch event is unless it repeats the version seen already; a listing
    (``event_type`` None) is only when it shows an object seen before at another version, as
    ``Store.observe`` decides for the kinds it keeps: at start, each resource's own listing
    reconciles it.
    """
    if event_type == "DELETED":
        return True
    if event_type is None:
        return previous is not None and previous != version
    return previous != version


class Versions:
    """The last resourceVersion of each object a metadata watch delivered, by (namespace, name)."""

    def __init__(self) -> None:
        self._versions: dict[Key, str | None] = {}

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> bool:
        """Take in an event (None: a listing); returns whether it is ``news``."""
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name")))
        version = meta.get("resourceVersion")
        version = None if version is None else str(version)
        if event_type == "DELETED":
            previous = self._versions.pop(key, None)
        else:
            previous = self._versions.get(key)
            self._versions[key] = version
        return news(event_type, version, previous)


async def resync(store: Store, reconciler: Reconciler, *, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """The safety net: forget what the watches missed (``Store.audit``), then reconcile every resource.

    Secrets and ConfigMaps watched by metadata are not audited here: their watch lists them
    again whenever it lost track, and delivers the deletions it missed itself.
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
    store: Store, references: References, reconciler: Reconciler, event_type: str | None, body: Body
) -> None:
    """Keep a Secret's metadata; when it is news, wake the Secret's owner and every resource reading it.

    ``event_type``: None for a listed Secret, else the watch event's type. Only the operator's
    own Secrets (its label) have an owner to wake: anyone may set an ownerReference.
    """
    owner = owner_key(body) if managed_by_operator(body) else None
    if not store.observe(kinds.SECRET, event_type, body, owner=owner[1] if owner is not None else None):
        return
    meta = body.get("metadata") or {}
    keys = set(references.secret_readers(str(meta.get("namespace") or ""), str(meta.get("name"))))
    if owner is not None:
        keys.add(owner)
    for key in sorted(keys):
        reconciler.request(key)


def child_changed(store: Store, reconciler: Reconciler, kind: Kind, event_type: str | None, body: Body) -> None:
    """Keep a child of ``kind``; when the event is news, wake its owner.

    ``event_type``: None for a listed child, else the watch event's type.
    """
    owner = owner_key(body)
    news = store.observe(kind, event_type, body, owner=owner[1] if owner is not None else None)
    if news and owner is not None:
        reconciler.request(owner)


def config_map_changed(
    versions: Versions, references: References, request: Callable[[Key], None], event_type: str | None, body: Body
) -> None:
    """Keep a ConfigMap's resourceVersion; when it is news, ``request`` a reconcile of every resource mounting it.

    ``event_type``: None for a listed ConfigMap, else the watch event's type. A change of labels
    alone wakes the readers too (the resourceVersion cannot tell): their reconcile finds the same
    digest and writes nothing.
    """
    if not versions.observe(event_type, body):
        return
    meta = body.get("metadata") or {}
    for key in references.config_map_readers(str(meta.get("namespace") or ""), str(meta.get("name"))):
        request(key)


async def watch_children(
    api: ApiClient,
    kind: Kind,
    settings: OperatorSettings,
    deliver: Callable[[str | None, Body], None],
    *,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    on_listed: Callable[[str | None], None] | None = None,
) -> None:
    """Watch the operator's children of ``kind`` (its label selector), whole, in the namespaces it
    serves, until cancelled; ``on_listed(namespace)`` as ``watch_by_metadata``'s."""
    await watch_in_scope(
        api,
        kind,
        settings.namespaces,
        deliver,
        retry_delay=settings.retry_delay,
        logger=logger,
        label_selector=CHILD_SELECTOR,
        whole=True,
        on_listed=on_listed,
    )


async def watch_by_metadata(
    api: ApiClient,
    kind: Kind,
    settings: OperatorSettings,
    deliver: Callable[[str | None, Body], None],
    *,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    on_listed: Callable[[str | None], None] | None = None,
) -> None:
    """Watch ``kind`` by metadata in the namespaces the operator serves, each event to ``deliver``, until cancelled.

    ``on_listed(namespace)``: the watch of that namespace (None: of every one) has listed.
    """
    await watch_in_scope(
        api, kind, settings.namespaces, deliver, retry_delay=settings.retry_delay, logger=logger, on_listed=on_listed
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


def describe_scope(settings: OperatorSettings) -> str:
    """Pure: the line the operator logs as it starts, saying what it serves: a resource in a
    namespace it does not watch gets no status and no event, so this is where to look."""
    where = (
        "in every namespace"
        if not settings.namespaces
        else f"in namespaces {', '.join(settings.namespaces)} only (resources elsewhere get no status)"
    )
    election = f", while holding Lease {settings.lease_name}" if settings.leader_election else ""
    return f"serving AgentOSConfig resources {where}{election}; runtime image for resources naming none: {settings.runtime_image}"


def register_watches(registry: kopf.OperatorRegistry) -> None:
    """kopf's one watch: the resources. Children (``watch_children``), Secrets and ConfigMaps
    (``watch_by_metadata``) are watched apart."""
    register_resource_watch(registry)


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
