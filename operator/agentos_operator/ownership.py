"""Who an object belongs to: the labels marking the operator's children, and their controller reference.

Pure. Labels say an object is the operator's and which resource it serves, but anyone can copy
labels: only the controller owner reference, which carries the resource's uid, proves it. So
the operator writes only what it controls (or its own orphans, labelled but controller-less),
and prunes only what it controls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentos_operator import GROUP, KIND

MANAGED_BY = "app.kubernetes.io/managed-by"
INSTANCE = "app.kubernetes.io/instance"
OPERATOR_NAME = "agentos-operator"
Key = tuple[str, str]


def managed_by_operator(body: Mapping[str, Any]) -> bool:
    """Whether ``body`` carries the operator's managed-by label (a claim, not a proof)."""
    labels = (body.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(MANAGED_BY) == OPERATOR_NAME)


def controller_uid(body: Mapping[str, Any]) -> str | None:
    """The uid of the object's controlling owner, or None when it has none."""
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def owner_key(body: Mapping[str, Any]) -> Key | None:
    """The (namespace, name) of the ``AgentOSConfig`` controlling ``body``, if one does."""
    meta = body.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == KIND and str(ref.get("apiVersion", "")).startswith(f"{GROUP}/") and ref.get("controller"):
            return (str(meta.get("namespace") or ""), str(ref.get("name")))
    return None


def served_elsewhere(status: Mapping[str, Any], identity: str) -> str | None:
    """The other operator instance ``status.operator`` names as serving the resource, or None when
    it names this one (``identity``) or none yet: the first to write the status claims it."""
    holder = status.get("operator")
    return holder if isinstance(holder, str) and holder and holder != identity else None


def being_collected(live: Mapping[str, Any], owner_name: str, owner_uid: str | None) -> bool:
    """Whether ``live``, which this resource may not write, is on its way out by itself: it has a
    ``deletionTimestamp``, or its controller is a previous ``AgentOSConfig`` of this name (another
    uid), which no longer exists since names are unique: the garbage collector deletes it (or,
    after a deletion with ``--cascade=orphan``, drops the reference, making it our orphan).
    Waited for, not a conflict a person must settle."""
    meta = live.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return True
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            ours = ref.get("kind") == KIND and str(ref.get("apiVersion", "")).startswith(f"{GROUP}/")
            return ours and ref.get("name") == owner_name and owner_uid is not None and ref.get("uid") != owner_uid
    return False


def may_manage(live: Mapping[str, Any], owner_name: str, owner_uid: str | None) -> bool:
    """Whether this resource may write ``live``: it controls it, or it is our orphan (labels, no controller)."""
    controller = controller_uid(live)
    if controller is not None:
        return owner_uid is None or controller == owner_uid
    labels = (live.get("metadata") or {}).get("labels") or {}
    return managed_by_operator(live) and labels.get(INSTANCE) == owner_name
