"""One reconcile of one ``AgentOSConfig``: validate, resolve Secrets, render, apply, prune, report.

Level-triggered: whatever woke it (an edit, a child's change, a rotated Secret, the resync
timer), it reads the resource and its children as the watches last saw them (the store) and
converges them. It writes only what differs, so a reconcile of an unchanged resource makes no
write at all, status and events included, and with watches on, no request either (but a read
of each ConfigMap its knowledge sources mount, which no watch of the operator's carries). Bad
input never half-applies: an invalid spec, a missing Secret, a missing mounted ConfigMap or a
child of a kind the cluster does not serve (a PodMonitor without the Prometheus Operator's CRDs)
stops it before the first child is written, and the status says why.

A resource whose rollout is not done is looked at again later (``Context.recheck``), since
nothing it watches tells when a pod starts crashing; once its pods could have been ready
(``pods.when_to_look``), a reconcile lists them (pages of ``pods.SAMPLE``, at most
``pods.PAGES``, never a watch) and the status says why they are not. A converged, ready
resource makes no such request.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from agentos_runtime.config import ConfigError, Problem
from agentos_runtime.config.checking import every_problem

from agentos_operator import conditions, events, pods, render, status
from agentos_operator.errors import ChildChangeRefusedError, MissingSecretsError, OperatorError, SecretsTooLargeError
from agentos_operator.kube import kinds
from agentos_operator.kube.children import (
    Change,
    ChildBeingRemovedError,
    ChildConflictError,
    ChildRejectedError,
    KindNotServedError,
    apply_children,
    describe_unapplied,
    prune_children,
    unapplied_children,
)
from agentos_operator.kube.client import (
    FORBIDDEN_REMEDY,
    ApiClient,
    ApiConflictError,
    ApiError,
    ApiNotFoundError,
)
from agentos_operator.kube.config_maps import UnresolvedConfigMapsError, read_config_map_digests
from agentos_operator.kube.secrets import (
    SecurityKey,
    UnresolvedSecretsError,
    read_secret_values,
    security_key,
)
from agentos_operator.kube.store import Store
from agentos_operator.ownership import (
    ClaimJudgement,
    LeaseLookup,
    claimant_lease,
    judge_claim,
    may_manage,
    served_elsewhere,
)
from agentos_operator.resources import AgentOSResource, parse_resource
from agentos_operator.settings import OperatorSettings
from agentos_operator.stand_ins import stand_in

Logger = logging.Logger | logging.LoggerAdapter[Any]
Verdict = Literal["converged", "invalid", "waiting", "blocked", "paused", "gone", "elsewhere"]


def utc_now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wall_clock() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def no_recheck(key: tuple[str, str], delay: float) -> None:
    """A context without a reconciler (a one-off reconcile) looks at nothing again."""


class RefusedForNowError(OperatorError):
    """The operator's writes refused 403 for less than the grace (``failure_grace_seconds``;
    ``error``, the latest): retried as any failure, but said at info, as nothing may be wrong yet."""

    def __init__(self, error: ApiError, *, waited: float, grace: float) -> None:
        self.error = error
        self.waited = waited
        super().__init__(f"refused for {waited:.0f} s, reported if still so after {grace:.0f} s: {error}")


class ResourceDeletingError(OperatorError):
    """The resource is being deleted (or is gone) as the API server has it now, though not yet as
    the watch told: its children are not to be made again (``_converge``)."""


@dataclass(frozen=True)
class Context:
    """What a reconcile works with, passed in."""

    api: ApiClient
    store: Store
    settings: OperatorSettings
    logger: Logger
    instance: str = "agentos-operator"
    clock: Callable[[], str] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    failing_since: dict[tuple[str, str], float] = field(default_factory=dict)
    """When each resource's writes first failed in a row for a reason that may pass (``_failing_for_now``)."""
    status_forbidden_told: set[tuple[str, str]] = field(default_factory=set)
    """The resources whose status writes, refused past the grace, were told in a Warning (once a row)."""
    status_refused_told: dict[tuple[str, str], str] = field(default_factory=dict)
    """What was told of each resource whose status the API server will not store (once a row:
    its children's changes reconcile it again, and would tell the same refusal at each)."""
    recheck: Callable[[tuple[str, str], float], None] = no_recheck
    """Ask for a reconcile of (namespace, name) after so many seconds (the reconciler's ``request``)."""
    now: Callable[[], datetime.datetime] = wall_clock
    """The time, to compare with the API server's timestamps (``pods.when_to_look``)."""
    elsewhere_told: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    """The resources another operator instance serves whose Warning was posted: that instance, and when (``monotonic``)."""
    taking_over: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    """The resources this instance is taking over from a gone one: (that instance, how it shows gone)."""

    def forget(self, key: tuple[str, str]) -> None:
        """Drop what is kept of the resource ``key`` (namespace, name): it was deleted, and one
        made again under its name starts afresh."""
        self.failing_since.pop(key, None)
        self.status_forbidden_told.discard(key)
        self.status_refused_told.pop(key, None)
        self.elsewhere_told.pop(key, None)
        self.taking_over.pop(key, None)


# The API server keeps an Event for an hour by default (--event-ttl): the ManagedElsewhere Warning
# is posted again before it expires, for as long as the overlap lasts.
RETELL_ELSEWHERE_SECONDS = 50 * 60.0


def tell_elsewhere(told: tuple[str, float] | None, holder: str, now: float) -> bool:
    """Pure: whether the ManagedElsewhere Warning is due, given when it was last posted and of
    which instance (``told``): never yet, of another instance, or long enough ago that the API
    server may have dropped it."""
    return told is None or told[0] != holder or now - told[1] >= RETELL_ELSEWHERE_SECONDS


def managed_elsewhere_message(namespace: str, name: str, holder: str, identity: str, judged: ClaimJudgement) -> str:
    """What the ManagedElsewhere Warning says: who serves the resource, and how to end the overlap
    either way. Moving it here takes a command only when this instance cannot judge the claim
    (``judged`` says why); otherwise it follows the claimant's release going or being narrowed."""
    said = (
        f"another operator instance, '{holder}' (status.operator), serves this AgentOSConfig; this one, "
        f"'{identity}', also watches namespace '{namespace}' and leaves it alone: two operator releases overlap. "
        f"To keep it with '{holder}', narrow this release's rbac.namespaces or uninstall this release. "
    )
    if judged.verdict == "keep":
        return said + (
            f"To move it here, uninstall the release of '{holder}' or drop '{namespace}' from its rbac.namespaces: "
            "this instance then takes it over by itself (its Lease tells it, at the latest at the next resync)."
        )
    return said + (
        f"This instance cannot tell whether '{holder}' still runs ({judged.why}), so it never takes the resource "
        f"over by itself: to move it here, once that release is uninstalled or no longer watches '{namespace}', "
        f"remove the claim: kubectl patch agentosconfig {name} -n {namespace} --subresource=status "
        """--type=merge -p '{"status":{"operator":null}}'"""
    )


def taken_over_message(holder: str, identity: str, why: str) -> str:
    """What the TakenOver event says: whose claim was stale, why, and who serves the resource now."""
    return f"operator instance '{identity}' took this AgentOSConfig over from '{holder}' (status.operator): {why}"


@dataclass(frozen=True)
class Outcome:
    """How a reconcile ended: ``waiting`` and ``blocked`` are retried, the others wait for a change
    (``elsewhere``: another operator instance serves the resource, and this one wrote nothing)."""

    verdict: Verdict
    message: str = ""
    ready: str = "Unknown"
    changes: tuple[Change, ...] = ()


async def reconcile_key(namespace: str, name: str, ctx: Context) -> Outcome:
    """Reconcile the resource as the store holds it; ``gone`` when it no longer exists."""
    body = await ctx.store.get(kinds.AGENTOS_CONFIG, namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return Outcome("gone")
    return await reconcile(body, ctx)


def invalid_spec_message(body: Any, first: Sequence[Problem], *, default_image: str | None = None) -> str:
    """The InvalidSpec message: every problem of the spec at once, those ``first`` hides too."""

    def spec_problems(candidate: Any) -> list[Problem]:
        try:
            parse_resource(candidate, default_image=default_image)
        except ConfigError as error:
            return list(error.problems)
        return []

    problems = every_problem(body, spec_problems, root=("spec",), stand_in=stand_in) or first
    return "; ".join(str(problem) for problem in problems)


async def reconcile(body: Mapping[str, Any], ctx: Context) -> Outcome:
    """Converge ``body``'s children and status. Raises ``ApiError`` only for failures worth a retry."""
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    holder = served_elsewhere(body.get("status") or {}, ctx.settings.identity)
    ctx.taking_over.pop(key, None)
    if holder is not None:
        judged = await _judge_claim(ctx, holder, key[0])
        if judged.verdict == "wait":
            # Its release's next pod is likely to take the Lease back: judged again then, and
            # nothing said meanwhile (a Warning would tell of an overlap there may not be).
            ctx.recheck(key, judged.again_in)
            return Outcome("elsewhere", f"claimed by '{holder}', {judged.why}: looked at again soon")
        if judged.verdict != "take over":
            return await _stand_aside(ctx, body, holder, judged)
        ctx.taking_over[key] = (holder, judged.why)
    ctx.elsewhere_told.pop(key, None)
    # Reconciled before: it has a status beyond a claim (perhaps a Deployment the watch has yet to list).
    reconciled_before = bool(set(body.get("status") or {}) - {"operator"})
    # Seen before: a reconcile (this one's claim aside) has run, so its children may have been
    # made and collected since, as the resource's deletion began (``_confirm_not_deleting``).
    seen_before = bool(body.get("status"))
    # Edited: a spec changed since it was last reconciled (``_desired`` reads its Secrets fresh).
    edited = reconciled_before and (body.get("status") or {}).get("observedGeneration") != meta.get("generation")
    if (body.get("status") or {}).get("operator") != ctx.settings.identity:
        claimed = await _claim(ctx, body)
        if isinstance(claimed, Outcome):
            return claimed
        body, meta = claimed, claimed["metadata"]
    try:
        resource = parse_resource(body, default_image=ctx.settings.runtime_image)
    except ConfigError as error:
        message = invalid_spec_message(body, error.problems, default_image=ctx.settings.runtime_image)
        found = await _deployment(ctx, meta["namespace"], meta["name"])
        serving = status.previous_pods_serve(found, meta.get("uid"))
        blocked = conditions.blocked(conditions.INVALID_SPEC, message, serving=serving)
        return await _conclude(ctx, body, blocked, found, "invalid")
    if resource.spec.paused:
        unapplied, blocker = await _unapplied(resource, ctx, reconciled_before=reconciled_before)
        found = await _deployment(ctx, resource.namespace, resource.name)
        now = conditions.paused(
            status.rollout_of(found),
            unapplied,
            generation=meta.get("generation"),
            blocker=blocker,
            serving=status.previous_pods_serve(found, resource.uid),
        )
        return await _conclude(ctx, body, now, found, "paused")
    changes: list[Change] = []  # filled as writes happen, so a failure half-way still reports them
    key = (resource.namespace, resource.name)
    try:
        deployment = await _converge(
            resource, ctx, changes, reconciled_before=reconciled_before, seen_before=seen_before, edited=edited
        )
    except (UnresolvedSecretsError, MissingSecretsError, SecretsTooLargeError, UnresolvedConfigMapsError) as error:
        return await _blocked(ctx, body, resource, _unrendered(error), "waiting", changes)
    except ResourceDeletingError:
        return Outcome("gone")
    except ChildBeingRemovedError as error:
        # No person needs to act: retried soon (the backoff of a failure; the object's deletion,
        # which the child watches see, wakes the resource sooner). No Warning: not a reason for one.
        found = await _deployment(ctx, resource.namespace, resource.name)
        now = conditions.waiting(conditions.CHILD_BEING_REMOVED, str(error))
        return await _conclude(ctx, body, now, found, "blocked", changes=changes)
    except ChildConflictError as error:
        return await _blocked(ctx, body, resource, (conditions.CHILD_CONFLICT, str(error)), "blocked", changes)
    except ChildChangeRefusedError as error:
        return await _blocked(ctx, body, resource, (conditions.CHILD_REJECTED, str(error)), "blocked", changes)
    except ChildRejectedError as error:
        # The dry run refused it and nothing was written, or (etcd's size limit, which no dry run
        # reaches) the write itself was, after the children before it. The spec must change, or
        # the cluster (a LimitRange, an admission policy): retried with backoff.
        return await _blocked(ctx, body, resource, (conditions.CHILD_REJECTED, str(error)), "blocked", changes)
    except KindNotServedError as error:
        # Nothing written: the cluster lacks the kind's CRD. Looked at again with the backoff of a
        # missing Secret, so the resource converges on its own once the CRD is installed.
        message = render.not_served_message(error.kind.kind, str(error))
        return await _blocked(ctx, body, resource, (conditions.CRD_NOT_INSTALLED, message), "waiting", changes)
    except ApiError as error:
        # Failures that may pass in a row (``_failing_for_now``) are timed across retries, until a
        # reconcile concludes otherwise (``_conclude``); a namespace being deleted is waited out.
        if error.namespace_terminating or _failing_for_now(ctx, key, error):
            await _post(ctx, body, events.for_changes(changes))
            if error.transient:
                raise
            raise _refused_for_now(ctx, key, error) from error
        why = (conditions.APPLY_FAILED, f"{error}{TRANSIENT_NOTE if error.transient else ''}")
        failing = error.status == 403 or error.transient
        return await _blocked(ctx, body, resource, why, "blocked", changes, refused=failing)
    template = ((deployment or {}).get("spec") or {}).get("template") or {}
    previous_status = body.get("status") or {}
    seen = status.scaled_since_ready(status.rollout_of(deployment), previous_status, deployment, meta.get("generation"))
    rollout = _held_back(ctx, key, deployment, seen)
    told = pods.told(((body.get("status") or {}).get("conditions") or []), meta.get("generation"))
    trouble = await _why_not_ready(ctx, key, deployment, rollout, told=told) if deployment is not None else None
    return await _conclude(
        ctx,
        body,
        conditions.applied(rollout, trouble),
        deployment,
        "converged",
        changes=changes,
        advice=events.for_unadmitted_ingress(changes, render.unadmitted_ingress(resource)),
        learnt=status.Learnt(
            url=status.service_url(resource.name, resource.namespace, resource.spec.service.port),
            ingress_url=resource.spec.ingress.url if resource.spec.ingress is not None else None,
            config_hash=((template.get("metadata") or {}).get("annotations") or {}).get(render.CONFIG_HASH_ANNOTATION),
        ),
    )


async def _judge_claim(ctx: Context, holder: str, namespace: str) -> ClaimJudgement:
    """Whether another instance's claim still holds, by its Lease, read now. Only an instance
    running with leader election judges (it holds a Lease itself, so its own claims can be judged
    in turn; two instances without one would take a resource from each other forever); a Lease it
    may not read (403: another namespace) tells nothing, and a failure worth a retry is raised."""
    where = claimant_lease(holder)
    if not ctx.settings.leader_election:
        return ClaimJudgement("cannot tell", "this instance runs without leader election, so it judges no claim")
    if where is None:
        return judge_claim(holder, None, ctx.now(), namespace=namespace)
    lease: LeaseLookup
    try:
        lease = await ctx.api.get(kinds.LEASE, *where)
    except ApiError as error:
        if error.transient:
            raise
        lease = "forbidden"
    return judge_claim(holder, lease, ctx.now(), namespace=namespace)


async def _claim(ctx: Context, body: Mapping[str, Any]) -> Mapping[str, Any] | Outcome:
    """Claim the resource (``status.operator``) before anything else is written, only if it did not
    change since it was read: of two instances claiming at once, the second is refused (409) and,
    on its retry, finds the first's claim, having written no child. The resource as written, or how
    the reconcile ends. A refusal of another kind is left to the status write that ends the
    reconcile, which claims too (guarded alike) and says what went wrong."""
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    if not meta.get("resourceVersion"):
        return body
    sent = {"status": {"operator": ctx.settings.identity}}
    try:
        written = await ctx.api.patch(
            kinds.AGENTOS_CONFIG,
            *key,
            {"metadata": {"resourceVersion": meta["resourceVersion"]}, **sent},
            subresource="status",
            field_manager=ctx.settings.field_manager,
        )
    except ApiNotFoundError:
        return Outcome("gone")
    except ApiConflictError:
        return _claim_refused(ctx, key)
    except ApiError as error:
        if error.transient:
            raise
        ctx.logger.debug("%s/%s: claiming it failed, left to its status write: %s", *key, error)
        return body
    ctx.store.wrote(kinds.AGENTOS_CONFIG, written, sent=sent, owner=key)
    await _tell_taken_over(ctx, body)
    return written


def _claim_refused(ctx: Context, key: tuple[str, str], changes: Sequence[Change] = ()) -> Outcome:
    """A claim refused as the resource changed since it was read (perhaps another instance's claim):
    retried soon, as a blocked reconcile, quietly (nothing is wrong), when the change says whose it is."""
    why = "the resource changed while this operator instance claimed it: reconciled again"
    ctx.logger.info("%s/%s: %s", *key, why)
    return Outcome("blocked", why, "Unknown", tuple(changes))


async def _tell_taken_over(ctx: Context, body: Mapping[str, Any]) -> None:
    """Once a claim of this instance replaced a stale one, one Normal TakenOver event says so."""
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    taken = ctx.taking_over.pop(key, None)
    if taken is not None and (body.get("status") or {}).get("operator") == taken[0]:
        message = taken_over_message(taken[0], ctx.settings.identity, taken[1])
        ctx.logger.info("%s/%s: %s", *key, message)
        await _post(ctx, body, [events.Notice("Normal", conditions.TAKEN_OVER, message)])


async def _stand_aside(ctx: Context, body: Mapping[str, Any], holder: str, judged: ClaimJudgement) -> Outcome:
    """Another operator instance (``holder``) serves the resource: nothing is written, neither its
    children nor its status (which is the holder's to write: two writers of ``Ready`` would fight
    over it as they did over the children), and one Warning says so, once per holder (and again
    before the API server drops it: ``tell_elsewhere``)."""
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    message = managed_elsewhere_message(*key, holder, ctx.settings.identity, judged)
    now = ctx.monotonic()
    if tell_elsewhere(ctx.elsewhere_told.get(key), holder, now):
        await _post(ctx, body, [events.Notice("Warning", conditions.MANAGED_ELSEWHERE, message)])
        ctx.elsewhere_told[key] = (holder, now)
    return Outcome("elsewhere", message, "Unknown")


def _held_back(
    ctx: Context, key: tuple[str, str], deployment: Mapping[str, Any] | None, rollout: conditions.Rollout | None
) -> conditions.Rollout | None:
    """The rollout without a refusal of its pods that Kubernetes is about to clear by itself
    (``pods.settling_refusal``), looked at again once its grace is over."""
    if deployment is None or rollout is None or rollout.obstacle is None:
        return rollout
    wait = pods.settling_refusal(deployment, now=ctx.now(), grace=ctx.settings.pods_grace_seconds)
    if wait is None:
        return rollout
    ctx.recheck(key, wait)
    deadline = rollout.obstacle.deadline
    return replace(rollout, obstacle=None if deadline is None else conditions.Obstacle(None, deadline))


# Said after a failure that lasted the grace but may still pass on its own.
TRANSIENT_NOTE = ": still retried with backoff; it may pass on its own (an admission webhook or the API server back)"


def _failing_for_now(ctx: Context, key: tuple[str, str], error: ApiError) -> bool:
    """Whether a failure that may pass on its own is retried before it is reported: a 403 (an API
    server that just started refuses every request until its authorizer has read the RBAC
    objects, for a few seconds), or a transient one (a 5xx: an admission webhook that does not
    answer, an API server overloaded; 429; 409). Failures lasting ``failure_grace_seconds`` in a
    row are reported: ApplyFailed, the operator's permissions' doing for a 403; still retried."""
    if error.status != 403 and not error.transient:
        return False
    first = ctx.failing_since.setdefault(key, ctx.monotonic())
    return ctx.monotonic() - first < ctx.settings.failure_grace_seconds


def _refused_for_now(ctx: Context, key: tuple[str, str], error: ApiError) -> RefusedForNowError:
    waited = ctx.monotonic() - ctx.failing_since[key]
    return RefusedForNowError(error, waited=waited, grace=ctx.settings.failure_grace_seconds)


async def _converge(
    resource: AgentOSResource,
    ctx: Context,
    changes: list[Change],
    *,
    reconciled_before: bool,
    seen_before: bool,
    edited: bool,
) -> dict[str, Any] | None:
    """Secrets and mounted ConfigMaps, render, apply, prune: the writes of a valid, unpaused resource; returns the Deployment.

    ``reconciled_before``: the resource has a status, so perhaps a Deployment the watch has yet to list.
    ``edited``: its spec changed since its last reconcile (``_desired``).
    ``seen_before``: it has any status, a claim at least, so its
    children may have been made by an earlier reconcile: one made anew first confirms the resource
    is not being deleted.
    """
    api, store, manager = ctx.api, ctx.store, ctx.settings.field_manager
    owner = (resource.namespace, resource.name)
    manifests, key = await _desired(resource, ctx, reconciled_before=reconciled_before, edited=edited)
    if resource.spec.uses_sqlite and resource.spec.persistence.storage_class_name is not None:
        claim = render.data_claim_name(resource.name)
        held = await store.get(kinds.PERSISTENT_VOLUME_CLAIM, resource.namespace, claim, confirm_absence=False)
        if problems := render.claim_class_problems(resource, held):
            raise ChildChangeRefusedError(problems)
    try:
        live = await apply_children(
            api,
            store,
            manifests,
            owner=owner,
            owner_uid=resource.uid,
            field_manager=manager,
            changes=changes,
            created_once=[key.to_create] if key is not None and key.to_create is not None else [],
            orphans=[("Secret", render.generated_security_key_name(resource.name))] if key and key.orphaned else [],
            # A child made anew for a resource reconciled before may be one the garbage collector
            # just took in the resource's own deletion, which the watch has yet to tell.
            before_making=functools.partial(_confirm_not_deleting, resource, ctx) if seen_before else None,
        )
    except ChildRejectedError as error:
        # The server's words name its own field paths (``spec.LoadBalancerSourceRanges[0]``); the
        # offline checks name the resource's field to change, where they find the same fault.
        def fields(refusal: ChildRejectedError) -> list[str]:
            key = (refusal.kind, refusal.name)
            refused = [m for m in manifests if (m.get("kind"), m["metadata"].get("name")) == key]
            problems = render.check_manifests(resource, refused)
            if refusal.kind == "PersistentVolumeClaim":
                problems += render.claim_change_problems(resource, refusal.live)
            return [str(problem) for problem in problems]

        raise error.naming_each(fields) from None
    changes += await prune_children(api, store, owner=owner, owner_uid=resource.uid, desired=manifests)
    return live.get("Deployment")


async def _confirm_not_deleting(resource: AgentOSResource, ctx: Context) -> None:
    """Raise ``ResourceDeletingError`` unless the API server holds the resource, not being deleted.

    Asked before a child of a resource reconciled before is created or adopted: its deletion, or
    its ownerReference's removal, may be the garbage collector's, carrying out the resource's own
    deletion (foreground, or orphaning its children), whose news has not reached this operator
    yet: the watches of different kinds keep no order between them.
    """
    live = await ctx.api.get(kinds.AGENTOS_CONFIG, resource.namespace, resource.name)
    meta = (live or {}).get("metadata") or {}
    if live is None or meta.get("deletionTimestamp") or (resource.uid and meta.get("uid") != resource.uid):
        raise ResourceDeletingError(f"{resource.namespace}/{resource.name} is being deleted")


async def _desired(
    resource: AgentOSResource, ctx: Context, *, reconciled_before: bool, edited: bool = False
) -> tuple[list[dict[str, Any]], SecurityKey | None]:
    """The children as the spec renders them now, and the generated security key (None when the
    spec names its own). Reads only: the Secrets and ConfigMaps the spec references (raising
    when one is missing), and the running Deployment, whose pod template revision is kept.
    ``edited``: a spec changed since it was last reconciled, whose Secrets are read fresh
    (``read_secret_values``)."""
    store = ctx.store
    refs = render.required_secret_refs(resource)
    generated = render.security_key_ref(resource) if resource.spec.security_key_secret_ref is None else None
    # The Secrets the spec names first: one missing stops the reconcile before anything is
    # written. The generated key, when new, is created with the children, past their dry runs.
    values = await read_secret_values(
        store,
        resource.namespace,
        [ref for ref in refs if ref != generated],
        mounted=render.mounted_secret_refs(resource),
        named_by=render.secret_referrers(resource),
        fresh=edited,
    )
    key = await security_key(store, resource)
    if key is not None and generated is not None:
        values[generated] = key.value
    mounted = await read_config_map_digests(
        store,
        resource.namespace,
        render.required_config_maps(resource),
        named_by=render.config_map_referrers(resource),
    )
    # The pods' template is kept at the revision it was rendered at (``render.render``): a
    # resource reconciled before has a Deployment, read from the API when the watch has not
    # listed it yet (just after a start), so that an operator upgrade restarts no pod.
    running = await store.get(kinds.DEPLOYMENT, resource.namespace, resource.name, confirm_absence=reconciled_before)
    manifests = render.render(
        resource,
        values,
        settings=render.RenderSettings(
            default_image=ctx.settings.runtime_image, fixed_user_ids=ctx.settings.runtime_fixed_user_ids
        ),
        mounted=mounted,
        live_deployment=running if running is not None and may_manage(running, resource.name, resource.uid) else None,
    )
    return manifests, key


def _unrendered(
    error: UnresolvedSecretsError | MissingSecretsError | SecretsTooLargeError | UnresolvedConfigMapsError,
) -> tuple[str, str]:
    """The (reason, message) of a spec that cannot be rendered for what it references."""
    if isinstance(error, UnresolvedSecretsError):
        return error.reason, str(error)
    if isinstance(error, MissingSecretsError):
        return conditions.SECRET_KEY_MISSING, str(error)
    if isinstance(error, SecretsTooLargeError):
        return conditions.SECRET_TOO_LARGE, str(error)
    reason = conditions.CONFIG_MAP_NOT_FOUND if error.missing_config_maps else conditions.CONFIG_MAP_KEY_MISSING
    return reason, str(error)


async def _unapplied(
    resource: AgentOSResource, ctx: Context, *, reconciled_before: bool
) -> tuple[str | None, tuple[str, str] | None]:
    """What unpausing a paused resource would change, said briefly (None when nothing), and why
    the spec cannot be rendered when it cannot (``_unrendered``; None when it can).

    The spec is rendered as a reconcile would, without a write, and each child compared as
    ``apply_children`` and ``prune_children`` would (``unapplied_children``): each child
    records the digest of the manifest it was applied from, so an edit made while paused
    differs, and so does a child someone changed or deleted by hand. A spec that cannot be
    rendered (a Secret gone) is said so: unpausing would not apply it either.
    """
    try:
        manifests, key = await _desired(resource, ctx, reconciled_before=reconciled_before)
    except (UnresolvedSecretsError, MissingSecretsError, SecretsTooLargeError, UnresolvedConfigMapsError) as error:
        return f"it cannot be rendered: {error}", _unrendered(error)
    differing = await unapplied_children(
        ctx.store, manifests, owner=(resource.namespace, resource.name), owner_uid=resource.uid
    )
    if key is not None and key.to_create is not None:
        differing.append(("Secret", render.generated_security_key_name(resource.name)))
    return describe_unapplied(differing), None


async def _why_not_ready(
    ctx: Context,
    key: tuple[str, str],
    deployment: Mapping[str, Any],
    rollout: conditions.Rollout | None,
    *,
    told: conditions.PodTrouble | None,
) -> conditions.PodTrouble | None:
    """Why the pods of a rollout that is not done are not ready, once they could have been (or
    the status already ``told`` why: ``pods.told``); and a look again later. None while there is
    nothing to look at, or the pods say nothing of it.

    Not looked at: a Deployment whose latest spec its controller has not seen (its own events
    wake the resource), or whose pods the cluster refuses to create (they do not exist).
    """
    if rollout is None or rollout.done or not rollout.current:
        return None
    if rollout.obstacle is not None and rollout.obstacle.pods_refused is not None:
        return None
    settings = ctx.settings
    now = ctx.now()
    look = pods.when_to_look(
        deployment,
        now=now,
        grace=settings.pods_grace_seconds,
        longest=settings.error_retry_max_seconds,
        told=told is not None,
    )
    ctx.recheck(key, look.again_in)
    if not look.now:
        return None
    try:
        states = await _unready_pods(ctx, key[0], rollout.selector, pods.newest_replica_set(deployment))
    except ApiError as error:
        # The status then says how many pods are ready, as it would without the look.
        ctx.logger.warning("could not list the pods of %s/%s to say why they are not ready: %s", *key, error)
        return None
    return pods.diagnose(states, now=now, grace=settings.pods_grace_seconds, selector=rollout.selector, told=told)


async def _unready_pods(ctx: Context, namespace: str, selector: str, replica_set: str | None) -> list[pods.PodState]:
    """The pods ``selector`` selects that are not ready (of ``replica_set``, the newest, when
    known: ``pods.newest_replica_set``), as ``diagnose`` reads them: pages of
    ``pods.SAMPLE`` until as many are found, the list ends, or ``pods.PAGES`` pages were read.
    Only what ``diagnose`` reads is kept, and nothing past this reconcile."""
    found: list[pods.PodState] = []
    token: str | None = None
    for _ in range(pods.PAGES):
        page = await ctx.api.list_metadata(
            kinds.POD,
            namespace,
            limit=pods.SAMPLE,
            continue_token=token,
            label_selector=selector or None,
            whole=True,
        )
        found += pods.unready(page.get("items") or [], replica_set=replica_set)
        token = (page.get("metadata") or {}).get("continue") or None
        if len(found) >= pods.SAMPLE or token is None:
            break
    return found[: pods.SAMPLE]


async def _deployment(ctx: Context, namespace: str, name: str) -> dict[str, Any] | None:
    return await ctx.store.get(kinds.DEPLOYMENT, namespace, name)


async def _blocked(
    ctx: Context,
    body: Mapping[str, Any],
    resource: AgentOSResource,
    why: tuple[str, str],
    verdict: Verdict,
    changes: Sequence[Change],
    *,
    refused: bool = False,
) -> Outcome:
    """Report a reconcile stopped for ``why`` (reason, message), with the writes made before it
    stopped, and whether the pods of the Deployment as it was still serve; ``refused``: by 403s
    past the grace, which go on being timed."""
    found = await _deployment(ctx, resource.namespace, resource.name)
    serving = status.previous_pods_serve(found, resource.uid)
    blocked = conditions.blocked(*why, serving=serving)
    return await _conclude(ctx, body, blocked, found, verdict, changes=changes, refused=refused)


async def _conclude(
    ctx: Context,
    body: Mapping[str, Any],
    new_conditions: Sequence[conditions.Condition],
    deployment: Mapping[str, Any] | None,
    verdict: Verdict,
    *,
    changes: Sequence[Change] = (),
    advice: Sequence[events.Notice] = (),
    learnt: status.Learnt | None = None,
    refused: bool = False,
) -> Outcome:
    """Write the status if it changed and post the events the reconcile deserves.

    A status write the authorizer refuses (403) is retried quietly as long as any 403
    (``_failing_for_now``), then told in one Warning, as the status cannot say it. A reconcile
    that concludes with its status written (or already so), unless ``refused`` (its writes were
    refused 403 past the grace: ApplyFailed), ends a row of 403s.
    """
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    previous = body.get("status") or {}
    before = previous.get("conditions") or []
    merged = conditions.merge(before, new_conditions, now=ctx.clock(), generation=meta.get("generation"))
    new_status = status.build(
        previous=previous,
        owner=(meta["name"], meta["namespace"]),
        generation=meta.get("generation"),
        conditions=merged,
        deployment=deployment,
        learnt=learnt,
        operator=ctx.settings.identity,
    )
    # The Events telling the children's writes go out with the status, not after it: they tell
    # writes made, whatever becomes of the status. The Ready condition's move is told once the
    # status holds it (a status not written is tried again, and would tell it twice).
    told = [*events.for_changes(changes), *advice]
    if previous.get("configHash"):  # the children were applied before: the server ran with a key
        told += events.for_regenerated_key(changes, render.generated_security_key_name(meta["name"]))
    if status.changed(previous, new_status):
        sent = {"status": status.patch(previous, new_status)}
        # A status write still claiming the resource (``_claim``'s write failed otherwise) is
        # guarded as that one: only if no one changed the resource since it was read.
        claiming = previous.get("operator") != ctx.settings.identity and bool(meta.get("resourceVersion"))
        precondition = {"metadata": {"resourceVersion": meta["resourceVersion"]}} if claiming else {}
        patching = ctx.api.patch(
            kinds.AGENTOS_CONFIG,
            meta["namespace"],
            meta["name"],
            {**precondition, **sent},
            subresource="status",
            field_manager=ctx.settings.field_manager,
        )
        written, _ = await asyncio.gather(patching, _post(ctx, body, told), return_exceptions=True)
        if isinstance(written, ApiNotFoundError):
            return Outcome("gone")
        if claiming and isinstance(written, ApiConflictError):
            return _claim_refused(ctx, key, changes)
        if isinstance(written, ApiError) and written.unauthorized:
            return await _status_forbidden(ctx, body, written, changes)
        if isinstance(written, ApiError) and not written.transient:
            # The API server will not store this status (the resource is at etcd's size limit):
            # said in an Event, which is stored apart; the next edit of the resource tries again.
            why = f"the status cannot be written: {written.detail or written.reason}: make the spec smaller"
            if ctx.status_refused_told.get(key) != why:
                await _post(ctx, body, [events.Notice("Warning", conditions.STATUS_REFUSED, why)])
                ctx.status_refused_told[key] = why
            return Outcome("invalid", why, "Unknown", tuple(changes))
        if isinstance(written, BaseException):
            raise written
        ctx.store.wrote(kinds.AGENTOS_CONFIG, written, sent=sent, owner=(meta["namespace"], meta["name"]))
        if claiming:
            await _tell_taken_over(ctx, body)
    else:
        await _post(ctx, body, told)
    if not refused:
        ctx.failing_since.pop(key, None)
    ctx.status_forbidden_told.discard(key)
    ctx.status_refused_told.pop(key, None)
    moved = events.for_transition(before, merged)
    await _post(ctx, body, moved)
    notices = [*(notice for notice in told if notice not in advice), *moved]  # advice is not why it ended so
    ready = conditions.find(merged, conditions.READY) or {}
    message = next((n.message for n in notices if n.type == "Warning"), "")
    return Outcome(
        verdict, message or str(ready.get("message", "")), str(ready.get("status", "Unknown")), tuple(changes)
    )


async def _status_forbidden(
    ctx: Context, body: Mapping[str, Any], error: ApiError, changes: Sequence[Change]
) -> Outcome:
    """A status write the authorizer refused: retried quietly within the grace, then told once in a
    Warning (the status cannot hold it) and retried with backoff, as any blocked reconcile."""
    key = (body["metadata"]["namespace"], body["metadata"]["name"])
    if _failing_for_now(ctx, key, error):
        raise _refused_for_now(ctx, key, error) from error
    why = f"the status cannot be written: {error.detail or error.reason}: {FORBIDDEN_REMEDY}"
    if key not in ctx.status_forbidden_told:
        await _post(ctx, body, [events.Notice("Warning", conditions.STATUS_REFUSED, why)])
        ctx.status_forbidden_told.add(key)
    return Outcome("blocked", why, "Unknown", tuple(changes))


async def _post(ctx: Context, body: Mapping[str, Any], notices: Sequence[events.Notice]) -> None:
    await events.post(
        ctx.api,
        notices,
        involved=body,
        now=ctx.clock(),
        instance=ctx.instance,
        field_manager=ctx.settings.field_manager,
        logger=ctx.logger,
    )
