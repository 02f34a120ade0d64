"""Status conditions: their types, the reasons they give, and the rule for transition times.

Conditions have the standard Kubernetes shape (``type``, ``status``, ``reason``, ``message``,
``lastTransitionTime``, ``observedGeneration``), so ``kubectl wait --for=condition=Ready`` works.
Pure: the reconciler decides *what* happened and this module says how each condition reads.
``lastTransitionTime`` moves only when a condition's status changes, never on a resync.

``Reconciling`` and ``Stalled`` are the two conditions kstatus reads (Flux's health checks,
``kpt``/``cli-utils`` apply waits): true while a change is being rolled out, and true when the
resource waits on a person (an invalid spec, a missing Secret, a refused child), so a GitOps
pipeline waits for a rollout and fails at once on a spec that cannot run.

Pods the cluster refuses to create (a ResourceQuota, a Pod Security level, a LimitRange, a
missing ServiceAccount: the Deployment's ``ReplicaFailure``) make ``Ready`` and ``Degraded`` say
so in Kubernetes' own words, but leave ``Stalled`` false: the Deployment controller keeps trying
and succeeds once the cluster allows (a quota freed by terminating pods, a ServiceAccount made a
moment after its namespace), which is how kstatus and Argo CD read a Deployment too. The
Deployment's progress deadline passing (``ProgressDeadlineExceeded``) is the failure: ``Stalled``.
One refusal is not said at all for a grace period (``pods.settling_refusal``): a namespace's
default ServiceAccount not made yet, which Kubernetes makes within seconds of the namespace, so
a resource applied together with its namespace rolls out without a Warning.

A paused resource (``spec.paused``, ``paused``) is not reconciled, but its status still tells
whether its children are as its spec says: ``Ready`` follows the live Deployment while they are,
and is false, with ``Stalled`` true, while an edit made since (or a child changed by hand) waits
for unpausing, so that no wait takes an unapplied change for done.

Pods that exist but do not become ready (unschedulable, an image that cannot be pulled, a
container that keeps crashing or cannot be created: ``PodTrouble``, read from the pods by
``pods``) are said the same way, under the Kubernetes reason itself (``Unschedulable``,
``ImagePullBackOff``, ...) or ``PodsNotReady``: ``Degraded``, not ``Stalled`` before the deadline.

While a rollout is obstructed, or a reconcile is blocked (an invalid spec, a missing Secret:
nothing is written, the Deployment is left as it was), the message ends with whether the
previous spec's pods still serve (``PREVIOUS_PODS_SERVE``). That is true or not as they come and go while the cause stays
(one crashes, is evicted, is replaced), so it is not part of the cause (``cause``): a change of
it alone is written to the status, which tells the truth, but is no new Warning Event
(``events.for_transition``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
REFERENCES_RESOLVED = "ReferencesResolved"
RECONCILING = "Reconciling"
STALLED = "Stalled"
TYPES = (READY, PROGRESSING, DEGRADED, REFERENCES_RESOLVED, RECONCILING, STALLED)

# Why a condition reads as it does (CamelCase, stable: dashboards and alerts match on them).
INVALID_SPEC = "InvalidSpec"
SECRET_NOT_FOUND = "SecretNotFound"
SECRET_KEY_MISSING = "SecretKeyMissing"
# A key that is there, but whose value no environment variable can carry (not UTF-8, a NUL character).
SECRET_VALUE_INVALID = "SecretValueInvalid"
CONFIG_MAP_NOT_FOUND = "ConfigMapNotFound"  # a ConfigMap a knowledge source mounts
CONFIG_MAP_KEY_MISSING = "ConfigMapKeyMissing"  # a key a knowledge source lists in `items`
SECRET_TOO_LARGE = "SecretTooLarge"  # the referenced values do not fit in the one Secret they are copied to
UNRESOLVED_REASONS = (
    SECRET_NOT_FOUND,
    SECRET_KEY_MISSING,
    SECRET_VALUE_INVALID,
    CONFIG_MAP_NOT_FOUND,
    CONFIG_MAP_KEY_MISSING,
    SECRET_TOO_LARGE,
)
RESOLVED = "Resolved"
CHILD_CONFLICT = "ChildConflict"
# A child's name is held by an object the garbage collector removes (a previous resource's of this
# name): waited for, no person needs to act, so no Warning.
CHILD_BEING_REMOVED = "ChildBeingRemoved"
APPLY_FAILED = "ApplyFailed"
CHILD_REJECTED = "ChildRejected"  # the API server's dry run refused a child as rendered
# The spec asks for a child of a kind the cluster does not serve (the PodMonitor without the
# Prometheus Operator's CRDs): looked at again until it is, or until the spec stops asking.
CRD_NOT_INSTALLED = "CRDNotInstalled"
DEPLOYMENT_UNAVAILABLE = "DeploymentUnavailable"
PODS_NOT_CREATED = "PodsNotCreated"  # the Deployment's ReplicaFailure: the cluster refuses its pods
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"  # the Deployment's rollout stopped progressing
# Pods that exist but do not become ready, by what their own status says (``pods.diagnose``):
UNSCHEDULABLE = "Unschedulable"  # the scheduler finds no node for them
IMAGE_PULL_BACK_OFF = "ImagePullBackOff"  # ErrImagePull and ImagePullBackOff alike (a pod alternates)
INVALID_IMAGE_NAME = "InvalidImageName"
CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"  # a container that keeps ending, whether waiting or started again
CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"  # a Secret or ConfigMap (key) it needs is missing
PODS_NOT_READY = "PodsNotReady"  # anything else: a container that cannot start, a readiness probe that fails
POD_REASONS = (
    UNSCHEDULABLE,
    IMAGE_PULL_BACK_OFF,
    INVALID_IMAGE_NAME,
    CRASH_LOOP_BACK_OFF,
    CREATE_CONTAINER_CONFIG_ERROR,
    PODS_NOT_READY,
)
ROLLOUT_IN_PROGRESS = "RolloutInProgress"
ROLLOUT_COMPLETE = "RolloutComplete"
AVAILABLE = "Available"
AS_EXPECTED = "AsExpected"
PAUSED = "Paused"
# An Event only: another operator instance serves the resource (``status.operator``); this one writes nothing.
MANAGED_ELSEWHERE = "ManagedElsewhere"
# An Event only: this instance took the resource over from another whose claim was stale (its Lease gone).
TAKEN_OVER = "TakenOver"
STATUS_REFUSED = "StatusRefused"  # an Event only: the API server refused to store the status itself
SECURITY_KEY_REGENERATED = "SecurityKeyRegenerated"  # an Event only: the generated key was gone and made anew
INGRESS_NOT_ADMITTED = "IngressNotAdmitted"  # an Event only: the NetworkPolicy likely refuses the ingress controller
# Reasons that mean "a person must act": they become Warning events.
WARNING_REASONS = frozenset(
    {
        INVALID_SPEC,
        *UNRESOLVED_REASONS,
        CHILD_CONFLICT,
        APPLY_FAILED,
        CHILD_REJECTED,
        CRD_NOT_INSTALLED,
        PODS_NOT_CREATED,
        PROGRESS_DEADLINE_EXCEEDED,
        *POD_REASONS,
    }
)

# Said after the message of a rollout that cannot go on while the previous spec's pods serve.
PREVIOUS_PODS_SERVE = "the previous pods serve meanwhile"
_SERVING_NOTE = f"; {PREVIOUS_PODS_SERVE}"
_DEADLINE_NOTE = "; the Deployment's progress deadline has passed"

# Kubernetes caps condition messages at 32768 bytes; ours stay far shorter so `kubectl describe` reads well.
MESSAGE_MAX_LENGTH = 1024
# How much of the Deployment controller's own message a condition quotes.
QUOTE_MAX_LENGTH = 400


def shortened(message: str, limit: int = MESSAGE_MAX_LENGTH) -> str:
    """``message`` within ``limit`` bytes of UTF-8 (what the API server counts), its end replaced
    by how much was cut, so a reader knows there is more (``agentos validate`` lists every
    problem of a spec)."""
    encoded = message.encode("utf-8", "replace")
    if len(encoded) <= limit:
        return message
    kept = encoded[: limit - 48].decode("utf-8", "ignore").rstrip()
    return f"{kept} … [{len(message) - len(kept)} more characters]"


@dataclass(frozen=True)
class Condition:
    """What one condition says; the timestamps are added by ``merge``."""

    type: str
    status: Status
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Obstacle:
    """What the Deployment controller says stops the rollout, from the Deployment's conditions."""

    pods_refused: str | None  # ReplicaFailure's message: why the cluster refuses to create a pod
    deadline: str | None  # Progressing's message once its reason is ProgressDeadlineExceeded


@dataclass(frozen=True)
class PodTrouble:
    """Why the pods that exist are not ready, from their status: one of ``POD_REASONS`` and a
    message that stays the same while the cause does (no pod name, no restart count)."""

    reason: str
    message: str


@dataclass(frozen=True)
class Rollout:
    """The runtime Deployment's progress, read from its status."""

    desired: int
    ready: int
    available: int
    updated: int
    current: bool  # the Deployment controller has seen the latest spec
    total: int  # every pod of the Deployment, the previous spec's included
    obstacle: Obstacle | None = None  # None unless the controller reported one for the latest spec
    selector: str = ""  # the pods' label selector, for ``kubectl describe pods -l``

    @property
    def done(self) -> bool:
        """The latest spec's pods are all there and available, and no earlier pod is left
        (the checks of ``kubectl rollout status``, but that pods over the desired number, which
        a scale down removes, need not be available: a hand scale the operator puts back)."""
        return (
            self.current
            and self.updated >= self.desired
            and self.total <= self.updated
            and self.available >= self.desired
            and self.ready >= self.desired
        )

    @property
    def serving(self) -> bool:
        """As many available pods as desired, of whichever spec."""
        return self.available >= self.desired and self.ready >= self.desired


def blocked(reason: str, message: str, *, serving: bool = False) -> list[Condition]:
    """Nothing could be applied (invalid spec, unresolved Secret or ConfigMap, a child owned by someone else).

    ``serving``: the resource's Deployment, left as it was, has its pods available: said after
    the cause (``PREVIOUS_PODS_SERVE``), as for an obstructed rollout, so that ``Ready=False``
    does not read as an outage. A change of it alone is no new Warning (``cause``).
    """
    # Cut to the same length either way: what is told before the note is the same cause.
    told = shortened(message, MESSAGE_MAX_LENGTH - len(_SERVING_NOTE)) + (_SERVING_NOTE if serving else "")
    resolved: Condition
    if reason in UNRESOLVED_REASONS:
        resolved = Condition(REFERENCES_RESOLVED, "False", reason, message)
    elif reason == INVALID_SPEC:
        resolved = Condition(REFERENCES_RESOLVED, "Unknown", reason, "the spec is invalid: references were not checked")
    else:
        resolved = Condition(REFERENCES_RESOLVED, "True", RESOLVED, "every referenced Secret key exists")
    return [
        Condition(READY, "False", reason, told),
        Condition(PROGRESSING, "False", reason, told),
        Condition(DEGRADED, "True", reason, told),
        resolved,
        Condition(RECONCILING, "False", reason, told),
        Condition(STALLED, "True", reason, told),
    ]


def waiting(reason: str, message: str) -> list[Condition]:
    """Nothing could be applied yet, for a cause that clears by itself (``CHILD_BEING_REMOVED``):
    not ready and still reconciling, but neither degraded nor stalled, as no person needs to act."""
    resolved = Condition(REFERENCES_RESOLVED, "True", RESOLVED, "every referenced Secret key exists")
    return [
        Condition(READY, "False", reason, message),
        Condition(PROGRESSING, "True", reason, message),
        Condition(DEGRADED, "False", AS_EXPECTED),
        resolved,
        Condition(RECONCILING, "True", reason, message),
        Condition(STALLED, "False", AS_EXPECTED),
    ]


def applied(rollout: Rollout | None, trouble: PodTrouble | None = None) -> list[Condition]:
    """Every child is as desired; readiness follows the Deployment's rollout.

    ``trouble``: why the pods that exist are not ready, when the reconcile looked (``pods``).

    ``Ready`` is true once the latest spec is rolled out: false for the whole of a rollout (its
    reason saying whether the previous pods still serve meanwhile), never true again before it
    is done, so ``kubectl wait --for=condition=Ready`` after a change waits for that change.
    """
    resolved = Condition(REFERENCES_RESOLVED, "True", RESOLVED, "every referenced Secret key exists")
    if rollout is None:
        waiting = "the Deployment does not exist yet"
        return [
            Condition(READY, "False", DEPLOYMENT_UNAVAILABLE, waiting),
            Condition(PROGRESSING, "True", ROLLOUT_IN_PROGRESS, waiting),
            Condition(DEGRADED, "False", AS_EXPECTED),
            resolved,
            Condition(RECONCILING, "True", ROLLOUT_IN_PROGRESS, waiting),
            Condition(STALLED, "False", AS_EXPECTED),
        ]
    if (rollout.obstacle is not None or trouble is not None) and not rollout.done:
        return _obstructed(rollout, rollout.obstacle or Obstacle(None, None), trouble, resolved)
    pods = _pods(rollout)
    if rollout.done:
        ready = Condition(READY, "True", AVAILABLE, pods)
    elif rollout.serving and rollout.total > 0:
        ready = Condition(READY, "False", ROLLOUT_IN_PROGRESS, f"{pods}, {_rolled_out(rollout)}: {PREVIOUS_PODS_SERVE}")
    else:
        ready = Condition(READY, "False", DEPLOYMENT_UNAVAILABLE, pods)
    progress = (
        Condition(PROGRESSING, "False", ROLLOUT_COMPLETE, pods)
        if rollout.done
        else Condition(PROGRESSING, "True", ROLLOUT_IN_PROGRESS, f"{pods}, {_rolled_out(rollout)}")
    )
    return [
        ready,
        progress,
        Condition(DEGRADED, "False", AS_EXPECTED),
        resolved,
        Condition(RECONCILING, progress.status, progress.reason, progress.message),
        Condition(STALLED, "False", AS_EXPECTED),
    ]


def told_trouble(ready: Mapping[str, Any]) -> PodTrouble:
    """The ``PodTrouble`` a ``Ready`` condition written by ``applied`` quotes: its reason, and its
    message without what ``_obstructed`` adds after the cause (the deadline, whether the previous
    pods serve), so that ``applied`` given it again writes the same message."""
    message = str(ready.get("message") or "").removesuffix(_SERVING_NOTE).removesuffix(_DEADLINE_NOTE)
    return PodTrouble(str(ready.get("reason") or ""), message)


def _obstructed(rollout: Rollout, obstacle: Obstacle, pods: PodTrouble | None, resolved: Condition) -> list[Condition]:
    """The rollout cannot go on: Ready and Degraded quote why; Stalled once the deadline passed.

    Pods the cluster refuses come first (those pods do not exist), then what the pods that
    exist say, then the deadline alone.

    No pod count is in the message: it would change as pods come and go while the cause stays,
    and each change of a Warning's message is an Event. Whether the previous pods serve is
    said after the cause (``PREVIOUS_PODS_SERVE``), which is kept short enough for it to fit:
    the status says it as it is, and a change of it alone posts no Warning (``cause``).
    """
    serving = _SERVING_NOTE if rollout.serving and rollout.total > 0 else ""
    if obstacle.pods_refused is not None:
        reason = PODS_NOT_CREATED
        said = _QUOTA_USED.sub(", limited: ", obstacle.pods_refused)  # what others use comes and goes
        message = f"the cluster refuses the pods ({quote(said)}): {_remedy(obstacle.pods_refused)}"
        if obstacle.deadline is not None:
            message += _DEADLINE_NOTE
    elif pods is not None:
        # Cut before the notes, so they are said whole, and a message read back is cut the same.
        reason = pods.reason
        message = shortened(pods.message, MESSAGE_MAX_LENGTH - len(_DEADLINE_NOTE) - len(_SERVING_NOTE))
        if obstacle.deadline is not None:
            message += _DEADLINE_NOTE
    else:
        reason = PROGRESS_DEADLINE_EXCEEDED
        where = f"kubectl describe pods -l {rollout.selector}" if rollout.selector else "kubectl describe pods"
        message = (
            f"the rollout made no progress within the Deployment's progress deadline "
            f"({quote(obstacle.deadline or '')}): its pods do not become ready; `{where}` says why "
            "(an image that cannot be pulled, a container that crashes, a readiness probe that fails)"
        )
    message = shortened(message, MESSAGE_MAX_LENGTH - len(_SERVING_NOTE)) + serving
    stalled = obstacle.deadline is not None
    progress = Condition(PROGRESSING, "False" if stalled else "True", reason, message)
    return [
        Condition(READY, "False", reason, message),
        progress,
        Condition(DEGRADED, "True", reason, message),
        resolved,
        Condition(RECONCILING, progress.status, reason, message),
        Condition(STALLED, "True", reason, message) if stalled else Condition(STALLED, "False", AS_EXPECTED),
    ]


def cause(message: str) -> str:
    """A condition's message without what it says of the previous pods serving (``PREVIOUS_PODS_SERVE``):
    what a Warning Event is told for, and told again only when it changes."""
    return message.removesuffix(_SERVING_NOTE)


_POD_NAMED = re.compile(r'^pods? "[^"]*" is ')


def quote(kubernetes_said: str) -> str:
    """A message of Kubernetes', briefly: one line, without the generated name of the refused pod
    (which changes at every try), at most ``QUOTE_MAX_LENGTH`` characters."""
    line = " ".join(kubernetes_said.split())
    line = _POD_NAMED.sub("", line)
    if len(line) > QUOTE_MAX_LENGTH:
        line = line[: QUOTE_MAX_LENGTH - 1].rstrip() + "…"
    return line


_QUOTA = re.compile(r"(?:exceeded|status unknown for) quota: ([a-z0-9.-]+)")
# A quota refusal's ``used:`` figures, which change whenever another pod of the namespace comes or
# goes: left out of the message, so that one refusal is one Warning and no status write per change.
_QUOTA_USED = re.compile(r", used: [^ ]*, limited: ")
_LIMIT_RANGE = re.compile(r"(maximum|minimum) \S+ usage per (Container|Pod)|limit to request ratio")


def _remedy(refusal: str) -> str:
    """What to do about a pod the cluster refuses, for the refusals Kubernetes itself makes."""
    then = "the Deployment controller retries on its own"
    quota = _QUOTA.search(refusal)
    if quota is not None:
        what = f"raise the namespace's ResourceQuota '{quota.group(1)}', or lower spec.replicas or spec.resources"
    elif "violates PodSecurity" in refusal:
        what = (
            "the namespace's Pod Security level refuses the pod as admitted: what it names must go "
            "(from the spec, or from what a webhook adds), or the namespace's "
            "pod-security.kubernetes.io/enforce label must allow it"
        )
    elif _LIMIT_RANGE.search(refusal):
        what = "set spec.resources within the namespace's LimitRange"
    elif 'serviceaccount "default" not found' in refusal.lower():
        # Kubernetes makes it in every namespace, shortly after the namespace (again, if deleted).
        what = "wait for Kubernetes to make the namespace's default ServiceAccount, as it does in every namespace"
    elif "serviceaccount" in refusal.lower() and "not found" in refusal:
        what = "create the ServiceAccount spec.serviceAccountName names, or unset it"
    elif "no PriorityClass with name" in refusal:
        what = "create the PriorityClass spec.priorityClassName names, or unset it"
    else:
        what = "remove the cause Kubernetes names"
    return f"{what}; {then}"


def _pods(rollout: Rollout) -> str:
    """How many pods are ready, of those desired: more ready than desired (a scale down, a
    surge pod of a rolling update) are said apart, as pods to be removed."""
    extra = rollout.ready - rollout.desired
    if extra <= 0:
        return f"{rollout.ready} of {rollout.desired} pods ready"
    return f"{rollout.desired} of {rollout.desired} pods ready, and {extra} more to be removed"


def _rolled_out(rollout: Rollout) -> str:
    if not rollout.current:
        return "the latest spec not yet seen by the Deployment controller"
    return f"{min(rollout.updated, rollout.desired)} of {rollout.desired} on the latest spec"


def paused(
    rollout: Rollout | None,
    unapplied: str | None,
    *,
    generation: int | None,
    blocker: tuple[str, str] | None = None,
    serving: bool = False,
) -> list[Condition]:
    """Reconciliation is stopped (``spec.paused``): children are neither written nor pruned.

    ``unapplied``: what unpausing would change, when the children are not as ``generation`` of
    the spec renders them (an edit made while paused, a child edited or deleted by hand; or why
    the spec cannot be rendered); None when they are.

    Nothing unapplied: the conditions are those of the applied spec (``applied``), Ready's
    reason ``Paused``, so readiness follows the live Deployment's rollout as unpaused.

    Something unapplied: ``Ready`` false, and ``Stalled`` true (what kstatus reads as Failed):
    the resource does not match its spec and the operator will make no progress towards it
    until a person unpauses it, so ``kubectl wait --for=condition=Ready`` and GitOps health
    checks do not take the change for done. ``Reconciling`` is false: nothing is being done.
    ``Degraded`` and ``ReferencesResolved`` say what holds now: as ``blocked`` says them for
    ``blocker``, the (reason, message) of a spec that cannot be rendered for what it references
    (``serving``: the previous pods serve meanwhile), else as ``applied`` says them of the live
    Deployment, the references resolved.
    """
    note = "spec.paused is true: children are left as they are"
    if unapplied is None:
        found = applied(rollout)
        ready = found[0]
        result = [Condition(READY, ready.status, PAUSED, f"{note}; {ready.message}")]
        for condition in found[1:]:
            if condition.type in (PROGRESSING, RECONCILING) and condition.status == "False":
                condition = Condition(condition.type, "False", PAUSED, f"{note}; {condition.message}")
            result.append(condition)
        return result
    pods = "the Deployment does not exist" if rollout is None else _pods(rollout)
    spec = "the spec" if generation is None else f"generation {generation} of the spec"
    message = (
        f"spec.paused is true: the children are not as {spec} renders them ({unapplied}), "
        f"and are left so until spec.paused is set to false, which applies it; meanwhile {pods}"
    )
    judged = blocked(*blocker, serving=serving) if blocker is not None else applied(rollout)
    kept = [c for c in judged if c.type in (DEGRADED, REFERENCES_RESOLVED)]
    return [
        Condition(READY, "False", PAUSED, message),
        Condition(PROGRESSING, "False", PAUSED, message),
        *kept,
        Condition(RECONCILING, "False", PAUSED, message),
        Condition(STALLED, "True", PAUSED, message),
    ]


def merge(
    existing: Sequence[Mapping[str, Any]], conditions: Sequence[Condition], *, now: str, generation: int | None
) -> list[dict[str, Any]]:
    """The conditions as status entries, in ``TYPES`` order; ``now`` is stamped only on a status
    change. Conditions of types that are not the operator's (``TYPES``), which another tool (a
    policy controller) wrote, follow as they were: each writer owns its own types."""
    previous = {c.get("type"): c for c in existing}
    merged = []
    for condition in sorted(conditions, key=lambda c: TYPES.index(c.type) if c.type in TYPES else len(TYPES)):
        before = previous.get(condition.type)
        changed = before is None or before.get("status") != condition.status
        since = now if changed or before is None else before.get("lastTransitionTime", now)
        entry: dict[str, Any] = {
            "type": condition.type,
            "status": condition.status,
            "reason": condition.reason,
            "message": shortened(condition.message),
            "lastTransitionTime": since,
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        merged.append(entry)
    ours = {condition.type for condition in conditions}
    merged += [dict(c) for c in existing if c.get("type") not in TYPES and c.get("type") not in ours]
    return merged


def find(conditions: Sequence[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    """The condition of ``type_``, or None when absent."""
    return next((c for c in conditions if c.get("type") == type_), None)
