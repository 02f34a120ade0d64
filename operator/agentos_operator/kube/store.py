"""What the operator knows of the cluster between API requests: the objects its watches delivered.

A reconcile reads the resource, its children and its Secrets from here, not from the API
server. Every watch event lands here (``observe``): the last version of each object, as
compact JSON without ``managedFields``.

Absence is not trusted for children and Secrets: a label-selected watch never sees an object
of the same name without the operator's labels (someone else's), and at start a watch may not
have listed everything yet. So "not here" is confirmed with a GET before the operator calls a
Secret missing; before it creates a child, the write's own answer confirms it instead
(``get(..., confirm_absence=False)``: the dry run that precedes every child's write, or the
create of the security key, says whether the object exists), which spares a cold start one
GET per child. The key is created so only once its namespace's Secrets are listed
(``has_listed``, which the metadata-only watch says): an operator that restarts before then
would send a create for each key that exists. (kopf indexes would say when a kind is fully listed, but each indexed object
holds a toggle every waiting event re-checks: quadratic at start.)

The store lags the API server by one watch event. So what the operator itself writes is
overlaid on it until the watch delivers that version, or one holding everything written: a
reconcile starting before the event sees its own write and writes nothing twice. A write the
watch does not confirm within ``consistency_seconds`` leaves the overlay and its resource is
reconciled again, from the watch's view. A write whose event came before its answer (the watch
and the write use two connections) is not overlaid at all: the store holds it already.

Secrets are kept by metadata only, whoever owns them; the data of the few a reconcile reads
(referenced, or the operator's own) is read once per resourceVersion and kept beside. Kinds
without a watch (Secrets, when the operator may only get them) are read from the API.

A watch whose resourceVersion expired lists again, and a list never says what was deleted in
between: ``audit`` (run with each resync) lists the kinds again and forgets what is gone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentos_operator import drift
from agentos_operator.kube.client import ApiClient, ApiNotFoundError
from agentos_operator.kube.kinds import Kind

Body = dict[str, Any]
Key = tuple[str, str]
ObjectKey = tuple[str, str, str]  # (kind, namespace, name)
# What a metadata-only copy keeps: enough to find, own and version the object.
KEPT_METADATA = ("name", "namespace", "uid", "resourceVersion", "labels", "ownerReferences")


def compact(body: Mapping[str, Any], *, keep_data: bool = True) -> bytes:
    """``body`` as the store keeps it: JSON without ``managedFields`` (metadata only unless ``keep_data``)."""
    meta = body.get("metadata") or {}
    if not keep_data:
        return json.dumps(
            {"metadata": {k: meta[k] for k in KEPT_METADATA if k in meta}}, separators=(",", ":")
        ).encode()
    meta = {k: v for k, v in meta.items() if k != "managedFields"}
    return json.dumps({**body, "metadata": meta}, separators=(",", ":")).encode()


# Metadata the API server changes with every write, the status's included.
_BOOKKEEPING = frozenset({"resourceVersion", "managedFields"})


def _beside_status(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` without its status and the metadata every write changes: what a status update leaves as it was."""
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in _BOOKKEEPING}
    return {**{k: v for k, v in body.items() if k != "status"}, "metadata": meta}


@dataclass
class _Watched:
    """One kind's objects as its watch delivered them, and the children of each owner."""

    keep_data: bool
    trust_absence: bool
    read_status: bool
    objects: dict[Key, bytes] = field(default_factory=dict)
    seen: dict[Key, int] = field(default_factory=dict)  # the store's event count when last observed
    versions: dict[Key, Any] = field(default_factory=dict)  # resourceVersion when last observed
    by_owner: dict[Key, set[str]] = field(default_factory=dict)
    owners: dict[Key, str] = field(default_factory=dict)
    # Full bodies read from the API (keep_data False), used while their resourceVersion is current.
    read: dict[Key, Body] = field(default_factory=dict)
    # The namespaces (None: every one) whose first list is complete, where the watch says so.
    listed: set[str | None] = field(default_factory=set)


@dataclass
class _Written:
    """A write of ours the watch has not delivered yet; ``body`` None is a delete."""

    body: Body | None
    uid: str | None
    sent: Mapping[str, Any]
    owner: Key
    timer: asyncio.TimerHandle


class Store:
    """Reads for reconciles; create it inside the operator's event loop."""

    def __init__(
        self, api: ApiClient, *, consistency_seconds: float, on_unconfirmed: Callable[[Key], None] | None = None
    ) -> None:
        self._api = api
        self._consistency_seconds = consistency_seconds
        self.on_unconfirmed = on_unconfirmed
        self._kinds: dict[str, _Watched] = {}
        self._written: dict[ObjectKey, _Written] = {}
        self._events = 0

    def watch(
        self, kind: Kind, *, keep_data: bool = True, trust_absence: bool = False, read_status: bool = True
    ) -> None:
        """Keep ``kind`` from its watch's events from now on (metadata only unless ``keep_data``).

        ``trust_absence``: an object not here does not exist, no GET needed. ``read_status``
        False: no decision reads this kind's status, so a change of nothing else is no news (a
        claim's phase, an autoscaler's metrics every 15 seconds).
        """
        self._kinds[kind.kind] = _Watched(keep_data=keep_data, trust_absence=trust_absence, read_status=read_status)

    def watches(self, kind: Kind) -> bool:
        return kind.kind in self._kinds

    def listed(self, kind: Kind, namespace: str | None) -> None:
        """The watch of ``kind`` in ``namespace`` (None: every one) has delivered its first list."""
        self._kinds[kind.kind].listed.add(namespace)

    def has_listed(self, kind: Kind, namespace: str) -> bool:
        """Whether a watch of ``kind`` said its first list covering ``namespace`` is in; False when none says."""
        watched = self._kinds.get(kind.kind)
        return watched is not None and (None in watched.listed or namespace in watched.listed)

    def keys(self, kind: Kind) -> list[Key]:
        """(namespace, name) of every object of a watched kind."""
        return list(self._kinds[kind.kind].objects)

    def observe(self, kind: Kind, event_type: str | None, body: Mapping[str, Any], *, owner: str | None) -> bool:
        """Take in a watch event of ``kind`` (``owner``: the name of its controlling AgentOSConfig).

        Returns whether the event is news that may change a decision. It is not when it is
        exactly a write of ours (the version written, or the delete), nor when it is a listing
        (``event_type`` None) of an object first seen, or seen at this version already: at
        start, each resource's own listing reconciles it anyway; nor when it changes only the
        status of a kind watched with ``read_status`` False.
        """
        watched = self._kinds[kind.kind]
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name")))
        version = meta.get("resourceVersion")
        previous = watched.versions.get(key)
        before = watched.objects.get(key) if event_type == "MODIFIED" and not watched.read_status else None
        self._events += 1
        self._forget(watched, key)
        if event_type == "DELETED":
            watched.read.pop(key, None)
        else:
            watched.seen[key] = self._events
            watched.versions[key] = version
            watched.objects[key] = compact(body, keep_data=watched.keep_data)
            if owner is not None:
                watched.owners[key] = owner
                watched.by_owner.setdefault((key[0], owner), set()).add(key[1])
        ours = self._confirm(kind, event_type, body)
        listed_unchanged = event_type is None and previous in (None, version)
        status_only = before is not None and _beside_status(json.loads(before)) == _beside_status(body)
        return not ours and not listed_unchanged and not status_only

    async def get(self, kind: Kind, namespace: str, name: str, *, confirm_absence: bool = True) -> Body | None:
        """The object as last written or watched; None when absent.

        ``confirm_absence`` False: None also when a watched kind's store does not hold it, without
        the GET that would prove it absent; the caller's next write must prove it instead.
        """
        written = self._written.get((kind.kind, namespace, name))
        if written is not None:
            return written.body
        watched = self._kinds.get(kind.kind)
        if watched is None:
            return await self._api.get(kind, namespace, name)
        blob = watched.objects.get((namespace, name))
        if blob is None:
            if watched.trust_absence or not confirm_absence:
                return None
            return await self._read(kind, watched, namespace, name)
        found: Body = json.loads(blob)
        if watched.keep_data:
            return found
        read = watched.read.get((namespace, name))
        version = found["metadata"].get("resourceVersion")
        if read is not None and read["metadata"].get("resourceVersion") == version:
            return read
        return await self._read(kind, watched, namespace, name)

    async def get_fresh(self, kind: Kind, namespace: str, name: str) -> Body | None:
        """The object as the API server holds it now (one GET), whatever the watch has told yet;
        kept as ``get`` keeps what it reads. None when absent."""
        watched = self._kinds.get(kind.kind)
        if watched is None or watched.keep_data:
            return await self._api.get(kind, namespace, name)
        return await self._read(kind, watched, namespace, name)

    async def audit(self, kind: Kind, *, label_selector: str | None = None) -> list[Key]:
        """Forget the objects of ``kind`` the API server no longer lists; returns their owners' keys.

        Lists each namespace the store holds objects of ``kind`` in. An object an event touched
        after its namespace's listing began is kept: that event is newer than the list.
        """
        watched = self._kinds[kind.kind]
        owners: list[Key] = []
        for namespace in sorted({ns for ns, _ in watched.objects}):
            started = self._events
            items = await self._list(kind, namespace or None, label_selector=label_selector)
            listed = {item["metadata"]["name"] for item in items}
            gone = [key for key in watched.objects if key[0] == namespace and key[1] not in listed]
            for key in gone:
                if watched.seen.get(key, 0) > started:
                    continue
                owner = watched.owners.get(key)
                self._forget(watched, key)
                watched.read.pop(key, None)
                if owner is not None:
                    owners.append((namespace, owner))
        return owners

    async def children(
        self, kind: Kind, namespace: str, owner: str, *, label_selector: str, confirm_unlisted: bool = False
    ) -> list[Body]:
        """Objects of ``kind`` whose controller is the AgentOSConfig ``owner`` (unwatched: listed by
        labels; ``confirm_unlisted``: listed so too while the watch has not listed ``namespace``)."""
        watched = self._kinds.get(kind.kind)
        if watched is None or (confirm_unlisted and not self.has_listed(kind, namespace)):
            return await self._list(kind, namespace, label_selector=label_selector)
        names = watched.by_owner.get((namespace, owner), set())
        found = [json.loads(watched.objects[(namespace, name)]) for name in sorted(names)]
        return [body for body in found if not self._deleted(kind, body)]

    def wrote(self, kind: Kind, body: Mapping[str, Any], *, sent: Mapping[str, Any], owner: Key) -> None:
        """Record the API server's answer to a write of ``sent``, until the watch delivers it."""
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), meta["name"]
        watched = self._kinds.get(kind.kind)
        if watched is not None and not watched.keep_data:
            watched.read[(namespace, name)] = dict(body)
        self._remember(kind, namespace, name, dict(body), meta.get("uid"), sent, owner)

    def deleted(self, kind: Kind, namespace: str, name: str, *, uid: str | None, owner: Key) -> None:
        """Record a delete of ours, until the watch delivers it."""
        self._remember(kind, namespace, name, None, uid, {}, owner)

    def close(self) -> None:
        for written in self._written.values():
            written.timer.cancel()
        self._written.clear()

    async def _list(self, kind: Kind, namespace: str | None, *, label_selector: str | None) -> list[Body]:
        """The objects of ``kind``; none of an optional kind the API server does not serve (404)."""
        try:
            return await self._api.list(kind, namespace, label_selector=label_selector)
        except ApiNotFoundError:
            if not kind.optional:
                raise
            return []

    async def _read(self, kind: Kind, watched: _Watched, namespace: str, name: str) -> Body | None:
        body = await self._api.get(kind, namespace, name)
        if body is not None and not watched.keep_data:
            # Kept until the object changes: without ``managedFields``, often most of a Secret's size.
            body = json.loads(compact(body))
            watched.read[(namespace, name)] = body
        return body

    def _forget(self, watched: _Watched, key: Key) -> None:
        watched.objects.pop(key, None)
        watched.seen.pop(key, None)
        watched.versions.pop(key, None)
        owner = watched.owners.pop(key, None)
        if owner is not None:
            names = watched.by_owner.get((key[0], owner), set())
            names.discard(key[1])
            if not names:
                watched.by_owner.pop((key[0], owner), None)

    def _confirm(self, kind: Kind, event_type: str | None, body: Mapping[str, Any]) -> bool:
        meta = body.get("metadata") or {}
        key = (kind.kind, str(meta.get("namespace") or ""), str(meta.get("name")))
        written = self._written.get(key)
        if written is None:
            return False
        same_object = meta.get("uid") == written.uid
        exact = False
        if written.body is None:  # our delete: confirmed by its DELETED event, or by a new object
            exact = same_object and event_type == "DELETED"
            confirmed = exact or not same_object
        elif event_type == "DELETED":
            confirmed = same_object  # what we wrote is gone: the store says so already
        else:
            exact = meta.get("resourceVersion") == written.body["metadata"].get("resourceVersion")
            confirmed = exact or (same_object and not drift.drifted(body, written.sent))
        if confirmed:
            written.timer.cancel()
            del self._written[key]
        return exact

    def _remember(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        body: Body | None,
        uid: str | None,
        sent: Mapping[str, Any],
        owner: Key,
    ) -> None:
        watched = self._kinds.get(kind.kind)
        if watched is None:
            return  # read from the API anyway: nothing to overlay
        key = (kind.kind, namespace, name)
        if self._delivered(watched, (namespace, name), body, uid):
            # The watch told this write before its answer came (two connections keep no order
            # between them): an overlay now would wait for an event already past, hiding the
            # object's next changes until it expired.
            previous = self._written.pop(key, None)
            if previous is not None:
                previous.timer.cancel()
            return
        previous = self._written.pop(key, None)
        if previous is not None:
            previous.timer.cancel()
        timer = asyncio.get_running_loop().call_later(self._consistency_seconds, self._expire, key)
        self._written[key] = _Written(body, uid, sent, owner, timer)

    @staticmethod
    def _delivered(watched: _Watched, key: Key, body: Body | None, uid: str | None) -> bool:
        """Whether the store already holds what a write of ours left: the very version written
        (``body``), or, for a delete (``body`` None), no object of ``uid`` any more."""
        blob = watched.objects.get(key)
        if body is None:
            return blob is None or json.loads(blob)["metadata"].get("uid") != uid
        version = (body.get("metadata") or {}).get("resourceVersion")
        return blob is not None and version is not None and watched.versions.get(key) == version

    def _expire(self, key: ObjectKey) -> None:
        written = self._written.pop(key, None)
        if written is not None and self.on_unconfirmed is not None:
            self.on_unconfirmed(written.owner)

    def _deleted(self, kind: Kind, body: Mapping[str, Any]) -> bool:
        meta = body.get("metadata") or {}
        written = self._written.get((kind.kind, str(meta.get("namespace") or ""), str(meta.get("name"))))
        return written is not None and written.body is None and written.uid == meta.get("uid")
