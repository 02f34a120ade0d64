"""Why a resource's pods are not ready, read from the pods themselves, and when to look. Pure.

The operator watches no pod: a crash-looping pod rewrites its status at every restart, and
holding every pod would cost memory per resource. It looks at a resource's pods only when its
rollout is not done and the pods could have been expected ready by now (``when_to_look``): the
Deployment made no progress for ``grace`` seconds (by the Deployment controller's own clock, the
``Progressing`` condition's ``lastUpdateTime``; from when it became unavailable, for a Deployment
that was), or its progress deadline passed. Pods that are simply starting are never listed.
Then the pods are listed by the Deployment's selector in pages of ``SAMPLE``, each read into a
``PodState`` at once (``pod_state_of``) and kept only when not ready, until ``SAMPLE`` unready
ones are kept, the list ends, or ``PAGES`` pages were read (``unready``): many ready replicas
do not hide the few that are not, and one page is the usual look. Only the pods of the newest
ReplicaSet are read when the Deployment controller names it (``newest_replica_set``): the
previous spec's pods, which a rollout keeps until the new ones are available, say nothing of
the latest spec (a crash the new spec mends would otherwise be blamed on it). ``diagnose``
names the most telling reason.

Nothing wakes a resource when its pod starts crashing (the Deployment's status does not change),
so the reconciler looks again after as long as the rollout has been stuck, up to a limit, until
it is done: an unready resource is looked at after ``grace``, then about 2, 4, 8... times as late.
A resource whose status already says why this generation's pods are not ready (``told``) is
looked at whenever it is reconciled, ``grace`` or not: a previous spec's pod replaced while the
latest spec's are stuck is progress to the Deployment controller, and waiting ``grace`` from it
would make the status forget the cause meanwhile and tell it again, one more Warning, after.
For the same reason, while such a replacement is still starting and the pods say nothing else,
``diagnose`` keeps what the status told.

A diagnosis names the container, never a pod (their names change at every try) and never a
restart count, so that it stays the same while the cause does: a resync writes nothing and the
Warning is told once. It quotes Kubernetes only where its message is stable: a missing
Secret's, and the scheduler's without its node counts (which change as nodes come and go,
``scheduler_reasons``); an image pull alternates between ``ErrImagePull`` and
``ImagePullBackOff`` with different messages, both read as ``ImagePullBackOff``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentos_operator import conditions
from agentos_operator.conditions import PodTrouble, quote
from agentos_operator.render.deployment import CONTAINER_NAME
from agentos_operator.render.sidecars import sidecar_name

# How many pods one page of a look lists (``limit``), and how many unready ones a look keeps: a
# sample is enough to say why, and bounds the memory.
SAMPLE = 20
# How many pages one look reads at most: up to 200 pods, for a few unready among many ready.
PAGES = 10
# The shortest wait before looking again, so that clock rounding cannot make a busy loop.
SHORTEST_WAIT = 1.0
# Containers still being created are said to be stuck only in pods this many graces old: the
# kubelet shows a pull of a large image as ``ContainerCreating`` too, which often takes minutes.
STILL_CREATING_GRACES = 3


@dataclass(frozen=True)
class ContainerState:
    """What a container's status says, of what ``diagnose`` reads."""

    name: str
    image: str
    ready: bool
    waiting: str = ""  # state.waiting.reason
    waiting_message: str = ""
    last_ended: str = ""  # lastState.terminated.reason (OOMKilled, Error, ...)
    exit_code: int | None = None  # lastState.terminated.exitCode
    restarts: int = 0


@dataclass(frozen=True)
class PodState:
    """What a pod's status says, of what ``diagnose`` reads."""

    created: datetime.datetime | None
    ready: bool
    unschedulable: str | None = None  # the scheduler's message while PodScheduled is False, Unschedulable
    containers: tuple[ContainerState, ...] = ()  # init containers (the MCP sidecars) first


@dataclass(frozen=True)
class Look:
    """Whether a reconcile lists the pods now, and in how many seconds the resource is looked at again."""

    now: bool
    again_in: float


def parse_time(value: object) -> datetime.datetime | None:
    """An API server timestamp (``2026-01-01T00:00:00Z``), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=datetime.UTC)


def stuck_since(deployment: Mapping[str, Any]) -> datetime.datetime | None:
    """Since when the Deployment has made no progress: the last of its ``Progressing`` condition's
    ``lastUpdateTime`` (moved by the Deployment controller at each pod updated, ready or available)
    and the time it became unavailable; its creation when it reports neither."""
    status = deployment.get("status") or {}
    times = []
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing":
            times.append(parse_time(condition.get("lastUpdateTime") or condition.get("lastTransitionTime")))
        elif condition.get("type") == "Available" and condition.get("status") == "False":
            times.append(parse_time(condition.get("lastTransitionTime")))
    known = [when for when in times if when is not None]
    if known:
        return max(known)
    return parse_time((deployment.get("metadata") or {}).get("creationTimestamp"))


def deadline_passed(deployment: Mapping[str, Any]) -> bool:
    """Whether the Deployment controller says the rollout passed its progress deadline."""
    return any(
        c.get("type") == "Progressing" and c.get("status") == "False" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in (deployment.get("status") or {}).get("conditions") or []
    )


def when_to_look(
    deployment: Mapping[str, Any], *, now: datetime.datetime, grace: float, longest: float, told: bool = False
) -> Look:
    """Whether an unready Deployment's pods are listed now, and when to look again.

    Listed once it made no progress for ``grace`` seconds, or passed its progress deadline, or
    at once when the status already ``told`` why its pods are not ready; looked at again after
    as long as it has been stuck (at least ``grace``, at most ``longest``), so a resource stuck
    for long costs a list every ``longest`` seconds.
    """
    since = stuck_since(deployment)
    stuck_for = max((now - since).total_seconds(), 0.0) if since is not None else 0.0
    if stuck_for < grace and not deadline_passed(deployment) and not told:
        return Look(now=False, again_in=max(grace - stuck_for, min(grace, SHORTEST_WAIT)))
    return Look(now=True, again_in=max(min(max(stuck_for, grace), longest), SHORTEST_WAIT))


# The one refusal of a rollout's pods that Kubernetes clears by itself within seconds: a new
# namespace's default ServiceAccount is made by the ServiceAccount controller just after the
# namespace, and a resource applied together with its namespace (GitOps) often races it.
NO_DEFAULT_ACCOUNT = 'serviceaccount "default" not found'


def settling_refusal(deployment: Mapping[str, Any], *, now: datetime.datetime, grace: float) -> float | None:
    """Seconds more a refusal of the pods that Kubernetes clears by itself (``NO_DEFAULT_ACCOUNT``)
    is held back, so that the race of a namespace and its default ServiceAccount is a rollout in
    progress and no Warning; None when there is no such refusal, or it has lasted ``grace`` (then
    Kubernetes is not making the ServiceAccount, and the status says so)."""
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        if (
            condition.get("type") == "ReplicaFailure"
            and condition.get("status") == "True"
            and NO_DEFAULT_ACCOUNT in str(condition.get("message") or "").lower()
        ):
            since = parse_time(condition.get("lastTransitionTime") or condition.get("lastUpdateTime"))
            left = grace - max((now - since).total_seconds(), 0.0) if since is not None else 0.0
            return max(left, SHORTEST_WAIT) if left > 0 else None
    return None


def told(status_conditions: Sequence[Mapping[str, Any]], generation: int | None) -> PodTrouble | None:
    """What a status says of why the pods of the resource's ``generation`` are not ready: its
    ``Ready`` condition's reason, one of ``conditions.POD_REASONS``, and its message, observed at
    that generation (after a spec change the new pods start afresh: they get their ``grace``);
    else None."""
    ready = conditions.find(status_conditions, conditions.READY) or {}
    reason = ready.get("reason")
    if reason in conditions.POD_REASONS and generation is not None and ready.get("observedGeneration") == generation:
        return conditions.told_trouble(ready)
    return None


# The Deployment controller names its newest ReplicaSet in the Progressing condition's message
# ("Created new replica set %q", "ReplicaSet %q is progressing.", ... "has timed out progressing.").
_NEWEST_REPLICA_SET_REASONS = frozenset(
    {
        "NewReplicaSetCreated",
        "FoundNewReplicaSet",
        "ReplicaSetUpdated",
        "NewReplicaSetAvailable",
        "ProgressDeadlineExceeded",
    }
)
_REPLICA_SET_NAMED = re.compile(r'replica ?set "([a-z0-9][a-z0-9.-]*)"', re.IGNORECASE)


def newest_replica_set(deployment: Mapping[str, Any]) -> str | None:
    """The name of the Deployment's newest ReplicaSet (that of its latest pod template), as its
    controller's ``Progressing`` condition says it; None when it says none.

    During a rollout the previous ReplicaSet's pods stay (up to all of them while the new ones
    start): their trouble is the previous spec's, not the latest's."""
    name = str((deployment.get("metadata") or {}).get("name") or "")
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") in _NEWEST_REPLICA_SET_REASONS:
            found = _REPLICA_SET_NAMED.search(str(condition.get("message") or ""))
            if found is not None and found.group(1).startswith(f"{name}-"):
                return found.group(1)
    return None


def unready(pods: Sequence[Mapping[str, Any]], *, replica_set: str | None = None) -> list[PodState]:
    """What ``diagnose`` reads of the listed pods that are not ready (those being deleted or
    finished left out; ``replica_set``: those another ReplicaSet controls left out too)."""
    return [
        state
        for pod in pods
        if replica_set is None or _controlled_by(pod, replica_set)
        if (state := pod_state_of(pod)) is not None and not state.ready
    ]


def _controlled_by(pod: Mapping[str, Any], replica_set: str) -> bool:
    """Whether ``pod`` is the ReplicaSet ``replica_set``'s, or no ReplicaSet's (made otherwise)."""
    for owner in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if owner.get("kind") == "ReplicaSet" and owner.get("controller"):
            return bool(owner.get("name") == replica_set)
    return True


def pod_state_of(pod: Mapping[str, Any]) -> PodState | None:
    """The part of a listed pod ``diagnose`` reads; None for a pod being deleted or finished
    (its ReplicaSet replaces it: it says nothing of the pods to come)."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if meta.get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    ready = unschedulable = None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            ready = condition.get("status") == "True"
        elif (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            unschedulable = str(condition.get("message") or "no message")
    containers = tuple(
        _container_state(item)
        for key in ("initContainerStatuses", "containerStatuses")
        for item in status.get(key) or []
        if isinstance(item, Mapping)
    )
    return PodState(
        created=parse_time(meta.get("creationTimestamp")),
        ready=bool(ready),
        unschedulable=unschedulable,
        containers=containers,
    )


def _container_state(item: Mapping[str, Any]) -> ContainerState:
    waiting = (item.get("state") or {}).get("waiting") or {}
    ended = (item.get("lastState") or {}).get("terminated") or {}
    code = ended.get("exitCode")
    return ContainerState(
        name=str(item.get("name") or ""),
        image=str(item.get("image") or ""),
        ready=bool(item.get("ready")),
        waiting=str(waiting.get("reason") or ""),
        waiting_message=str(waiting.get("message") or ""),
        last_ended=str(ended.get("reason") or ""),
        exit_code=code if isinstance(code, int) else None,
        restarts=int(item.get("restartCount") or 0),
    )


# The most telling first: what a person must fix in the spec or the namespace, then what the
# cluster lacks, then what may still pass. ``diagnose`` picks the first found in any pod.
_PULL_FAILED = frozenset({"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull"})
_STARTING = frozenset({"ContainerCreating", "PodInitializing"})
_RANKS = {
    conditions.CREATE_CONTAINER_CONFIG_ERROR: 0,
    conditions.INVALID_IMAGE_NAME: 1,
    conditions.IMAGE_PULL_BACK_OFF: 2,
    conditions.CRASH_LOOP_BACK_OFF: 3,
    conditions.UNSCHEDULABLE: 4,
}
_CANNOT_START, _NOT_READY, _STILL_CREATING = 5, 6, 7


def diagnose(
    pods: Sequence[PodState], *, now: datetime.datetime, grace: float, selector: str, told: PodTrouble | None = None
) -> PodTrouble | None:
    """The most telling reason the pods are not ready, or None when they say nothing of it.

    The same pods give the same answer in any order. What may still pass (a readiness probe
    not passed yet) counts only in pods older than ``grace``, or in any pod once the status
    ``told`` it (``PODS_NOT_READY`` for this generation); containers still being created, in
    pods older than ``STILL_CREATING_GRACES`` graces.

    A pod replaced meanwhile, of the same spec, is no sign the cause the status ``told`` went:
    while the pods say nothing else and one of them is still starting (younger than
    ``STILL_CREATING_GRACES`` graces: not yet scheduled, without container statuses, its
    containers being created), what was told is kept. Else the status would forget the cause
    for as long as the replacement starts, and tell it again, one more Warning, after.
    """
    known = told is not None and told.reason == conditions.PODS_NOT_READY
    found: list[tuple[int, str, str]] = []  # (rank, reason, message)
    starting = False
    where = f"`kubectl describe pods -l {selector}`" if selector else "`kubectl describe pods`"
    for pod in pods:
        if pod.ready:
            continue
        age = None if pod.created is None else (now - pod.created).total_seconds()
        old = known or age is None or age >= grace
        very_old = age is None or age >= grace * STILL_CREATING_GRACES
        starting = starting or not very_old
        if pod.unschedulable is not None:
            found.append(
                (_RANKS[conditions.UNSCHEDULABLE], conditions.UNSCHEDULABLE, _unschedulable(pod.unschedulable))
            )
        for container in pod.containers:
            trouble = _container_trouble(container, where=where, selector=selector, old=old, very_old=very_old)
            if trouble is not None:
                found.append(trouble)
    if not found:
        return told if starting else None
    _, reason, message = min(found)
    return PodTrouble(reason, message)


def _container_trouble(
    container: ContainerState, *, where: str, selector: str, old: bool, very_old: bool
) -> tuple[int, str, str] | None:
    name, waiting = container.name, container.waiting
    which = f"container '{name}'"
    if container.ready:
        return None
    if waiting == "CreateContainerConfigError":
        said = container.waiting_message
        message = f"{which} cannot be created ({quote(said)}): {_config_remedy(said)}; the kubelet retries on its own"
        return _RANKS[conditions.CREATE_CONTAINER_CONFIG_ERROR], conditions.CREATE_CONTAINER_CONFIG_ERROR, message
    if waiting == "InvalidImageName":
        message = f"{which} names an image that is not valid ({quote(container.waiting_message)}): fix {_field(name, 'image')}"
        return _RANKS[conditions.INVALID_IMAGE_NAME], conditions.INVALID_IMAGE_NAME, message
    if waiting in _PULL_FAILED:
        image = f" '{container.image}'" if container.image else ""
        message = (
            f"{which} cannot pull its image{image}: check {_field(name, 'image')} (name and tag) and that the "
            f"nodes may pull from its registry (a private one needs spec.imagePullSecrets, or a pull secret on "
            f"the pods' ServiceAccount); {where} shows the "
            "registry's answer"
        )
        return _RANKS[conditions.IMAGE_PULL_BACK_OFF], conditions.IMAGE_PULL_BACK_OFF, message
    if waiting == "CrashLoopBackOff" or (container.last_ended and container.restarts > 0):
        return _RANKS[conditions.CRASH_LOOP_BACK_OFF], conditions.CRASH_LOOP_BACK_OFF, _crashing(container, selector)
    if waiting and waiting not in _STARTING:
        message = f"{which} cannot start ({waiting}): {where} shows why"
        return _CANNOT_START, conditions.PODS_NOT_READY, message
    if not old:
        return None
    if waiting in _STARTING:
        if not very_old:
            return None
        message = (
            f"{which} is still being created ({waiting}): {where} shows what holds it (often a volume that "
            "cannot be mounted)"
        )
        return _STILL_CREATING, conditions.PODS_NOT_READY, message
    message = f"{which} runs but does not become ready: its readiness probe fails; {where} shows the probe's answer"
    return _NOT_READY, conditions.PODS_NOT_READY, message


def _crashing(container: ContainerState, selector: str) -> str:
    ended = container.last_ended
    code = f", exit code {container.exit_code}" if container.exit_code is not None else ""
    last = f"; it last ended {ended}{code}" if ended else ""
    head = f"container '{container.name}' keeps crashing (CrashLoopBackOff{last})"
    if ended == "OOMKilled":
        return f"{head}: it needs more memory than its limit: raise {_field(container.name, 'resources.limits.memory')}"
    logs = f"kubectl logs -l {selector} -c {container.name} --previous" if selector else "kubectl logs --previous"
    return f"{head}: `{logs}` shows why"


def _field(container: str, what: str) -> str:
    """Where the spec sets ``what`` of ``container``."""
    if container == CONTAINER_NAME:
        return f"spec.{what}"
    prefix = sidecar_name("")
    if container.startswith(prefix):
        return f"the sidecar's {what} (spec.mcpServers[id={container[len(prefix) :]}].sidecar.{what})"
    return f"the {what} of container '{container}'"


_MISSING_OBJECT = re.compile(r'^(secret|configmap) "([^"]+)" not found')
_MISSING_KEY = re.compile(r"couldn't find key (\S+) in (Secret|ConfigMap) ")


def _config_remedy(said: str) -> str:
    """What to do about a container the kubelet cannot configure, for the causes it names."""
    missing = _MISSING_OBJECT.search(said)
    if missing is not None:
        kind = "Secret" if missing.group(1) == "secret" else "ConfigMap"
        return f"create the {kind} '{missing.group(2)}' in the namespace, or remove its reference from spec.env or spec.envFrom"
    key = _MISSING_KEY.search(said)
    if key is not None:
        return f"add the key '{key.group(1)}' to the {key.group(2)} it names, or remove its reference"
    if "runAsNonRoot" in said:
        return "the image runs as root, which the pods' restricted security context refuses: use an image that runs as a non-root user"
    return "remove the cause Kubernetes names"


_INSUFFICIENT = re.compile(r"Insufficient ([a-zA-Z0-9./-]*[a-zA-Z0-9])")
_NODES_AVAILABLE = re.compile(r"^\d+/\d+ nodes are available:\s*")
_COUNTED = re.compile(r"^\d+ (\S.*)$")


def scheduler_reasons(said: str) -> str:
    """What the scheduler says is wrong, without a count of nodes: each ``N <reason>`` of its
    ``0/N nodes are available: ...`` reduced to its reason, sorted, once each, ``; `` between them.

    The counts change as nodes are added or removed while the cause stays (``0/2 nodes are
    available: 2 Insufficient cpu.`` and ``0/3 ...: 3 Insufficient cpu.`` both read
    ``Insufficient cpu``); the reasons are the scheduler's own words, as ``kubectl describe pods``
    shows them with their counts. Its account of preemption (and anything else after its first
    sentence) is left out; a message of another form (``no nodes available to schedule pods``, a
    plugin's own message without counts) is kept as it is, on one line.
    """
    line = " ".join(said.split())
    head = _NODES_AVAILABLE.match(line)
    if head is None:
        return line.split(" preemption:", 1)[0].strip().rstrip(".")
    filters = line[head.end() :].split(". ", 1)[0].strip().rstrip(".")
    clauses = [clause.strip(" ,;") for clause in filters.split(", ")]
    counted = [_COUNTED.match(clause) for clause in clauses if clause]
    if not counted:
        return "no node is available"  # ``0/0 nodes are available: .``
    if not all(counted):
        return filters  # a plugin's message, which names no count (``pod has unbound immediate ...``)
    return "; ".join(sorted({match.group(1) for match in counted if match is not None}))


def _unschedulable(said: str) -> str:
    """The scheduler's answer, briefly (``scheduler_reasons``: no node count, no preemption), and what to do."""
    reasons = scheduler_reasons(said)
    short = _INSUFFICIENT.findall(reasons)
    if short:
        names = " and ".join(sorted(set(short)))
        what = f"lower spec.resources.requests ({names}), or add nodes with more {names} to the cluster"
    elif "node affinity/selector" in reasons:
        what = "set spec.nodeSelector and spec.affinity to labels some node has"
    elif "topology spread" in reasons:
        what = "relax spec.topologySpreadConstraints (maxSkew, or whenUnsatisfiable: ScheduleAnyway), or add nodes"
    elif "taint" in reasons:
        what = "add spec.tolerations for the nodes' taints, or free nodes of them"
    elif "PersistentVolumeClaim" in reasons or "volume" in reasons:
        what = (
            "the data volume's claim must bind to a volume the nodes can reach: set "
            "spec.persistence.storageClassName to a StorageClass that provisions one (kubectl get storageclass), "
            "or create a PersistentVolume it matches"
        )
    elif "anti-affinity" in reasons or "affinity" in reasons:
        what = "relax spec.affinity, or add nodes"
    else:
        what = "free or add what the scheduler names"
    said_why = f" ({quote(reasons)})" if reasons else ""  # a scheduler that gave no words: none quoted
    return f"the scheduler finds no node for the pods{said_why}: {what}; the scheduler retries on its own"
