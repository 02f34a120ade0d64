"""Who an object belongs to: the labels marking the operator's children, and their controller reference.

Pure. Labels say an object is the operator's and which resource it serves, but anyone can copy
labels: only the controller owner reference, which carries the resource's uid, proves it. So
the operator writes only what it controls (or its own orphans, labelled but controller-less),
and prunes only what it controls.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentos_operator import GROUP, KIND
from agentos_operator.kube.leasing import parse_micro_time
from agentos_operator.kube.metadata_watch import namespace_matches

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
WATCHED_NAMESPACES = f"{GROUP}/watched-namespaces"
"""The annotation by which an instance's Lease says which namespaces it watches (a JSON list of
names and globs, empty for all), written on each acquisition: a release narrowed away from a
namespace leaves its claims there to another instance."""


def watched_namespaces_annotation(namespaces: Sequence[str]) -> dict[str, str]:
    """The annotations an instance watching ``namespaces`` (empty: all) writes on its Lease."""
    return {WATCHED_NAMESPACES: json.dumps(list(namespaces))}


def lease_watches(lease: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The namespaces a Lease's holder says it watches (empty: all), None when it does not say."""
    text = ((lease.get("metadata") or {}).get("annotations") or {}).get(WATCHED_NAMESPACES)
    try:
        listed = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        return None
    return tuple(listed)


@dataclass(frozen=True)
class ClaimJudgement:
    """Whether another instance's claim holds: ``keep`` (its Lease is live), ``take over`` (its
    instance is gone, or no longer watches the namespace: ``why`` says how it shows), ``cannot
    tell`` (its Lease cannot be read) or ``wait`` (its Lease was released moments ago, as a
    release's pod hands it to the next, in a rolling upgrade: judged again in ``again_in`` s)."""

    verdict: Literal["keep", "take over", "cannot tell", "wait"]
    why: str = ""
    again_in: float = 0.0


def claimant_lease(holder: str) -> tuple[str, str] | None:
    """The (namespace, name) of the Lease a claim (``status.operator``) names, or None when it
    names none (an instance run outside a pod claims by its lease name alone)."""
    namespace, _, name = holder.partition("/")
    return (namespace, name) if namespace and name and "/" not in name else None


def stale_after_seconds(lease_duration: int) -> int:
    """How long a claimant's Lease may go unrenewed before its claim is stale."""
    return max(STALE_CLAIM_FLOOR_SECONDS, STALE_CLAIM_LEASE_DURATIONS * lease_duration)


def judge_claim(
    holder: str, lease: LeaseLookup, now: datetime.datetime, *, namespace: str | None = None
) -> ClaimJudgement:
    """Pure: whether the claim of ``holder`` (another instance) on a resource in ``namespace``
    still holds, given its Lease as read (``lease``) at ``now``. A claim is stale when its instance
    is demonstrably gone: its Lease does not exist, went unrenewed for ``stale_after_seconds``, or
    is held by no one (released by a clean stop) and was not taken back within its duration, as
    the next pod of its release would (until then: ``wait``); or when the Lease says its instance
    no longer watches ``namespace``. A Lease this instance may not read tells nothing."""
    where = claimant_lease(holder)
    if where is None:
        return ClaimJudgement("cannot tell", "the claim names no Lease")
    named = f"its Lease {where[0]}/{where[1]}"
    if lease == "forbidden":
        return ClaimJudgement("cannot tell", f"{named} may not be read here")
    if lease is None:
        return ClaimJudgement("take over", f"{named} does not exist")
    spec = lease.get("spec") or {}
    try:
        renewed = parse_micro_time(spec.get("renewTime") or spec.get("acquireTime"))
        duration = int(spec.get("leaseDurationSeconds") or 0)
    except (TypeError, ValueError):
        return ClaimJudgement("cannot tell", f"{named} cannot be read")
    idle = (now - renewed).total_seconds() if renewed is not None else None
    if not spec.get("holderIdentity"):
        if idle is not None and idle < duration:
            return ClaimJudgement("wait", f"{named} was released {max(int(idle), 0)} s ago", again_in=duration - idle)
        return ClaimJudgement("take over", f"{named} is held by no one")
    if idle is None:
        return ClaimJudgement("take over", f"{named} was never renewed")
    bound = stale_after_seconds(duration)
    if idle > bound:
        return ClaimJudgement("take over", f"{named} was last renewed {int(idle)} s ago (over {bound} s)")
    watched = lease_watches(lease)
    if namespace is not None and watched and not namespace_matches(namespace, watched):
        listed = ", ".join(watched)
        return ClaimJudgement("take over", f"it no longer watches namespace '{namespace}' (it watches {listed})")
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
