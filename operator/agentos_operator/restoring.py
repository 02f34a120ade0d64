"""Taking back what another client changed by hand in a child so that no apply could restore it. Pure.

Server-side apply merges a keyed list item by item: a Service's ``ports`` by port and
protocol, a container's ``ports`` by container port and protocol, ``containers`` by name.
When someone changes the key of one of the operator's items by hand (``kubectl patch`` of a
Service's port, ``kubectl edit`` of a containerPort), the edited item is no longer the
operator's: it belongs to that client's field manager, and the operator's apply adds its own
item beside it. Both carry the same ``name``, which the API server refuses (``Duplicate
value: "http"``), on every attempt: the child could never be restored.

``take_back`` finds such items, each an item the operator does not render (no item of the
rendered list has its key) that another manager holds and that bears the name of an item the
operator renders, and moves their ownership (their ``managedFields`` entries) to the
operator's apply. The apply that follows then removes them, as it removes any item of its own
it no longer sends, and adds the operator's in the same write, so the object is never without
them (a Service needs a port). Fields the API server allocates in such an item (a Service
port's ``nodePort``) are given again to the operator's item of the same name by the server.
Items other managers added under a name of their own (an injected sidecar, a port of their
own) are left to them.

It also takes back a field another client set that may not stand beside one the operator
renders (``excluded``): a PodDisruptionBudget's ``minAvailable`` beside the operator's
``maxUnavailable`` (or the reverse), a Deployment's ``strategy.rollingUpdate`` beside the
operator's ``Recreate`` (which a database on a ReadWriteOnce volume needs). Such a hand edit
made every apply fail, so no child at all was written until the object was deleted.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FieldsPath = tuple[str, ...]
"""Keys of a ``managedFields`` entry's ``fieldsV1`` from its root to one list item (``k:{...}`` last)."""


@dataclass(frozen=True)
class TakeBack:
    """The ``managedFields`` giving the operator's apply the items ``taken`` (readable paths)."""

    managed_fields: list[dict[str, Any]]
    taken: tuple[str, ...]


def take_back(live: Mapping[str, Any], desired: Mapping[str, Any], manager: str) -> TakeBack | None:
    """The ``managedFields`` of ``live`` with every re-keyed item (see the module) moved to
    ``manager``'s apply; None when there is none, or ``manager`` has applied nothing to it."""
    entries = (live.get("metadata") or {}).get("managedFields") or []
    if not isinstance(entries, list) or not any(_applied_by(entry, manager) for entry in entries):
        return None
    found: list[FieldsPath] = []
    for entry in entries:
        if isinstance(entry, Mapping) and not _applied_by(entry, manager) and not entry.get("subresource"):
            fields = entry.get("fieldsV1")
            if isinstance(fields, Mapping):
                _rekeyed(fields, live, desired, (), found)
                found.extend(path for path in excluded(desired) if _holds(fields, path))
    paths = list(dict.fromkeys(found))
    if not paths:
        return None
    result: list[dict[str, Any]] = copy.deepcopy([dict(entry) for entry in entries])
    ours = next(entry for entry in result if _applied_by(entry, manager))
    for entry in result:
        if entry is ours or entry.get("subresource") or not isinstance(entry.get("fieldsV1"), dict):
            continue
        for path in paths:
            taken = _pop(entry["fieldsV1"], path)
            if taken is not None:
                _merge(ours.setdefault("fieldsV1", {}), path, taken)
    kept = [entry for entry in result if entry is ours or entry.get("fieldsV1") != {}]
    return TakeBack(kept, tuple(readable(path) for path in paths))


def excluded(desired: Mapping[str, Any]) -> list[FieldsPath]:
    """The fields (``fieldsV1`` paths) that may not be set beside what ``desired`` sets."""
    kind, spec = desired.get("kind"), desired.get("spec")
    if not isinstance(spec, Mapping):
        return []
    paths: list[FieldsPath] = []
    if kind == "PodDisruptionBudget":
        for ours, theirs in (("maxUnavailable", "minAvailable"), ("minAvailable", "maxUnavailable")):
            if ours in spec:
                paths.append(("f:spec", f"f:{theirs}"))
    strategy = spec.get("strategy")
    if kind == "Deployment" and isinstance(strategy, Mapping) and strategy.get("type") == "Recreate":
        paths.append(("f:spec", "f:strategy", "f:rollingUpdate"))
    return paths


REPLICAS_HANDOVER_MANAGER = "agentos-operator-handover"
"""The field manager that holds a Deployment's ``spec.replicas`` from the operator's last apply
that set it until an autoscaler's first write takes it (``replicas_to_hand_over``)."""


def replicas_to_hand_over(live: Mapping[str, Any], desired: Mapping[str, Any], manager: str) -> int | None:
    """The replicas ``live`` (a Deployment read with its ``managedFields``) runs, to be applied
    by ``REPLICAS_HANDOVER_MANAGER`` before ``desired`` is, when ``desired`` no longer sets
    ``spec.replicas`` (an autoscaler scales it now) while ``manager``'s apply still holds it:
    else that apply would drop the field, which the API server then sets back to its default of
    1 pod, killing the pods running before the autoscaler acts. ``None`` when nothing is to hand over."""
    spec = desired.get("spec")
    if desired.get("kind") != "Deployment" or not isinstance(spec, Mapping) or "replicas" in spec:
        return None
    replicas = (live.get("spec") or {}).get("replicas")
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        return None
    entries = (live.get("metadata") or {}).get("managedFields") or []
    for entry in entries if isinstance(entries, list) else []:
        fields = entry.get("fieldsV1") if _applied_by(entry, manager) else None
        if isinstance(fields, Mapping) and _holds(fields, ("f:spec", "f:replicas")):
            return replicas
    return None


def _holds(fields: Mapping[str, Any], path: FieldsPath) -> bool:
    """Whether the ``fieldsV1`` set ``fields`` has the field at ``path``."""
    place: Any = fields
    for key in path:
        if not isinstance(place, Mapping) or key not in place:
            return False
        place = place[key]
    return True


def _applied_by(entry: Any, manager: str) -> bool:
    return (
        isinstance(entry, Mapping)
        and entry.get("manager") == manager
        and entry.get("operation") == "Apply"
        and not entry.get("subresource")
    )


def _rekeyed(fields: Mapping[str, Any], live: Any, desired: Any, path: FieldsPath, found: list[FieldsPath]) -> None:
    """Append to ``found`` the path of each item under ``fields`` that is re-keyed (see the module)."""
    for key, inner in fields.items():
        if not isinstance(inner, Mapping):
            continue
        if key.startswith("f:") and isinstance(live, Mapping) and isinstance(desired, Mapping):
            name = key[2:]
            if name in desired:
                _rekeyed(inner, live.get(name), desired[name], (*path, key), found)
        elif key.startswith("k:") and isinstance(live, list) and isinstance(desired, list):
            item_key = _item_key(key)
            if item_key is None:
                continue
            held = next((item for item in live if _has_key(item, item_key)), None)
            ours = next((item for item in desired if _has_key(item, item_key)), None)
            if ours is not None:
                _rekeyed(inner, held, ours, (*path, key), found)
            elif isinstance(held, Mapping) and _named_as_one_of(held, desired):
                found.append((*path, key))


def _item_key(key: str) -> dict[str, Any] | None:
    """The fields and values of a ``k:{...}`` key; None when it is not such a key."""
    try:
        value = json.loads(key[2:])
    except ValueError:
        return None
    return value if isinstance(value, dict) and value else None


def _has_key(item: Any, item_key: Mapping[str, Any]) -> bool:
    if not isinstance(item, Mapping):
        return False
    return all(_same(item.get(name), value) for name, value in item_key.items())


def _same(one: Any, other: Any) -> bool:
    if isinstance(one, bool) or isinstance(other, bool):
        return type(one) is type(other) and one == other  # no number is a bool here (Python's True == 1)
    return bool(one == other)


def _named_as_one_of(item: Mapping[str, Any], desired: Sequence[Any]) -> bool:
    name = item.get("name")
    return isinstance(name, str) and any(isinstance(d, Mapping) and d.get("name") == name for d in desired)


def _pop(fields: dict[str, Any], path: FieldsPath) -> dict[str, Any] | None:
    """Remove and return ``fields``' subtree at ``path`` (None when absent), removing the maps it leaves empty."""
    head, rest = path[0], path[1:]
    inner = fields.get(head)
    if not isinstance(inner, dict):
        return None
    if not rest:
        return fields.pop(head)  # type: ignore[no-any-return]
    taken = _pop(inner, rest)
    if taken is not None and not inner:
        del fields[head]
    return taken


def _merge(fields: dict[str, Any], path: FieldsPath, subtree: Mapping[str, Any]) -> None:
    """Add ``subtree`` at ``path`` in ``fields`` (a set of field paths: the union of both)."""
    place = fields
    for key in path:
        place = place.setdefault(key, {})
    _union(place, subtree)


def _union(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for key, inner in other.items():
        if isinstance(inner, Mapping):
            _union(into.setdefault(key, {}), inner)


def readable(path: FieldsPath) -> str:
    """``spec.ports[port=8000,protocol=TCP]`` for ``("f:spec", "f:ports", 'k:{"port":8000,"protocol":"TCP"}')``."""
    text = ""
    for key in path:
        if key.startswith("k:"):
            item_key = _item_key(key) or {}
            text += "[" + ",".join(f"{name}={value}" for name, value in item_key.items()) + "]"
        else:
            text += ("." if text else "") + key[2:]
    return text
