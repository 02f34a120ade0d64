"""Pure rules of the status: condition shapes, transition times, rollout reading, what is written."""

from __future__ import annotations

from typing import Any

import pytest
from agentos_operator import conditions, status
from agentos_operator.conditions import Condition, Rollout

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def merged(existing: list[dict[str, Any]], new: list[Condition], now: str = T1) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in conditions.merge(existing, new, now=now, generation=4)}


def test_last_transition_time_is_kept_while_the_status_stays_the_same() -> None:
    first = conditions.merge([], [Condition("Ready", "False", "DeploymentUnavailable", "0 of 1")], now=T0, generation=3)

    again = merged(first, [Condition("Ready", "False", "SecretNotFound", "Secret 'x' not found")])

    assert again["Ready"]["lastTransitionTime"] == T0
    assert (again["Ready"]["reason"], again["Ready"]["observedGeneration"]) == ("SecretNotFound", 4)


def test_last_transition_time_moves_when_the_status_changes() -> None:
    first = conditions.merge([], [Condition("Ready", "False", "DeploymentUnavailable")], now=T0, generation=1)

    assert merged(first, [Condition("Ready", "True", "Available")])["Ready"]["lastTransitionTime"] == T1


def test_conditions_another_tool_wrote_are_kept_as_they_were_after_the_operators_own() -> None:
    policy = {"type": "PolicyCompliant", "status": "False", "reason": "Denied", "lastTransitionTime": T0}
    first = conditions.merge([], conditions.applied(None), now=T0, generation=1)

    entries = conditions.merge([policy, *first], conditions.applied(None), now=T1, generation=1)

    assert entries == [*first, policy]
    assert conditions.merge(entries, conditions.applied(None), now=T1, generation=1) == entries, "a resync: no change"


def test_conditions_come_in_a_stable_order_with_every_standard_field() -> None:
    entries = conditions.merge([], conditions.applied(None), now=T0, generation=1)

    assert [c["type"] for c in entries] == [
        "Ready",
        "Progressing",
        "Degraded",
        "ReferencesResolved",
        "Reconciling",
        "Stalled",
    ]
    assert all(
        set(c) == {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"} for c in entries
    )


def kstatus(entries: list[Condition]) -> str:
    """What kstatus (Flux's health checks, cli-utils' apply waits) reads of a resource of a kind
    it does not know, whose observedGeneration is current: its ``Reconciling`` and ``Stalled``."""
    found = {c.type: c.status for c in entries}
    if found.get("Reconciling") == "True":
        return "InProgress"
    if found.get("Stalled") == "True":
        return "Failed"
    return "Current"


ROLLING = Rollout(desired=2, ready=1, available=1, updated=1, current=True, total=2)
DONE = Rollout(desired=2, ready=2, available=2, updated=2, current=True, total=2)


@pytest.mark.parametrize(
    ("entries", "read"),
    [
        (conditions.applied(None), "InProgress"),
        (conditions.applied(ROLLING), "InProgress"),
        (conditions.applied(DONE), "Current"),
        (conditions.blocked(conditions.INVALID_SPEC, "spec.agents[0].model: unknown"), "Failed"),
        (conditions.blocked(conditions.SECRET_NOT_FOUND, "Secret 'openai' not found"), "Failed"),
        (conditions.blocked(conditions.CHILD_REJECTED, "the API server refuses"), "Failed"),
        (conditions.paused(DONE, None, generation=3), "Current"),
        (conditions.paused(ROLLING, None, generation=3), "InProgress"),
        (conditions.paused(DONE, "ConfigMap 'demo-config' differs from it", generation=3), "Failed"),
    ],
    ids=[
        "no-deployment",
        "rolling-out",
        "rolled-out",
        "invalid",
        "secret-missing",
        "rejected",
        "paused",
        "paused-while-the-applied-spec-rolls-out",
        "paused-with-an-edit-unapplied",
    ],
)
def test_a_gitops_health_check_waits_for_a_rollout_and_fails_at_once_on_a_spec_that_cannot_run(
    entries: list[Condition], read: str
) -> None:
    assert kstatus(entries) == read


def test_a_long_message_is_cut_saying_how_much_was_cut() -> None:
    entries = conditions.merge([], [Condition("Ready", "False", "InvalidSpec", "x" * 5000)], now=T0, generation=1)

    message = entries[0]["message"]
    assert len(message) <= conditions.MESSAGE_MAX_LENGTH
    kept = message.removesuffix(f" … [{5000 - message.count('x')} more characters]")
    assert kept != message and set(kept) == {"x"} and len(kept) > 900


def test_a_long_message_of_many_byte_characters_is_cut_to_the_api_servers_bytes() -> None:
    cut = conditions.shortened("é" * 2000)
    assert len(cut.encode()) <= conditions.MESSAGE_MAX_LENGTH
    assert cut.endswith(f" … [{2000 - cut.count('é')} more characters]")
    assert conditions.shortened("é" * 500) == "é" * 500  # 1000 bytes: whole


def _ready(rollout: Rollout) -> tuple[str, str]:
    found = next(c for c in conditions.applied(rollout) if c.type == "Ready")
    return found.status, found.reason


def _progressing(rollout: Rollout) -> tuple[str, str]:
    found = next(c for c in conditions.applied(rollout) if c.type == "Progressing")
    return found.status, found.reason


def test_a_rollout_is_ready_only_when_the_controller_saw_the_latest_spec() -> None:
    stale = Rollout(desired=2, ready=2, available=2, updated=2, current=False, total=2)
    done = Rollout(desired=2, ready=2, available=2, updated=2, current=True, total=2)
    half = Rollout(desired=2, ready=1, available=1, updated=2, current=True, total=2)

    assert _ready(stale) == ("False", "RolloutInProgress")
    assert _ready(done) == ("True", "Available")
    assert _ready(half) == ("False", "DeploymentUnavailable")
    assert _progressing(half) == ("True", "RolloutInProgress")
    stale_message = next(c for c in conditions.applied(stale) if c.type == "Ready").message
    assert "not yet seen by the Deployment controller" in stale_message and "previous pods serve" in stale_message


def test_a_rollout_is_not_done_while_a_pod_of_the_previous_spec_is_left_or_a_new_one_is_not_available() -> None:
    old_pod_left = Rollout(desired=2, ready=3, available=3, updated=2, current=True, total=3)
    new_pod_starting = Rollout(desired=2, ready=2, available=1, updated=2, current=True, total=2)

    assert _ready(old_pod_left) == ("False", "RolloutInProgress")
    assert _progressing(old_pod_left) == ("True", "RolloutInProgress")
    assert _ready(new_pod_starting) == ("False", "DeploymentUnavailable")


def test_ready_never_comes_back_in_the_middle_of_a_rolling_update() -> None:
    # One replica, maxSurge 1: the controller sees the new spec, starts a new pod beside the
    # old one, the new pod becomes available, the old one goes away.
    steps = [
        Rollout(desired=1, ready=1, available=1, updated=1, current=True, total=1),  # before the change
        Rollout(desired=1, ready=1, available=1, updated=0, current=False, total=1),  # spec changed
        Rollout(desired=1, ready=1, available=1, updated=0, current=True, total=1),  # controller saw it
        Rollout(desired=1, ready=1, available=1, updated=1, current=True, total=2),  # new pod starting
        Rollout(desired=1, ready=2, available=2, updated=1, current=True, total=2),  # new pod ready
        Rollout(desired=1, ready=1, available=1, updated=1, current=True, total=1),  # old pod gone
    ]

    readiness = [_ready(step)[0] for step in steps]

    assert readiness == ["True", "False", "False", "False", "False", "True"]
    assert [_ready(step)[1] for step in steps[1:-1]] == ["RolloutInProgress"] * 4


def test_a_missing_secret_blocks_with_references_unresolved() -> None:
    found = {c.type: c for c in conditions.blocked("SecretNotFound", "Secret 'openai' not found")}

    assert (found["ReferencesResolved"].status, found["ReferencesResolved"].reason) == ("False", "SecretNotFound")
    assert (found["Ready"].status, found["Degraded"].status) == ("False", "True")


def test_a_blocked_reconcile_says_the_previous_pods_serve_when_they_do_but_not_of_the_references() -> None:
    cause = "Secret 'openai' not found (spec.models[0].apiKeySecretRef): create it in the resource's namespace"

    serving = {c.type: c for c in conditions.blocked("SecretNotFound", cause, serving=True)}
    not_serving = {c.type: c for c in conditions.blocked("SecretNotFound", cause)}

    told = f"{cause}; {conditions.PREVIOUS_PODS_SERVE}"
    assert [serving[t].message for t in ("Ready", "Progressing", "Degraded", "Reconciling", "Stalled")] == [told] * 5
    assert serving["ReferencesResolved"].message == cause
    assert {c.message for c in not_serving.values()} == {cause}
    assert conditions.cause(serving["Ready"].message) == not_serving["Ready"].message


def test_a_long_blocked_message_is_cut_before_the_serving_note_not_through_it() -> None:
    found = {c.type: c for c in conditions.blocked("InvalidSpec", "spec.x: bad; " * 500, serving=True)}

    entry = conditions.merge([], [found["Ready"]], now=T0, generation=1)[0]

    assert entry["message"].endswith(f" more characters]; {conditions.PREVIOUS_PODS_SERVE}")
    assert len(entry["message"]) <= conditions.MESSAGE_MAX_LENGTH


def owned_deployment(uid: str | None, **counts: int) -> dict[str, Any]:
    owners = [] if uid is None else [{"kind": "AgentOSConfig", "name": "demo", "uid": uid, "controller": True}]
    live = {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 2, "observedGeneration": 1}
    return {
        "metadata": {"generation": 1, "ownerReferences": owners},
        "spec": {"replicas": 2},
        "status": {**live, **counts},
    }


@pytest.mark.parametrize(
    ("deployment", "serve"),
    [
        (owned_deployment("u1"), True),
        (owned_deployment("u1", observedGeneration=0), True),  # pods of an earlier spec serve too
        (owned_deployment("u1", availableReplicas=1), False),
        (owned_deployment("u1", replicas=0, readyReplicas=0, availableReplicas=0), False),
        (owned_deployment("someone-else"), False),  # a Deployment of the name that is not this resource's
        (owned_deployment(None), False),
        (None, False),
    ],
    ids=["available", "earlier-spec", "short", "no-pods", "not-ours", "no-owner", "none"],
)
def test_the_previous_pods_serve_when_the_resources_own_deployment_has_them_all_available(
    deployment: dict[str, Any] | None, serve: bool
) -> None:
    assert status.previous_pods_serve(deployment, "u1") is serve


def test_paused_with_the_children_as_the_spec_says_ready_follows_the_live_deployment() -> None:
    rolled_out = {c.type: c for c in conditions.paused(Rollout(2, 2, 2, 2, True, total=2), None, generation=3)}
    scaled_to_zero_by_hand = Rollout(0, 0, 0, 0, True, total=0)
    one_pod_lost = {c.type: c for c in conditions.paused(Rollout(2, 1, 1, 2, True, total=2), None, generation=3)}

    assert (rolled_out["Ready"].status, rolled_out["Ready"].reason) == ("True", "Paused")
    assert rolled_out["Ready"].message == "spec.paused is true: children are left as they are; 2 of 2 pods ready"
    assert {t: (c.status, c.reason) for t, c in rolled_out.items() if t in ("Reconciling", "Stalled")} == {
        "Reconciling": ("False", "Paused"),
        "Stalled": ("False", "AsExpected"),
    }
    assert (one_pod_lost["Ready"].status, one_pod_lost["Ready"].reason) == ("False", "Paused")
    assert "1 of 2 pods ready" in one_pod_lost["Ready"].message
    # A Deployment scaled to zero by hand is a child that differs from the spec (``unapplied``),
    # not a rollout done: the reconcile says so, and Ready is false then (below).
    assert conditions.paused(scaled_to_zero_by_hand, "Deployment 'demo' differs from it", generation=3)[0].status == (
        "False"
    )


def test_paused_with_an_edit_not_applied_is_not_ready_and_stalled_saying_what_and_how_to_apply_it() -> None:
    found = {
        c.type: c
        for c in conditions.paused(
            Rollout(2, 2, 2, 2, True, total=2), "ConfigMap 'demo-config' differs from it", generation=3
        )
    }

    assert {t: (c.status, c.reason) for t, c in found.items()} == {
        "Ready": ("False", "Paused"),
        "Progressing": ("False", "Paused"),
        "Degraded": ("False", "AsExpected"),
        "ReferencesResolved": ("True", "Resolved"),
        "Reconciling": ("False", "Paused"),
        "Stalled": ("True", "Paused"),
    }
    assert found["Ready"].message == (
        "spec.paused is true: the children are not as generation 3 of the spec renders them (ConfigMap "
        "'demo-config' differs from it), and are left so until spec.paused is set to false, which applies it; "
        "meanwhile 2 of 2 pods ready"
    )
    assert found["Stalled"].message == found["Ready"].message


def test_paused_with_a_spec_that_cannot_be_rendered_says_why_in_its_references_and_degraded() -> None:
    found = {
        c.type: c
        for c in conditions.paused(
            None, "it cannot be rendered: no key", generation=2, blocker=("SecretKeyMissing", "no key"), serving=True
        )
    }

    assert (found["Ready"].status, found["Ready"].reason) == ("False", "Paused")
    assert "meanwhile the Deployment does not exist" in found["Ready"].message
    assert (found["ReferencesResolved"].status, found["ReferencesResolved"].reason) == ("False", "SecretKeyMissing")
    assert (found["Degraded"].status, found["Degraded"].message) == (
        "True",
        f"no key; {conditions.PREVIOUS_PODS_SERVE}",
    )


def test_paused_with_a_spec_rendered_again_no_longer_says_what_stopped_it_before() -> None:
    """A Secret created while paused: the references resolve, whatever the status said before."""
    found = {
        c.type: c
        for c in conditions.paused(Rollout(1, 1, 1, 1, True, total=1), "ConfigMap 'demo-config' differs", generation=2)
    }

    assert (found["ReferencesResolved"].status, found["ReferencesResolved"].reason) == ("True", "Resolved")
    assert (found["Degraded"].status, found["Degraded"].reason) == ("False", "AsExpected")
    assert (found["Stalled"].status, found["Ready"].status) == ("True", "False")


def test_more_pods_ready_than_desired_are_counted_apart_and_need_not_be_available() -> None:
    # kubectl scale deploy --replicas=3 on a resource of one replica, put back by the operator:
    # the Deployment controller made the pods before it saw the operator's write.
    being_removed = Rollout(desired=1, ready=3, available=3, updated=3, current=True, total=3)
    one_still_starting = Rollout(desired=1, ready=2, available=2, updated=3, current=True, total=3)
    surge = Rollout(desired=2, ready=3, available=3, updated=2, current=True, total=3)

    assert _ready(being_removed) == ("True", "Available")
    assert next(c for c in conditions.applied(being_removed) if c.type == "Ready").message == (
        "1 of 1 pods ready, and 2 more to be removed"
    )
    assert _ready(one_still_starting) == ("True", "Available")
    assert _ready(surge) == ("False", "RolloutInProgress")  # an old pod is left
    assert next(c for c in conditions.applied(surge) if c.type == "Ready").message.startswith(
        "2 of 2 pods ready, and 1 more to be removed, 2 of 2 on the latest spec"
    )


def test_a_deployment_only_scaled_since_it_was_rolled_out_is_not_a_rollout_while_its_controller_catches_up() -> None:
    deployment = {
        "metadata": {"generation": 7},
        "spec": {"replicas": 1, "template": {"metadata": {"annotations": {"agentos.dev/config-hash": "h1"}}}},
        "status": {
            "observedGeneration": 6,
            "replicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "updatedReplicas": 1,
        },
    }
    was_ready = conditions.merge([], conditions.applied(Rollout(1, 1, 1, 1, True, total=1)), now=T0, generation=4)
    previous = {"conditions": was_ready, "configHash": "h1"}
    stale = status.rollout_of(deployment)
    assert stale is not None and not stale.current

    seen = status.scaled_since_ready(stale, previous, deployment, 4)

    assert seen is not None and seen.current and conditions.applied(seen)[0].status == "True"
    # Not so after an edit (another generation), a rotated Secret (another hash), or unless Ready was true:
    assert status.scaled_since_ready(stale, previous, deployment, 5) == stale
    assert status.scaled_since_ready(stale, {**previous, "configHash": "h0"}, deployment, 4) == stale
    rolling = conditions.merge([], conditions.applied(Rollout(1, 0, 0, 1, True, total=1)), now=T0, generation=4)
    assert status.scaled_since_ready(stale, {**previous, "conditions": rolling}, deployment, 4) == stale


def test_a_deployment_without_status_reads_as_nothing_ready() -> None:
    deployment = {"metadata": {"generation": 2}, "spec": {}, "status": {}}

    assert status.rollout_of(deployment) == Rollout(desired=1, ready=0, available=0, updated=0, current=False, total=0)
    assert status.rollout_of(None) is None


def test_status_reports_pods_selector_url_and_hash_and_is_written_only_on_change() -> None:
    deployment = {
        "metadata": {"generation": 1},
        "spec": {"selector": {"matchLabels": {"b": "2", "a": "1"}}},
        "status": {"replicas": 2, "readyReplicas": 1},
    }
    built = status.build(
        previous={},
        owner=("x", "ns"),
        generation=5,
        conditions=[],
        deployment=deployment,
        learnt=status.Learnt(url="http://x.ns.svc:7777", ingress_url=None, config_hash="abc"),
    )

    assert built == {
        "observedGeneration": 5,
        "conditions": [],
        "replicas": 2,
        "readyReplicas": 1,
        "selector": "a=1,b=2",
        "url": "http://x.ns.svc:7777",
        "configHash": "abc",
    }
    assert not status.changed({**built, "kopf": {"progress": {}}}, built)
    assert status.patch(built, {**built, "readyReplicas": 2}) == {"readyReplicas": 2}


def test_a_blocked_reconcile_keeps_the_last_known_url_and_hash() -> None:
    previous = {"url": "http://x.ns.svc:7777", "configHash": "abc", "selector": "a=1"}

    built = status.build(previous=previous, owner=("x", "ns"), generation=2, conditions=[], deployment=None)

    assert (built["url"], built["configHash"], built["selector"]) == ("http://x.ns.svc:7777", "abc", "a=1")
    assert not status.changed(previous, {**built, "observedGeneration": None, "conditions": None})


def test_a_converged_reconcile_writes_what_it_learnt_and_keeps_a_hash_the_deployment_does_not_say_yet() -> None:
    previous = {"url": "http://x.ns.svc:7777", "configHash": "abc", "ingressUrl": "https://x.example/"}
    learnt = status.Learnt(url="http://x.ns.svc:8080", ingress_url=None, config_hash=None)

    built = status.build(
        previous=previous, owner=("x", "ns"), generation=2, conditions=[], deployment=None, learnt=learnt
    )

    assert (built["url"], built["configHash"], "ingressUrl" in built) == ("http://x.ns.svc:8080", "abc", False)


@pytest.mark.parametrize("forged", ["http://evil.example", "http://x.ns.svc:7777.evil.example", "http://y.ns.svc:7777"])
def test_a_url_someone_else_patched_into_the_status_is_dropped_not_kept(forged: str) -> None:
    previous = {"url": forged, "configHash": "abc"}

    built = status.build(previous=previous, owner=("x", "ns"), generation=2, conditions=[], deployment=None)

    assert "url" not in built and built["configHash"] == "abc"
    assert status.patch(previous, built) == {"url": None, "observedGeneration": 2, "conditions": []}


# What the Deployment controller writes, as a real control plane wrote it (the pod's name is generated).
QUOTA = 'pods "demo-6f769fbb96-zxw22" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0'
POD_SECURITY = (
    'pods "demo-6f769fbb96-p2x9k" is forbidden: violates PodSecurity "restricted:latest": privileged '
    '(container "c" must not set securityContext.privileged=true)'
)
LIMIT_RANGE = 'pods "demo-6f769fbb96-9qw7d" is forbidden: maximum cpu usage per Container is 500m, but limit is 1'
NO_PRIORITY_CLASS = 'pods "demo-6f769fbb96-k8v2d" is forbidden: no PriorityClass with name agents-high was found'
NO_DEFAULT_ACCOUNT = (
    'pods "demo-6f769fbb96-ll2mz" is forbidden: error looking up service account t-1/default: '
    'serviceaccount "default" not found'
)
NO_ACCOUNT = (
    'pods "demo-6f769fbb96-ll2mz" is forbidden: error looking up service account t-1/runner: '
    'serviceaccount "runner" not found'
)
WEBHOOK = 'admission webhook "policy.example.com" denied the request: images must come from registry.example'
DEADLINE = 'ReplicaSet "demo-6f769fbb96" has timed out progressing.'
SELECTOR = {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/name": "agentos"}


def refused(message: str = QUOTA, reason: str = "FailedCreate", state: str = "True") -> dict[str, Any]:
    return {"type": "ReplicaFailure", "status": state, "reason": reason, "message": message}


def timed_out(message: str = DEADLINE) -> dict[str, Any]:
    return {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": message}


def deployment_with(
    *deployment_conditions: dict[str, Any], ready: int = 0, total: int = 0, seen: int = 2
) -> dict[str, Any]:
    """A Deployment of one replica at generation 2 whose controller saw generation ``seen`` and wrote these conditions."""
    return {
        "metadata": {"generation": 2},
        "spec": {"replicas": 1, "selector": {"matchLabels": SELECTOR}},
        "status": {
            "observedGeneration": seen,
            "replicas": total,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "updatedReplicas": total,
            "conditions": list(deployment_conditions),
        },
    }


def said(deployment: dict[str, Any]) -> dict[str, Condition]:
    return {c.type: c for c in conditions.applied(status.rollout_of(deployment))}


@pytest.mark.parametrize(
    ("deployment", "reason", "named", "remedy"),
    [
        (deployment_with(refused(QUOTA)), "PodsNotCreated", "exceeded quota: q, requested: pods=1", "ResourceQuota 'q'"),
        (deployment_with(refused(POD_SECURITY)), "PodsNotCreated", 'violates PodSecurity "restricted:latest"', "pod-security.kubernetes.io/enforce"),
        (deployment_with(refused(LIMIT_RANGE)), "PodsNotCreated", "maximum cpu usage per Container is 500m", "LimitRange"),
        (deployment_with(refused(NO_ACCOUNT)), "PodsNotCreated", 'serviceaccount "runner" not found', "create the ServiceAccount"),
        (deployment_with(refused(NO_DEFAULT_ACCOUNT)), "PodsNotCreated", 'serviceaccount "default" not found', "wait for Kubernetes to make the namespace's default ServiceAccount"),
        (deployment_with(refused(NO_PRIORITY_CLASS)), "PodsNotCreated", "no PriorityClass with name agents-high", "create the PriorityClass spec.priorityClassName names"),
        (deployment_with(refused(WEBHOOK)), "PodsNotCreated", "images must come from registry.example", "remove the cause"),
        (deployment_with(timed_out()), "ProgressDeadlineExceeded", DEADLINE, "kubectl describe pods -l app.kubernetes.io/instance=demo,app.kubernetes.io/name=agentos"),
        (deployment_with(refused(QUOTA), timed_out()), "PodsNotCreated", "exceeded quota: q", "progress deadline has passed"),
    ],
    ids=["quota", "pod-security", "limit-range", "service-account", "default-service-account", "priority-class", "webhook", "deadline", "refused-past-deadline"],
)  # fmt: skip
def test_ready_says_why_the_pods_are_missing_in_kubernetes_words_and_what_to_do(
    deployment: dict[str, Any], reason: str, named: str, remedy: str
) -> None:
    found = said(deployment)

    ready = found["Ready"]
    assert (ready.status, ready.reason) == ("False", reason)
    assert named in ready.message and remedy in ready.message
    assert (found["Degraded"].status, found["Degraded"].reason, found["Degraded"].message) == (
        "True",
        reason,
        ready.message,
    )
    assert "6f769fbb96-" not in ready.message, "the generated pod name changes at every try"


@pytest.mark.parametrize(
    ("deployment", "read"),
    [
        (deployment_with(refused(QUOTA)), "InProgress"),
        (deployment_with(timed_out()), "Failed"),
        (deployment_with(refused(QUOTA), timed_out()), "Failed"),
    ],
    ids=["refused", "deadline", "refused-past-deadline"],
)
def test_refused_pods_are_retried_by_kubernetes_and_fail_a_gitops_wait_only_past_the_progress_deadline(
    deployment: dict[str, Any], read: str
) -> None:
    found = said(deployment)

    assert kstatus(list(found.values())) == read
    stalled = found["Stalled"]
    if read == "Failed":
        assert (stalled.status, stalled.reason, found["Progressing"].status) == ("True", found["Ready"].reason, "False")
    else:
        assert (stalled.status, found["Progressing"].status, found["Progressing"].reason) == (
            "False",
            "True",
            "PodsNotCreated",
        )


@pytest.mark.parametrize(
    "deployment",
    [
        deployment_with(refused(QUOTA), seen=1),
        deployment_with(timed_out(), seen=1),
        deployment_with(refused(QUOTA, state="False")),
        deployment_with(refused("pods cannot be deleted", reason="FailedDelete")),
        deployment_with(refused(QUOTA), timed_out(), ready=1, total=1),
    ],
    ids=[
        "refusal-of-an-earlier-spec",
        "deadline-of-an-earlier-spec",
        "no-longer-refused",
        "failed-delete",
        "rolled-out",
    ],
)
def test_what_the_controller_said_of_an_earlier_spec_or_of_no_creation_is_not_a_reason(
    deployment: dict[str, Any],
) -> None:
    assert said(deployment)["Ready"].reason in ("DeploymentUnavailable", "RolloutInProgress", "Available")
    assert said(deployment)["Degraded"].status == "False"


def test_a_refusal_in_the_middle_of_a_rollout_says_the_previous_pods_serve_meanwhile() -> None:
    # Two replicas serving; one pod of the new spec made, the next one over the quota.
    deployment = deployment_with(refused(QUOTA), ready=2, total=3)
    deployment["spec"]["replicas"] = 2
    deployment["status"]["updatedReplicas"] = 1

    ready = said(deployment)["Ready"]

    assert ready.reason == "PodsNotCreated" and ready.message.endswith("the previous pods serve meanwhile")


def test_the_message_stays_the_same_as_pods_come_and_go_so_it_is_told_once() -> None:
    three = deployment_with(refused(QUOTA), ready=1, total=1)
    three["spec"]["replicas"] = 3
    two_ready = deployment_with(refused(QUOTA), ready=2, total=2)
    two_ready["spec"]["replicas"] = 3

    assert said(three)["Ready"].message == said(two_ready)["Ready"].message


def test_kubernetes_words_are_quoted_on_one_line_and_briefly() -> None:
    webhook = 'pods "demo-6f769fbb96-zz" is forbidden: admission webhook "w" denied the request:\n' + "x " * 3000

    ready = said(deployment_with(refused(webhook)))["Ready"]

    quoted = ready.message.split("(", 1)[1].split("):", 1)[0]
    assert quoted.startswith('forbidden: admission webhook "w" denied the request: x x')
    assert quoted.endswith("…") and len(quoted) <= conditions.QUOTE_MAX_LENGTH
    assert "\n" not in ready.message and len(ready.message) < conditions.MESSAGE_MAX_LENGTH


def test_a_quota_the_controller_has_yet_to_count_is_named_too() -> None:
    unknown = 'pods "demo-6f769fbb96-zz" is forbidden: status unknown for quota: pod-budget, resource: pods'

    assert "ResourceQuota 'pod-budget'" in said(deployment_with(refused(unknown)))["Ready"].message


def test_a_quota_refusal_says_the_same_whatever_the_namespace_uses_meanwhile() -> None:
    def refusal(used: str) -> str:
        return (
            f'pods "demo-6f769fbb96-zxw22" is forbidden: exceeded quota: compute, requested: '
            f"limits.memory=2Gi,requests.cpu=1, used: {used}, limited: limits.memory=4Gi,requests.cpu=2"
        )

    fewer = said(deployment_with(refused(refusal("limits.memory=3Gi,requests.cpu=1"))))["Ready"].message
    more = said(deployment_with(refused(refusal("limits.memory=3500Mi,requests.cpu=1500m"))))["Ready"].message

    assert fewer == more
    assert "exceeded quota: compute, requested: limits.memory=2Gi,requests.cpu=1, limited: limits.memory=4Gi" in fewer
