"""The child objects of one ``AgentOSConfig``: apply the desired ones, prune the ones no longer desired.

A child is written only when it drifted (``drift.drifted``) from what the store holds, with
server-side apply under the operator's field manager, so fields other managers own (an
autoscaler's ``replicas``) are left to them. A child is pruned only when its controller owner
reference names this resource's uid; labels alone could be copied by anyone.
PersistentVolumeClaims are never pruned: they hold data, and go with the resource itself.
Neither are Secrets (see ``PRUNED_KINDS``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from agentos_operator import drift, restoring
from agentos_operator.errors import OperatorError
from agentos_operator.kube import kinds
from agentos_operator.kube.client import ApiClient, ApiConflictError, ApiError, ApiNotFoundError
from agentos_operator.kube.store import Store
from agentos_operator.ownership import (
    INSTANCE,
    MANAGED_BY,
    OPERATOR_NAME,
    being_collected,
    controller_uid,
    may_manage,
)

# Secrets are not listed: render always wants the `<name>-env` Secret and the generated key is
# never deleted, so no Secret is ever pruned, and the operator can run with get-only access to
# Secrets (the chart's `clusterWideSecretWatch: false`).
PRUNED_KINDS = (
    kinds.CONFIG_MAP,
    kinds.SERVICE,
    kinds.DEPLOYMENT,
    kinds.HORIZONTAL_POD_AUTOSCALER,
    kinds.POD_DISRUPTION_BUDGET,
    kinds.NETWORK_POLICY,
    kinds.INGRESS,
    kinds.POD_MONITOR,
)
Key = tuple[str, str]
T = TypeVar("T")
ACTING_ON_THE_DEPLOYMENT = (kinds.HORIZONTAL_POD_AUTOSCALER, kinds.POD_DISRUPTION_BUDGET)
# Written alongside the waves, waited on by none of them: the pods need no Service to start
# (the Deployment turns off service links), and the API server takes longest over a Service
# (it allocates its cluster IP): on a real control plane, about four times as long as any
# other child, which the Deployment would otherwise wait for. Nor does a pod need the Ingress,
# which an ingress controller's admission webhook may hold up as long, nor the PodMonitor.
WRITTEN_ALONGSIDE = (kinds.SERVICE, kinds.INGRESS, kinds.POD_MONITOR)
# How often the ownership patch of ``_restored`` is tried on an object that keeps changing under it.
_TAKE_BACK_ATTEMPTS = 3
# What a person may delete for the operator to make it again as rendered: no data goes with it.
MADE_AGAIN = frozenset(kind.kind for kind in PRUNED_KINDS)


@dataclass(frozen=True)
class Change:
    """One write made to a child; ``taken_back``, of one ``restored``: the items another client
    had re-keyed by hand, which it no longer holds (``restoring``)."""

    action: Literal["created", "updated", "restored", "pruned"]
    kind: str
    name: str
    taken_back: tuple[str, ...] = ()


class ChildRejectedError(OperatorError):
    """The API server would refuse a child as rendered: the spec must change, retrying cannot help.

    ``live``: the child as it exists (None when it does not), whose fields may tell what the
    spec changed that cannot change (``render.claim_change_problems``). ``held``: refused by
    the dry runs, so no child was written. ``made_again``: the child is this resource's own
    and of a kind that holds no data, so deleting it is a fix too (it may have been changed by
    another client), said when no spec field is found at fault. ``taken_back``: what another
    client had re-keyed in it, taken back to no avail (``restoring``). ``others``: the other
    children the same dry runs refused, told in the same message (``refusal`` is this one's part).
    A namespace's ResourceQuota exceeded (``ApiError.quota``) is not the spec's fault alone: the
    fix said is to raise that quota (``quota_fix``).
    """

    def __init__(
        self,
        kind: str,
        name: str,
        error: ApiError,
        *,
        fields: Sequence[str] = (),
        live: Mapping[str, Any] | None = None,
        held: bool = False,
        made_again: bool = False,
        taken_back: Sequence[str] = (),
        others: Sequence[ChildRejectedError] = (),
    ) -> None:
        self.kind = kind
        self.name = name
        self.error = error
        self.status = error.status
        self.live = live
        self.held = held
        self.made_again = made_again
        self.taken_back = tuple(taken_back)
        self.others = tuple(others)
        self.fields = tuple(fields)
        self.detail = in_fixed_order(first_line(error.detail))
        fix = "fix " + ("; ".join(fields) if fields else "the spec")
        if error.quota is not None:
            fix = quota_fix(error.quota, error.detail) + (f"; or fix {'; '.join(fields)}" if fields else "")
        elif made_again and not fields:
            fix += f", or delete {kind} '{name}' to have it made again (another client may have changed it)"
        again = f" even with what another client changed in it taken back ({', '.join(self.taken_back)})"
        self.refusal = f"the API server refuses {kind} '{name}'{again if self.taken_back else ''}"
        self.refusal += f": {self.detail or error.reason}: {fix}"
        told = "; ".join([self.refusal, *(other.refusal for other in self.others)])
        super().__init__(told + ("; until then no child is written" if held else ""))

    @property
    def refusals(self) -> tuple[ChildRejectedError, ...]:
        """This refusal and the others the same dry runs found, each on its own."""
        return (self, *self.others)

    def naming_each(self, find: Callable[[ChildRejectedError], Sequence[str]]) -> ChildRejectedError:
        """The same refusals, each one's fix the spec's fields ``find`` gives for it (``naming``)."""
        others = [other.naming(find(other)) for other in self.others]
        named = self.naming(find(self))
        if named is self and all(o is p for o, p in zip(others, self.others, strict=True)):
            return self
        return ChildRejectedError(
            named.kind,
            named.name,
            named.error,
            fields=named.fields,
            live=named.live,
            held=named.held,
            made_again=named.made_again,
            taken_back=named.taken_back,
            others=others,
        )

    def naming(self, fields: Sequence[str]) -> ChildRejectedError:
        """The same refusal, its fix the spec's ``fields`` (``spec.<path>: why``, found offline) where there are any."""
        if not fields:
            return self
        return ChildRejectedError(
            self.kind,
            self.name,
            self.error,
            fields=fields,
            live=self.live,
            held=self.held,
            made_again=self.made_again,
            taken_back=self.taken_back,
            others=self.others,
        )


# What each kind of quantity a quota counts is set by in the spec, for the fix a quota's refusal
# says beside raising the quota (the rest, object counts, only the quota can allow).
_QUOTA_FIELDS = (
    (re.compile(r"(?:^|[,\s])(?:[a-z0-9.-]+/)?requests\.storage="), "spec.persistence.size"),
    (re.compile(r"(?:^|[,\s])(?:requests\.|limits\.)?(?:cpu|memory|ephemeral-storage)="), "spec.resources"),
)


def quota_fix(quota: str, detail: str) -> str:
    """Pure: what a refusal by the namespace's ResourceQuota ``quota`` asks of a person: raise it
    (the spec itself may be fine), or lower what the spec asks for of what the quota counts."""
    requested = detail.partition("requested: ")[2].partition(", used: ")[0]
    lower = [field for pattern, field in _QUOTA_FIELDS if pattern.search(requested)]
    fix = f"raise the namespace's ResourceQuota '{quota}' (kubectl describe resourcequota {quota})"
    return fix + (f", or lower {' and '.join(lower)}" if lower else "")


class KindNotServedError(OperatorError):
    """A child of an optional kind (``kinds.Kind.optional``) the API server does not serve: its
    CustomResourceDefinition is not installed. Found by the dry runs, so nothing is written (or,
    the CRD removed since, by the write itself); the cluster or the spec must change."""

    def __init__(self, kind: kinds.Kind, name: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(
            f"the API server does not serve {kind.kind} ({kind.api_version}) for {kind.kind} '{name}':"
            " its CustomResourceDefinition is not installed"
        )


def _not_served(kind: kinds.Kind, answer: object) -> bool:
    """Whether an answer about a child of ``kind`` says its kind is not served (a 404 for an optional kind)."""
    return kind.optional and isinstance(answer, ApiNotFoundError)


def first_line(detail: str) -> str:
    """Pure: the first line of the server's message; the lines after it are a Go struct diff
    (an immutable field changed), which names Go fields no reader of the spec knows."""
    return detail.split("\n", 1)[0].rstrip()


# The API server lists several field errors as ``<object> is invalid: [<error>, <error>]``, in an
# order that changes from one answer to the next; each error begins with its field's path.
_ERROR_LIST = re.compile(r"(?P<head>.*?: )\[(?P<errors>.*)\]", re.DOTALL)
_NEXT_ERROR = re.compile(r", (?=[a-z][A-Za-z0-9]*(?:\[[0-9]+\])?[.:\[])")


def in_fixed_order(detail: str) -> str:
    """Pure: the server's message with its list of field errors sorted, so a refusal repeated on
    a retry reads the same (a status written and a Warning event sent only when it changed)."""
    listed = _ERROR_LIST.fullmatch(detail)
    if listed is None:
        return detail
    errors = sorted(_NEXT_ERROR.split(listed["errors"]))
    return f"{listed['head']}[{', '.join(errors)}]"


@dataclass(frozen=True)
class CreatedOnce:
    """A child created when missing and never written again (the generated security key: a new
    one would log every client out). ``conflict_fix`` is what the refusal of a name someone else
    holds advises."""

    manifest: dict[str, Any]
    conflict_fix: str = "rename or delete it"


class ChildConflictError(OperatorError):
    """A child's name is taken by an object this resource does not own; it is left untouched."""

    def __init__(self, kind: str, name: str, *, fix: str = "rename or delete it") -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"{kind} '{name}' exists and is not owned by this AgentOSConfig: {fix}")


class ChildBeingRemovedError(OperatorError):
    """A child's name is held by an object the garbage collector is removing (``being_collected``:
    a previous resource's of this name, or one being deleted); waited for, nothing written.
    ``finalizers``: those the object being deleted still waits for, named so that one that is
    never removed (its controller gone) can be found."""

    def __init__(self, kind: str, name: str, finalizers: Sequence[str] = ()) -> None:
        self.kind = kind
        self.name = name
        waits = f" (it waits for its finalizers {', '.join(repr(f) for f in finalizers)})" if finalizers else ""
        super().__init__(
            f"{kind} '{name}' of a previous AgentOSConfig of this name (or being deleted) is being removed by the"
            f" garbage collector{waits}: it is made anew once that is done"
        )


def refuse_unmanaged(
    live: Mapping[str, Any] | None, kind: str, name: str, owner_name: str, owner_uid: str | None, *, fix: str
) -> None:
    """Raise when this resource may not write ``live``: ``ChildBeingRemovedError`` while the
    object is on its way out by itself, else ``ChildConflictError`` advising ``fix``."""
    if live is None or may_manage(live, owner_name, owner_uid):
        return
    if being_collected(live, owner_name, owner_uid):
        meta = live.get("metadata") or {}
        waiting_for = [str(f) for f in meta.get("finalizers") or []] if meta.get("deletionTimestamp") else []
        raise ChildBeingRemovedError(kind, name, waiting_for)
    raise ChildConflictError(kind, name, fix=fix)


# What the OwnerReferencesPermissionEnforcement admission plugin answers to an owner reference
# set by someone who may not delete the object.
OWNER_REFERENCE_REFUSED = "cannot set an ownerRef on a resource you can't delete"


class OrphansNotAdoptableError(ChildConflictError):
    """Children of ours left without an owner (their resource deleted with ``--cascade=orphan``),
    which the API server does not let the operator adopt: a person must delete them or own them."""

    def __init__(self, children: Sequence[tuple[str, str]], owner_uid: str | None) -> None:
        self.children = tuple(children)
        self.kind, self.name = children[0]
        named = ", ".join(f"{kind} '{name}'" for kind, name in children)
        one = len(children) == 1
        owner = f"this AgentOSConfig (uid {owner_uid})" if owner_uid else "this AgentOSConfig"
        OperatorError.__init__(
            self,
            f"{named} {'is' if one else 'are'} labelled as this AgentOSConfig's but {'has' if one else 'have'}"
            " no owner (left by a deletion with --cascade=orphan?), and the API server lets only who may"
            f" delete an object set its owner, which the operator may not: delete {'it' if one else 'them'}"
            f" (a claim with its data), or add {owner} as controller to {'its' if one else 'their'} ownerReferences",
        )


async def apply_children(
    api: ApiClient,
    store: Store,
    manifests: Sequence[Mapping[str, Any]],
    *,
    owner: Key,
    owner_uid: str | None,
    field_manager: str,
    changes: list[Change],
    created_once: Sequence[CreatedOnce] = (),
    orphans: Sequence[tuple[str, str]] = (),
    before_making: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Apply each drifted manifest, appending the writes made to ``changes``.

    Returns the live objects by kind (the last of each kind). Nothing is written when a child
    is someone else's (``ChildConflictError``), when the API server's dry run refuses one
    (``ChildRejectedError``) or does not serve its optional kind (``KindNotServedError``); a
    transient failure half-way leaves ``changes`` telling what was written before it.

    The dry runs go out together, then ``created_once`` (children the caller found missing,
    created and never updated: the generated key), then the writes in three waves (``_waves``):
    what the pods use or are held to, together; the Deployment once they are all written;
    then, together, what acts on the Deployment. The Service and the Ingress are written alongside the waves
    (``WRITTEN_ALONGSIDE``). A child of ours the dry run finds invalid is restored, once, where
    another client re-keyed its list items by hand (``_restored``); its write is then ``restored``. ``orphans`` (kind, name) are children of ours the
    caller found without an owner and never writes (the generated key): named with those the
    dry runs find so (``OrphansNotAdoptableError``). ``before_making`` is awaited once before
    the writes when one of them makes a child of this resource anew (creates it, or adopts one
    without an owner); raising, it stops the reconcile with nothing written.
    """
    planned: list[_Planned] = []
    for unstamped in manifests:
        manifest = drift.stamped(unstamped)
        kind = kinds.kind_of(manifest)
        meta = manifest["metadata"]
        # A child the store does not hold is not looked up: its dry run says whether it exists.
        live = await store.get(kind, meta["namespace"], meta["name"], confirm_absence=False)
        _check_owner(live, kind, meta["name"], owner, owner_uid)
        planned.append(_Planned(manifest, kind, live))
    drifted = [child for child in planned if child.live is None or drift.drifted(child.live, child.manifest)]
    # The API server judges every write first (a dry run stores nothing): a child it would refuse
    # (requests above limits, a bad CIDR, an over-size ConfigMap...) stops the reconcile before
    # the first real write, so a bad spec never leaves half of its children applied.
    answers = await _together(
        [api.apply(child.manifest, field_manager=field_manager, dry_run=True) for child in drifted]
        + [api.create(once.manifest, field_manager=field_manager, dry_run=True) for once in created_once]
    )
    for child, answer in zip(drifted, answers[: len(drifted)], strict=True):
        if _not_served(child.kind, answer):
            raise KindNotServedError(child.kind, child.manifest["metadata"]["name"])
    # Every refusal of the dry runs is told at once (nothing is written before they all pass):
    # the generated key's here, with the children's below.
    refused_once: list[ChildRejectedError] = []
    for once, answer in zip(created_once, answers[len(drifted) :], strict=True):
        try:
            await _check_creation(api, once, answer, owner, owner_uid)
        except ChildRejectedError as refusal:
            refused_once.append(refusal)
    answers = answers[: len(drifted)]
    for child, answer in zip(drifted, answers, strict=True):
        meta = child.manifest["metadata"]
        if child.live is None and _may_exist(answer):
            # Not in the store, yet perhaps there (unlabelled, not listed yet, or made again since
            # our delete): read from the API itself, so that someone else's object is found as
            # such, even where the dry run failed on it (an immutable field of theirs).
            child.live = await api.get(child.kind, meta["namespace"], meta["name"])
            _check_owner(child.live, child.kind, meta["name"], owner, owner_uid)
    unadoptable = [
        child for child, answer in zip(drifted, answers, strict=True) if _adoption_refused(child.live, answer)
    ]
    if unadoptable or orphans:
        named = [(c.kind.kind, c.manifest["metadata"]["name"]) for c in unadoptable]
        raise OrphansNotAdoptableError([*named, *orphans], owner_uid)
    # A refusal that no write of the operator's can mend stops the reconcile first; then each
    # child of ours refused as edited by another client is restored if it can be (``_restored``).
    mendable = [_mendable(child, answer, owner_uid) for child, answer in zip(drifted, answers, strict=True)]
    refusals = [
        _rejected(child, answer, owner_uid)
        for child, answer, mend in zip(drifted, answers, mendable, strict=True)
        if isinstance(answer, ApiError) and _refused(answer) and not mend
    ]
    _raise_together([*refusals, *refused_once])
    for answer, mend in zip(answers, mendable, strict=True):
        if isinstance(answer, BaseException) and not mend:
            raise answer
    for child, answer, mend in zip(drifted, answers, mendable, strict=True):
        if mend and isinstance(answer, ApiError):
            again = await _restored(api, child, answer, field_manager=field_manager)
            if isinstance(again, ApiError) and _refused(again):
                raise _rejected(child, again, owner_uid)
            if isinstance(again, BaseException):
                raise again
    to_write = [child for child in drifted if child.live is None or drift.drifted(child.live, child.manifest)]
    making = created_once or any(child.live is None or controller_uid(child.live) is None for child in to_write)
    if before_making is not None and making:
        await before_making()
    await _write_children(
        api,
        store,
        to_write,
        created_once,
        field_manager=field_manager,
        owner=owner,
        owner_uid=owner_uid,
        changes=changes,
    )
    live_by_kind: dict[str, dict[str, Any]] = {}
    for child in planned:
        if child.live is not None:
            live_by_kind[child.kind.kind] = child.live
    return live_by_kind


@dataclass
class _Planned:
    """A child as rendered and as the store (or, when the store lacked it, the API server) holds
    it; ``taken_back``: what another client had re-keyed in it, now the operator's (``_restored``)."""

    manifest: dict[str, Any]
    kind: kinds.Kind
    live: dict[str, Any] | None
    taken_back: tuple[str, ...] = ()


def _ours(child: _Planned, owner_uid: str | None) -> bool:
    """Whether the child exists and names this resource as its controller (labels could be anyone's)."""
    return child.live is not None and owner_uid is not None and controller_uid(child.live) == owner_uid


def _mendable(child: _Planned, answer: Mapping[str, Any] | BaseException, owner_uid: str | None) -> bool:
    """Whether a dry run's answer is a refusal a write of the operator's may mend: 422 (invalid)
    for an existing child of ours, which another client may have edited (``restoring``)."""
    return isinstance(answer, ApiError) and answer.status == 422 and _ours(child, owner_uid)


def _raise_together(refusals: Sequence[ChildRejectedError]) -> None:
    """Raise the dry runs' refusals as one, the first with the others (``ChildRejectedError.others``); none, nothing."""
    if not refusals:
        return
    first = refusals[0]
    raise ChildRejectedError(
        first.kind,
        first.name,
        first.error,
        live=first.live,
        held=True,
        made_again=first.made_again,
        taken_back=first.taken_back,
        others=refusals[1:],
    )


def _rejected(child: _Planned, refusal: ApiError, owner_uid: str | None) -> ChildRejectedError:
    """The refusal of the dry run of ``child``: no child is written."""
    return ChildRejectedError(
        child.kind.kind,
        child.manifest["metadata"]["name"],
        refusal,
        live=child.live,
        held=True,
        made_again=_ours(child, owner_uid) and child.kind.kind in MADE_AGAIN,
        taken_back=child.taken_back,
    )


async def _restored(
    api: ApiClient, child: _Planned, refusal: ApiError, *, field_manager: str
) -> Mapping[str, Any] | BaseException:
    """One attempt to have a refused child of ours applied again: the items another client
    re-keyed in it (``restoring.take_back``, read from the object as it is now) are made the
    operator's, which the apply then removes; the answer of a new dry run. The refusal itself
    when there is nothing to take back. The ownership is changed by a patch that fails (409,
    tried again) if the object changed since it was read; it changes no field of the object."""
    meta = child.manifest["metadata"]
    try:
        for attempt in range(_TAKE_BACK_ATTEMPTS):
            current = await api.get(child.kind, meta["namespace"], meta["name"])
            plan = restoring.take_back(current, child.manifest, field_manager) if current is not None else None
            if plan is None or current is None:
                return refusal
            ownership = {
                "metadata": {
                    "managedFields": plan.managed_fields,
                    "resourceVersion": current["metadata"]["resourceVersion"],
                }
            }
            try:
                await api.patch(child.kind, meta["namespace"], meta["name"], ownership, field_manager=field_manager)
            except ApiConflictError:
                # Changed since it was read (a Deployment's controller writes its status): read again.
                if attempt + 1 == _TAKE_BACK_ATTEMPTS:
                    raise
                continue
            child.taken_back = plan.taken
            return await api.apply(child.manifest, field_manager=field_manager, dry_run=True)
        return refusal
    except ApiError as error:
        return error


def _check_owner(
    live: Mapping[str, Any] | None, kind: kinds.Kind, name: str, owner: Key, owner_uid: str | None
) -> None:
    refuse_unmanaged(live, kind.kind, name, owner[1], owner_uid, fix="rename or delete it")


async def _check_creation(
    api: ApiClient, once: CreatedOnce, answer: Mapping[str, Any] | BaseException, owner: Key, owner_uid: str | None
) -> None:
    """Raise what a creation's failure means: someone else's object holding the name is a
    ``ChildConflictError``; one of ours made since the caller looked (another replica, an earlier
    attempt) is the 409 itself, transient: the retry reads it instead of creating it; a refusal
    is a ``ChildRejectedError``."""
    if not isinstance(answer, BaseException):
        return
    meta = once.manifest["metadata"]
    kind = kinds.kind_of(once.manifest)
    if isinstance(answer, ApiConflictError):
        live = await api.get(kind, meta["namespace"], meta["name"])
        refuse_unmanaged(live, kind.kind, meta["name"], owner[1], owner_uid, fix=once.conflict_fix)
    elif isinstance(answer, ApiError) and _refused(answer):
        raise ChildRejectedError(kind.kind, meta["name"], answer)
    raise answer


def _adoption_refused(live: Mapping[str, Any] | None, answer: Mapping[str, Any] | BaseException) -> bool:
    """Whether the dry run refused to make an orphan of ours (labelled, no owner) this resource's.

    The OwnerReferencesPermissionEnforcement admission plugin lets only whoever may delete an
    object set its owner references (403), and the operator deletes no Secret and no claim. The
    API server's words are kept from a Secret's refusal (they may quote it), so any 403 on an
    orphan is this one unless the words say otherwise.
    """
    if live is None or controller_uid(live) is not None or not isinstance(answer, ApiError):
        return False
    if answer.status != 403 or answer.transient:
        return False
    return not answer.detail or OWNER_REFERENCE_REFUSED in answer.detail


def _may_exist(answer: Mapping[str, Any] | BaseException) -> bool:
    """Whether a dry run's answer leaves the child possibly existing: an object it would create
    has no ``resourceVersion`` yet; a refusal may be an existing object's doing."""
    if isinstance(answer, BaseException):
        return _refused(answer)
    return bool((answer.get("metadata") or {}).get("resourceVersion"))


def _refused(error: BaseException) -> bool:
    """Whether a dry run's failure says the API server refuses the child (retrying cannot help).

    The authorizer's refusal (``ApiError.unauthorized``) is not the child's: the operator's
    grants are at fault, which the spec cannot fix. It is raised as it is, retried quietly for
    a while and then reported with where the grants come from (``reconcile._forbidden_for_now``).
    """
    return isinstance(error, ApiError) and not error.transient and not error.unauthorized


async def _create_once(
    api: ApiClient, store: Store, once: CreatedOnce, field_manager: str, owner: Key, owner_uid: str | None
) -> Change:
    try:
        created = await api.create(once.manifest, field_manager=field_manager)
    except ApiError as error:
        await _check_creation(api, once, error, owner, owner_uid)
        raise
    kind = kinds.kind_of(once.manifest)
    store.wrote(kind, created, sent=once.manifest, owner=owner)
    return Change("created", kind.kind, once.manifest["metadata"]["name"])


async def _write(api: ApiClient, store: Store, child: _Planned, field_manager: str, owner: Key) -> Change:
    action: Literal["created", "updated", "restored"] = "created" if child.live is None else "updated"
    if child.taken_back:
        action = "restored"
    if child.live is not None and child.kind.kind == "Deployment":
        await _hand_over_replicas(api, child, field_manager)
    result = await api.apply(child.manifest, field_manager=field_manager)
    foreign = drift.foreign_keys(result, child.manifest)
    if foreign:
        # Keys another manager set, which apply leaves: removed by a patch that fails (409, tried
        # again) if the object changed since the apply.
        meta = result["metadata"]
        removal: dict[str, Any] = {field: dict.fromkeys(keys) for field, keys in foreign.items()}
        removal["metadata"] = {"resourceVersion": meta["resourceVersion"]}
        result = await api.patch(child.kind, meta["namespace"], meta["name"], removal, field_manager=field_manager)
    store.wrote(child.kind, result, sent=child.manifest, owner=owner)
    child.live = result
    return Change(action, child.kind.kind, child.manifest["metadata"]["name"], child.taken_back)


async def _hand_over_replicas(api: ApiClient, child: _Planned, field_manager: str) -> None:
    """Before the Deployment's apply that stops setting ``spec.replicas`` (autoscaling turned on),
    have ``restoring.REPLICAS_HANDOVER_MANAGER`` apply the replicas it runs now, read from the
    API (``restoring.replicas_to_hand_over``), so the field keeps its value until the autoscaler
    takes it instead of falling back to 1 pod."""
    if "replicas" in (child.manifest.get("spec") or {}):
        return
    meta = child.manifest["metadata"]
    current = await api.get(child.kind, meta["namespace"], meta["name"])
    replicas = restoring.replicas_to_hand_over(current, child.manifest, field_manager) if current else None
    if replicas is None:
        return
    held = {
        "apiVersion": child.manifest["apiVersion"],
        "kind": "Deployment",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "spec": {"replicas": replicas},
    }
    await api.apply(held, field_manager=restoring.REPLICAS_HANDOVER_MANAGER)


async def _write_children(
    api: ApiClient,
    store: Store,
    to_write: Sequence[_Planned],
    created_once: Sequence[CreatedOnce],
    *,
    field_manager: str,
    owner: Key,
    owner_uid: str | None,
    changes: list[Change],
) -> None:
    """Create ``created_once``, then write ``to_write``: the waves (``_waves``) one after the
    other; alongside them what nothing waits on (``WRITTEN_ALONGSIDE``).

    Every write started is awaited, whatever fails: the writes made are appended to ``changes``
    (``created_once`` first, then in the order of ``to_write``, whichever finished first), then
    the first failure is raised, the waves' before the others'.
    """
    place = {id(child): index for index, child in enumerate(to_write)}
    made: list[tuple[int, Change]] = []

    def keep(children: Sequence[_Planned], results: Sequence[Change | BaseException]) -> None:
        made.extend((place[id(c)], r) for c, r in zip(children, results, strict=True) if isinstance(r, Change))

    async def in_waves(waves: Sequence[Sequence[_Planned]]) -> None:
        # The ``created_once`` children before any wave: the first wave's env Secret carries the
        # generated key's value, which must be the one stored. A create that loses to another
        # writer (409: another replica's key, made since the dry run) writes nothing with a
        # value no Secret holds; the retry reads the stored key.
        created = await _together(
            [_create_once(api, store, child, field_manager, owner, owner_uid) for child in created_once]
        )
        made.extend((n - len(created), r) for n, r in enumerate(created) if isinstance(r, Change))
        for result in created:
            if isinstance(result, BaseException):
                raise result  # already what the creation's failure means (``_check_creation``)
        for wave in waves:
            results = await _together(_write(api, store, child, field_manager, owner) for child in wave)
            keep(wave, results)
            _raise_first(wave, results)

    async def alongside(children: Sequence[_Planned]) -> None:
        results = await _together(_write(api, store, child, field_manager, owner) for child in children)
        keep(children, results)
        _raise_first(children, results)

    waves = _waves([child for child in to_write if child.kind not in WRITTEN_ALONGSIDE])
    failures = await _together(
        [in_waves(waves), alongside([child for child in to_write if child.kind in WRITTEN_ALONGSIDE])]
    )
    changes += [change for _, change in sorted(made, key=lambda entry: entry[0])]
    for failure in failures:
        if isinstance(failure, BaseException):
            raise failure


def _raise_first(children: Sequence[_Planned], results: Sequence[object]) -> None:
    for child, result in zip(children, results, strict=True):
        if _not_served(child.kind, result):  # its CRD removed since the dry run
            raise KindNotServedError(child.kind, child.manifest["metadata"]["name"])
        if isinstance(result, ApiError) and _refused(result):
            # Refused past its dry run (etcd's size limit, which a dry run never reaches): the
            # spec must change, as for a refusal the dry run saw; what was written stays told.
            raise ChildRejectedError(child.kind.kind, child.manifest["metadata"]["name"], result)
        if isinstance(result, BaseException):
            raise result


def _waves(children: Sequence[_Planned]) -> list[list[_Planned]]:
    """What the pods use or are held to, then the Deployment, then what acts on it (empty waves left out).

    A pod starts with its ConfigMap, Secrets and claim in place and its NetworkPolicy already
    enforced; an autoscaler or a disruption budget is written once their Deployment is.
    """
    first = [c for c in children if c.kind is not kinds.DEPLOYMENT and c.kind not in ACTING_ON_THE_DEPLOYMENT]
    middle = [c for c in children if c.kind is kinds.DEPLOYMENT]
    last = [c for c in children if c.kind in ACTING_ON_THE_DEPLOYMENT]
    return [wave for wave in (first, middle, last) if wave]


async def _together(calls: Iterable[Awaitable[T]]) -> list[T | BaseException]:
    """Await ``calls`` at once; each one's result or exception, in order (none is lost or left running)."""
    return await asyncio.gather(*calls, return_exceptions=True)


async def prune_children(
    api: ApiClient, store: Store, *, owner: Key, owner_uid: str | None, desired: Iterable[Mapping[str, Any]]
) -> list[Change]:
    """Delete this resource's children that ``desired`` no longer has."""
    if owner_uid is None:
        return []  # without the owner's uid nothing can be proven ours
    namespace, owner_name = owner
    wanted = {(m["kind"], m["metadata"]["name"]) for m in desired}
    selector = f"{INSTANCE}={owner_name},{MANAGED_BY}={OPERATOR_NAME}"
    changes: list[Change] = []
    for kind in PRUNED_KINDS:
        for item in await store.children(kind, namespace, owner_name, label_selector=selector):
            meta = item["metadata"]
            if controller_uid(item) != owner_uid or (kind.kind, meta["name"]) in wanted:
                continue
            if await api.delete(kind, namespace, meta["name"], uid=meta.get("uid")):
                store.deleted(kind, namespace, meta["name"], uid=meta.get("uid"), owner=owner)
                changes.append(Change("pruned", kind.kind, meta["name"]))
    return changes


async def unapplied_children(
    store: Store, manifests: Sequence[Mapping[str, Any]], *, owner: Key, owner_uid: str | None
) -> list[tuple[str, str]]:
    """(kind, name) of each child that ``apply_children`` and ``prune_children`` would write or
    delete to hold ``manifests``, judged on what the store holds: a child missing, someone
    else's, or drifted (``drift.drifted`` on the stamped manifest), in the order of
    ``manifests``; then each child of ours no longer desired (Secrets and claims are never
    pruned, as there). For a paused resource: what unpausing would change. Kinds whose watch
    has not listed the namespace yet are read from the API server instead: an operator just
    restarted would otherwise find every child missing."""
    found: list[tuple[str, str]] = []
    for manifest in manifests:
        kind = kinds.kind_of(manifest)
        meta = manifest["metadata"]
        # Absent from a watch that has not listed the namespace yet (an operator just started):
        # perhaps there all the same, so asked for.
        listed = store.has_listed(kind, meta["namespace"])
        live = await store.get(kind, meta["namespace"], meta["name"], confirm_absence=not listed)
        if differs(live, drift.stamped(manifest), owner_name=owner[1], owner_uid=owner_uid):
            found.append((kind.kind, meta["name"]))
    if owner_uid is None:
        return found
    namespace, owner_name = owner
    wanted = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    selector = f"{INSTANCE}={owner_name},{MANAGED_BY}={OPERATOR_NAME}"
    for kind in PRUNED_KINDS:
        for item in await store.children(kind, namespace, owner_name, label_selector=selector, confirm_unlisted=True):
            name = item["metadata"]["name"]
            if controller_uid(item) == owner_uid and (kind.kind, name) not in wanted:
                found.append((kind.kind, name))
    return found


def differs(
    live: Mapping[str, Any] | None, stamped: Mapping[str, Any], *, owner_name: str, owner_uid: str | None
) -> bool:
    """Whether a child as it is (``live``, None when absent) is not the ``stamped`` manifest of
    the owner's: absent, someone else's, or drifted from it."""
    if live is None or not may_manage(live, owner_name, owner_uid):
        return True
    return drift.drifted(live, stamped)


def describe_unapplied(children: Sequence[tuple[str, str]], *, most: int = 5) -> str | None:
    """``children`` (kind, name) in a few words, e.g. ``ConfigMap 'demo-config' and Deployment
    'demo' differ from it``; at most ``most`` named. None when there is none."""
    if not children:
        return None
    named = [f"{kind} '{name}'" for kind, name in children[:most]]
    if len(children) > most:
        named.append(f"{len(children) - most} more")
    listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
    return f"{listed} {'differs' if len(children) == 1 else 'differ'} from it"
