"""Who an object belongs to: the labels marking the operator's children, and their controller reference.

Pure. Labels say an object is the operator's and which resource it serves, but anyone can copy
labels: only the controller owner reference, which carries the resource's uid, proves it. So
the operator writes only what it controls (or its own orphans, labelled but controller-less),
and prunes only what it controls.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agentos_operator import GROUP, KIND
from agentos_operator.kube.leasing import parse_micro_time

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


# A claim's instance is gone once its Lease went unrenewed this long: far past any leader
# election's failover (a Lease's holder renews it every third of its duration), so a live
# instance briefly cut off from the API server, or a rolling upgrade, never loses its resources.
STALE_CLAIM_FLOOR_SECONDS = 300
STALE_CLAIM_LEASE_DURATIONS = 10
LeaseLookup = Mapping[str, Any] | None | Literal["forbidden"]
"""The claimant's Lease as read: its body, None when it does not exist (404), or ``forbidden`` (403)."""


@dataclass(frozen=True)
class ClaimJudgement:
    """Whether another instance's claim holds: ``keep`` (its Lease is live), ``take over`` (its
    instance is gone: ``why`` says how it shows) or ``cannot tell`` (its Lease cannot be read)."""

    verdict: Literal["keep", "take over", "cannot tell"]
    why: str = ""


def claimant_lease(holder: str) -> tuple[str, str] | None:
    """The (namespace, name) of the Lease a claim (``status.operator``) names, or None when it
    names none (an instance run outside a pod claims by its lease name alone)."""
    namespace, _, name = holder.partition("/")
    return (namespace, name) if namespace and name and "/" not in name else None


def stale_after_seconds(lease_duration: int) -> int:
    """How long a claimant's Lease may go unrenewed before its claim is stale."""
    return max(STALE_CLAIM_FLOOR_SECONDS, STALE_CLAIM_LEASE_DURATIONS * lease_duration)


def judge_claim(holder: str, lease: LeaseLookup, now: datetime.datetime) -> ClaimJudgement:
    """Pure: whether the claim of ``holder`` (another instance) still holds, given its Lease as
    read (``lease``) at ``now``. A claim is stale when its instance is demonstrably gone: its Lease
    does not exist, is held by no one (released by a clean stop), or went unrenewed for
    ``stale_after_seconds``; a Lease this instance may not read tells nothing."""
    where = claimant_lease(holder)
    if where is None or lease == "forbidden":
        return ClaimJudgement("cannot tell")
    named = f"its Lease {where[0]}/{where[1]}"
    if lease is None:
        return ClaimJudgement("take over", f"{named} does not exist")
    spec = lease.get("spec") or {}
    if not spec.get("holderIdentity"):
        return ClaimJudgement("take over", f"{named} is held by no one")
    try:
        renewed = parse_micro_time(spec.get("renewTime") or spec.get("acquireTime"))
        duration = int(spec.get("leaseDurationSeconds") or 0)
    except (TypeError, ValueError):
        return ClaimJudgement("cannot tell")
    if renewed is None:
        return ClaimJudgement("take over", f"{named} was never renewed")
    bound = stale_after_seconds(duration)
    idle = (now - renewed).total_seconds()
    if idle > bound:
        return ClaimJudgement("take over", f"{named} was last renewed {int(idle)} s ago (over {bound} s)")
    return ClaimJudgement("keep")


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
