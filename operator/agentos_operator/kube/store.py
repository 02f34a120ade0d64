"""What the operator knows of the cluster between API requests: the objects its watches delivered.

A reconcile reads the resource, its children and Secret versions from here, not from the API
server. kopf indexes hold the last version each watch delivered (compact JSON, no
``managedFields``), and kopf runs no handler before every indexed kind has been listed once, so
"not in the index" means absent, not "not seen yet".

The index lags the API server by one watch event. So what the operator itself writes is
overlaid on it until the watch delivers that version, or one holding everything written: a
reconcile starting before the event sees its own write and writes nothing twice. A write the
watch does not confirm within ``consistency_seconds`` leaves the overlay and its resource is
reconciled again, from the index.

Kinds without a watch (Secrets, when the operator may only get them) are read from the API.
Kinds watched with the operator's label selector hold only its labelled objects: an object of
the same name without those labels (someone else's) is invisible to them, so there "absent"
is confirmed with a GET before the operator creates anything. Secrets the operator does not own
are indexed by metadata only: no other Secret's data stays in memory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from agentos_operator import drift
from agentos_operator.kube.client import ApiClient
from agentos_operator.kube.kinds import Kind

Body = dict[str, Any]
Key = tuple[str, str]
ObjectKey = tuple[str, str, str]  # (kind, namespace, name)
Blob = bytes


def object_entry(namespace: str, name: str) -> tuple[str, str, str]:
    """The index key of one object."""
    return ("name", namespace, name)


def owner_entry(namespace: str, owner: str) -> tuple[str, str, str]:
    """The index key under which every child of ``owner`` is found."""
    return ("owner", namespace, owner)


def compact(body: Mapping[str, Any], *, keep_data: bool = True) -> Blob:
    """``body`` as stored in an index: JSON without ``managedFields`` (and without data unless ``keep_data``)."""
    meta = dict(body.get("metadata") or {})
    meta.pop("managedFields", None)
    if not keep_data:
        kept = ("name", "namespace", "uid", "resourceVersion", "labels", "ownerReferences")
        return json.dumps({"metadata": {k: meta[k] for k in kept if k in meta}}, separators=(",", ":")).encode()
    return json.dumps({**body, "metadata": meta}, separators=(",", ":")).encode()


def index_entries(body: Mapping[str, Any], owner: str | None, *, keep_data: bool = True) -> dict[Any, Blob]:
    """What a kopf index function returns for ``body``: its blob by name, and by owner when it has one."""
    meta = body.get("metadata") or {}
    blob = compact(body, keep_data=keep_data)
    entries: dict[Any, Blob] = {object_entry(meta.get("namespace") or "", meta["name"]): blob}
    if owner is not None:
        entries[owner_entry(meta.get("namespace") or "", owner)] = blob
    return entries


@dataclass
class _Written:
    """A write of ours the watch has not delivered yet; ``body`` None is a delete."""

    body: Body | None
    uid: str | None
    sent: Mapping[str, Any]
    owner: Key
    timer: asyncio.TimerHandle


class Store:
    """Reads for reconciles; create it inside the operator's event loop, after kopf built its indexes."""

    def __init__(
        self, api: ApiClient, *, consistency_seconds: float, on_unconfirmed: Callable[[Key], None] | None = None
    ) -> None:
        self._api = api
        self._consistency_seconds = consistency_seconds
        self.on_unconfirmed = on_unconfirmed
        self._indexes: dict[str, Any] = {}
        self._selected: set[str] = set()
        self._written: dict[ObjectKey, _Written] = {}

    def watch(self, kind: Kind, index: kopf.Index[Any, Blob], *, selected: bool = False) -> None:
        """Read ``kind`` from ``index`` (keyed by ``object_entry`` and ``owner_entry``) from now on.

        ``selected``: the watch sees only objects with the operator's labels.
        """
        self._indexes[kind.kind] = index
        if selected:
            self._selected.add(kind.kind)

    def watches(self, kind: Kind) -> bool:
        return kind.kind in self._indexes

    async def get(self, kind: Kind, namespace: str, name: str) -> Body | None:
        """The object as last written or watched; None when absent. Unwatched kinds are read from the API."""
        written = self._written.get((kind.kind, namespace, name))
        if written is not None:
            return written.body
        index = self._indexes.get(kind.kind)
        if index is None:
            return await self._api.get(kind, namespace, name)
        found = _first(index.get(object_entry(namespace, name)))
        if found is None and kind.kind in self._selected:
            return await self._api.get(kind, namespace, name)  # someone else's object, unlabelled?
        return found

    async def children(self, kind: Kind, namespace: str, owner: str, *, label_selector: str) -> list[Body]:
        """Objects of ``kind`` whose controller is the AgentOSConfig ``owner`` (unwatched: listed by labels)."""
        index = self._indexes.get(kind.kind)
        if index is None:
            return await self._api.list(kind, namespace, label_selector=label_selector)
        found = [json.loads(blob) for blob in index.get(owner_entry(namespace, owner)) or ()]
        return [body for body in found if not self._deleted(kind, body)]

    def wrote(self, kind: Kind, body: Mapping[str, Any], *, sent: Mapping[str, Any], owner: Key) -> None:
        """Record the API server's answer to a write of ``sent``, until the watch delivers it."""
        meta = body.get("metadata") or {}
        self._remember(kind, str(meta.get("namespace") or ""), meta["name"], dict(body), meta.get("uid"), sent, owner)

    def deleted(self, kind: Kind, namespace: str, name: str, *, uid: str | None, owner: Key) -> None:
        """Record a delete of ours, until the watch delivers it."""
        self._remember(kind, namespace, name, None, uid, {}, owner)

    def observe(self, kind: Kind, event_type: str | None, body: Mapping[str, Any]) -> bool:
        """A watch event of ``kind``, seen after kopf updated its index: confirm the write it delivers.

        Returns True when the event is exactly a write of ours (the version written, or the
        delete): it tells the operator nothing new, and needs no reconcile.
        """
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
            confirmed = same_object  # what we wrote is gone: the index says so already
        else:
            exact = meta.get("resourceVersion") == written.body["metadata"].get("resourceVersion")
            confirmed = exact or (same_object and not drift.drifted(body, written.sent))
        if confirmed:
            written.timer.cancel()
            del self._written[key]
        return exact

    def close(self) -> None:
        for written in self._written.values():
            written.timer.cancel()
        self._written.clear()

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
        if kind.kind not in self._indexes:
            return  # read from the API anyway: nothing to overlay
        key = (kind.kind, namespace, name)
        previous = self._written.pop(key, None)
        if previous is not None:
            previous.timer.cancel()
        timer = asyncio.get_running_loop().call_later(self._consistency_seconds, self._expire, key)
        self._written[key] = _Written(body, uid, sent, owner, timer)

    def _expire(self, key: ObjectKey) -> None:
        written = self._written.pop(key, None)
        if written is not None and self.on_unconfirmed is not None:
            self.on_unconfirmed(written.owner)

    def _deleted(self, kind: Kind, body: Mapping[str, Any]) -> bool:
        meta = body.get("metadata") or {}
        written = self._written.get((kind.kind, str(meta.get("namespace") or ""), str(meta.get("name"))))
        return written is not None and written.body is None and written.uid == meta.get("uid")


def _first(blobs: Any) -> Body | None:
    for blob in blobs or ():
        decoded: Body = json.loads(blob)
        return decoded
    return None
