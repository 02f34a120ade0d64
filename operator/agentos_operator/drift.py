"""Drift: does a live object already hold everything the operator wants in it?

Pure. The API server adds defaults, status and other managers' fields (an autoscaler's
``replicas``); none of those is drift. Only a field the operator sets that is missing or
different is, and only then is the object written: a reconcile that changes nothing writes
nothing. A field the operator *stopped* setting is found through ``stamped``: each applied
manifest carries a digest of itself, so any change to what is desired, removals included,
differs from the live object and is applied (server-side apply then drops the released field).

What the operator sends is compared in the form the API server stores it, or an object that
can never match is re-applied (and an Event posted) on every resync, forever:

- Empty values are dropped (Go's ``omitempty``): a desired ``""``, ``[]`` or ``{}``, or a map
  holding only such values, is held by an absent field as well as by an equal one. A hand edit
  that removes only such a field is therefore left alone; the stamp still catches every change
  to what is desired.
- ``False`` and ``0`` are values, not emptiness. Every bool and int the operator renders is a
  pointer field the server keeps even when false or zero (``automountServiceAccountToken``,
  ``enableServiceLinks``, ``allowPrivilegeEscalation``, ``replicas``, ``tolerationSeconds``),
  and its absence means another default (a mounted token), so an absent one is drift. A bool
  holds only a bool (Python's ``True == 1`` would hide a changed value); an integral float
  holds its int (``2.0`` is ``2``).
- Quantities are canonicalised (``1000m`` is ``1``, ``0.5Gi`` is ``512Mi``, ``1E3`` is
  ``1e3``) where the server reads them as quantities: container and claim ``requests`` and
  ``limits``, ``resourceFieldRef.divisor`` and ``emptyDir.sizeLimit``. Render already writes
  its own quantities canonically; a divisor comes from the user's ``env`` as written. Nowhere
  else is a string read as a quantity: an env value ``1000m`` is text.
- A Secret's ``stringData`` is stored as base64 ``data``.
- Service ``targetPort`` and probe ports are names (``http``) and the server keeps them as
  strings; int ports stay ints.
- Lists of named items (containers, env, volumes, ports) are matched by name: an item another
  manager added (``kubectl set env``, a mutating webhook's sidecar) survives server-side apply,
  so holding it besides ours is no drift; it was re-applied, with an Event, on every resync.
- Except in the data of a Secret or ConfigMap the operator writes (``foreign_keys``): every key
  of those reaches the runtime (the env Secret as environment variables, the config ConfigMap
  as files beside its config), so a key someone added by hand is drift, and is removed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from agentos_operator import GROUP
from agentos_operator.quantities import QuantityError, canonical_quantity, canonical_resource_quantity

APPLIED_ANNOTATION = f"{GROUP}/applied"


def holds(live: Any, desired: Any) -> bool:
    """Whether ``live`` contains ``desired``: every desired key present and equal, lists item by item.

    An absent (or null) live field holds a desired empty value, as the server omits those.
    """
    if live is None:
        return _omitted(desired)
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return False
        return all(holds(live.get(key), value) for key, value in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list):
            return False
        if _named(desired) and _named(live):
            # Merged by name (containers, env, volumes, ports...): another manager's items
            # (``kubectl set env``, an injected sidecar) stay after an apply, so they are no drift.
            by_name = {item["name"]: item for item in live}
            return all(holds(by_name.get(wanted["name"]), wanted) for wanted in desired)
        if len(live) != len(desired):
            return False
        return all(holds(item, wanted) for item, wanted in zip(live, desired, strict=True))
    if desired is None:
        return False  # live is not None here
    if isinstance(desired, bool) or isinstance(live, bool):
        return isinstance(desired, bool) and isinstance(live, bool) and live == desired
    return bool(live == desired)


def _named(items: list[Any]) -> bool:
    """Whether every item is a mapping with a text ``name``, each name once."""
    names = [item.get("name") if isinstance(item, Mapping) else None for item in items]
    return all(isinstance(name, str) for name in names) and len(set(names)) == len(names)


def _omitted(desired: Any) -> bool:
    """Whether the server stores ``desired`` as nothing at all: null, ``""``, ``[]``, or a map of those."""
    if desired is None or desired == "" or desired == []:
        return True
    return isinstance(desired, Mapping) and all(_omitted(value) for value in desired.values())


def comparable(desired: Mapping[str, Any]) -> dict[str, Any]:
    """``desired`` as the API server stores it: quantities canonical, a Secret's ``stringData`` as base64 ``data``."""
    result: dict[str, Any] = server_quantities(desired)
    if result.get("kind") == "Secret" and result.get("stringData"):
        data = dict(result.get("data") or {})
        for key, value in result.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode("ascii")
        result["data"] = data
    return result


# Where the server reads a value as a quantity, by the last keys of its path (list indices skipped).
_QUANTITY_PLACES = (("resourceFieldRef", "divisor"), ("emptyDir", "sizeLimit"))
_QUANTITY_MAPS = (("resources", "requests"), ("resources", "limits"))


def server_quantities(value: Any, path: tuple[str, ...] = ()) -> Any:
    """``value`` (a copy) with every quantity in the form the server stores it; other fields as they are.

    A number there is a quantity too (the server stores ``1`` as ``"1"``). Text that is no
    quantity is kept: the server refuses it, and drift need not guess. ``path``: the keys that
    lead to ``value``.
    """
    grand, parent, key = ("", "", "", *path)[-3:]
    return _server_quantities(value, grand, parent, key)


def _server_quantities(value: Any, grand: str, parent: str, key: str) -> Any:
    """``server_quantities`` of ``value``, found under the keys ``grand``, ``parent``, ``key`` (list indices skipped)."""
    if isinstance(value, Mapping):
        return {name: _server_quantities(item, parent, key, str(name)) for name, item in value.items()}
    if isinstance(value, list):
        return [_server_quantities(item, grand, parent, key) for item in value]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value
    in_resource_list = (grand, parent) in _QUANTITY_MAPS
    if not in_resource_list and (parent, key) not in _QUANTITY_PLACES:
        return value
    try:
        return canonical_resource_quantity(str(value)) if in_resource_list else canonical_quantity(str(value))
    except QuantityError:
        return value


def drifted(live: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """Whether ``desired`` must be written: the object is absent, lacks some of it, or holds data keys it lacks."""
    if live is None:
        return True
    wanted = comparable(desired)
    wanted.pop("apiVersion", None)  # the same object is readable under several API versions
    return not holds(live, wanted) or bool(_foreign_keys(live, wanted))


# The maps of a kind whose every key the operator owns: server-side apply keeps keys another
# manager set, and each of these keys reaches the runtime.
_EXCLUSIVE_MAPS = {"Secret": ("data",), "ConfigMap": ("data", "binaryData")}


def foreign_keys(live: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, list[str]]:
    """The keys of ``live``'s data maps that ``desired`` does not set, by map (``data``, ``binaryData``); sorted."""
    return _foreign_keys(live, comparable(desired))


def _foreign_keys(live: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, list[str]]:
    """``foreign_keys`` of ``wanted``, a desired object already ``comparable``."""
    found: dict[str, list[str]] = {}
    for field in _EXCLUSIVE_MAPS.get(str(wanted.get("kind")), ()):
        extra = sorted(set(live.get(field) or {}) - set(wanted.get(field) or {}))
        if extra:
            found[field] = extra
    return found


def stamped(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest`` with the sha256 of its own content in the ``agentos.dev/applied`` annotation."""
    canonical = json.dumps(manifest, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    metadata = dict(manifest.get("metadata") or {})
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        APPLIED_ANNOTATION: hashlib.sha256(canonical.encode()).hexdigest(),
    }
    return {**manifest, "metadata": metadata}
