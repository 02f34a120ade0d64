"""Kubernetes Events about an ``AgentOSConfig``: one per decision, never one per resync.

Which events a reconcile produces is decided here, purely, from what it changed (children
created, updated, pruned: one event for each kind of change, naming the children, since every
event is an API write) and from how the ``Ready`` condition moved: a Warning when a person
must act (invalid spec, missing Secret), a Normal event when the resource becomes available or
paused. An unchanged resource produces none, and neither does a change of whether the
previous pods serve meanwhile while the cause stays (``conditions.cause``): a rollout stuck for
one cause is one Warning however often its previous pods come and go. Posting is best effort:
an Event that cannot be posted is logged, and the reconcile it describes is not failed for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentos_operator import conditions
from agentos_operator.kube.children import Change
from agentos_operator.kube.client import ApiClient, ApiError

COMPONENT = "agentos-operator"
_CHANGE_REASONS = {"created": "Created", "updated": "Updated", "restored": "Restored", "pruned": "Pruned"}
_CHANGE_VERBS = {"created": "Created", "updated": "Updated", "restored": "Restored", "pruned": "Deleted"}
_NORMAL_READY_REASONS = frozenset({conditions.AVAILABLE, conditions.PAUSED})


@dataclass(frozen=True)
class Notice:
    """An Event to post: what happened, in the words ``kubectl describe`` shows."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


def for_changes(changes: Iterable[Change]) -> list[Notice]:
    """One event per kind of change (created, updated, restored, pruned) naming every child it
    touched, in order; a restored child with what another client had changed in it by hand."""
    by_action: dict[str, list[str]] = {}
    for change in changes:
        edited = f" (edited by hand: {', '.join(change.taken_back)})" if change.taken_back else ""
        by_action.setdefault(change.action, []).append(f"{change.kind} '{change.name}'{edited}")
    return [
        Notice("Normal", _CHANGE_REASONS[action], f"{_CHANGE_VERBS[action]} {', '.join(children)}")
        for action, children in by_action.items()
    ]


def for_regenerated_key(changes: Iterable[Change], key_secret: str) -> list[Notice]:
    """A Warning when ``key_secret``, the generated security key of a resource that served with it
    before, was created again (someone deleted it): a new key, so clients still sending the old
    one are refused. The caller knows it served before; this only reads the writes made."""
    if not any(c.action == "created" and c.kind == "Secret" and c.name == key_secret for c in changes):
        return []
    return [
        Notice(
            "Warning",
            conditions.SECURITY_KEY_REGENERATED,
            f"Secret '{key_secret}' holding the generated security key was gone, so a new key was generated: "
            "clients sending the old key are refused (401) until they are given the new one; to choose the "
            "key yourself, name a Secret you keep in spec.securityKeySecretRef",
        )
    ]


def for_unadmitted_ingress(changes: Iterable[Change], advice: str | None) -> list[Notice]:
    """A Warning with ``advice`` (``render.unadmitted_ingress``) when this reconcile created or
    updated the NetworkPolicy or the Ingress it is about: told once per change, not per resync."""
    touched = any(c.action in ("created", "updated") and c.kind in ("NetworkPolicy", "Ingress") for c in changes)
    return [Notice("Warning", conditions.INGRESS_NOT_ADMITTED, advice)] if advice and touched else []


def for_transition(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> list[Notice]:
    """The event the ``Ready`` condition's move deserves, if any.

    A Warning for a reason that needs a person, when the reason or its cause (``conditions.cause``,
    the message without whether the previous pods serve) changed: said with the message as it is.
    """
    old = conditions.find(before, conditions.READY) or {}
    new = conditions.find(after, conditions.READY)
    if new is None:
        return []
    reason, message = new["reason"], new.get("message", "")
    moved = (old.get("status"), old.get("reason")) != (new["status"], reason)
    told_before = conditions.cause(str(old.get("message", "")))
    if reason in conditions.WARNING_REASONS and (moved or told_before != conditions.cause(message)):
        return [Notice("Warning", reason, message)]
    if reason in _NORMAL_READY_REASONS and old.get("reason") != reason:
        # Becoming available, or paused: a paused resource's readiness follows its pods, and
        # their coming and going is no news of the pause.
        return [Notice("Normal", reason, message)]
    return []


def build_event(notice: Notice, *, involved: Mapping[str, Any], now: str, instance: str) -> dict[str, Any]:
    """The ``v1`` Event about ``involved`` (the resource body)."""
    meta = involved["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion"),
            "kind": involved.get("kind"),
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        },
        "type": notice.type,
        "reason": notice.reason,
        "message": conditions.shortened(notice.message),
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
    }


async def post(
    api: ApiClient,
    notices: Iterable[Notice],
    *,
    involved: Mapping[str, Any],
    now: str,
    instance: str,
    field_manager: str,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    """Post each notice as an Event, and log it (a Warning's at warning). One the API server
    refuses because the namespace is being deleted is logged at info: nothing is wrong there."""
    where = f"{involved['metadata']['namespace']}/{involved['metadata']['name']}"
    for notice in notices:
        log = logger.warning if notice.type == "Warning" else logger.info
        try:
            await api.create(
                build_event(notice, involved=involved, now=now, instance=instance), field_manager=field_manager
            )
        except ApiError as error:
            if error.namespace_terminating:
                # Its namespace's deletion takes the resource, and whatever it references, with it:
                # a Secret gone with them is no trouble to tell.
                logger.info("%s %s (its namespace is being deleted): %s", where, notice.reason, notice.message)
                continue
            log("%s %s: %s", where, notice.reason, notice.message)
            logger.warning("could not post the %s event: %s", notice.reason, error)
            continue
        log("%s %s: %s", where, notice.reason, notice.message)
