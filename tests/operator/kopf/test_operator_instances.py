"""Two operator instances (two releases whose namespaces overlap) never both serve a resource:
the first to write its status claims it (``status.operator``), the other writes nothing to it
and says so in one ManagedElsewhere Warning. The claim moves when someone removes it, or when its
instance is demonstrably gone (its Lease deleted, released or long unrenewed): then an instance
with leader election that may read that Lease takes it over, with one TakenOver event."""

from __future__ import annotations

import datetime
import logging

import pytest
from agentos_operator import status
from agentos_operator.kube.leasing import format_micro_time
from agentos_operator.ownership import (
    WATCHED_NAMESPACES,
    ClaimJudgement,
    claimant_lease,
    judge_claim,
    served_elsewhere,
    watched_namespaces_annotation,
)
from agentos_operator.reconcile import RETELL_ELSEWHERE_SECONDS, tell_elsewhere
from agentos_operator.settings import OperatorSettings

from tests.operator.kopf.conftest import AGENTOS, DEPLOYMENTS, EVENTS, Cluster, StartOperator, eventually

OTHER_IMAGE = "registry.example/agentos-runtime:other"


def test_an_instance_is_its_releases_lease_in_its_namespace() -> None:
    assert OperatorSettings(lease_namespace="ops", lease_name="team-agentos-operator").identity == (
        "ops/team-agentos-operator"
    )
    assert OperatorSettings(lease_namespace=None).identity == "agentos-operator"


def test_a_status_claimed_by_another_instance_is_theirs_and_an_unclaimed_one_is_anyones() -> None:
    assert served_elsewhere({"operator": "a/op"}, "b/op") == "a/op"
    assert served_elsewhere({"operator": "b/op"}, "b/op") is None
    assert served_elsewhere({}, "b/op") is None
    assert served_elsewhere({"operator": None}, "b/op") is None
    assert served_elsewhere({"operator": ""}, "b/op") is None


def test_the_status_written_names_its_writer_and_one_not_reconciled_keeps_the_claim() -> None:
    built = status.build(
        previous={}, owner=("demo", "ns1"), generation=1, conditions=[], deployment=None, operator="b/op"
    )
    assert built["operator"] == "b/op"
    assert status.changed({**built, "operator": "a/op"}, built)
    kept = status.build(
        previous={"operator": "a/op"}, owner=("demo", "ns1"), generation=1, conditions=[], deployment=None
    )
    assert kept["operator"] == "a/op"


def warnings_of(cluster: Cluster, reason: str) -> list[dict[str, object]]:
    return [e for e in cluster.api.list_objects(EVENTS, "ns1") if e["type"] == "Warning" and e["reason"] == reason]


async def test_a_second_instance_stays_out_of_a_resource_the_first_serves_and_says_so_once(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    first = start_operator(lease_namespace="rel-a")
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    assert cluster.agentos("demo")["status"]["operator"] == "rel-a/agentos-operator"
    generation = cluster.get(DEPLOYMENTS, "demo")["metadata"]["generation"]  # type: ignore[index]

    # Another release, watching ns1 too, with another runtime image: it would roll the pods back and forth.
    second = start_operator(
        lease_namespace="rel-b", namespaces=("ns1", "ns2"), runtime_image=OTHER_IMAGE, resync_seconds=0.2
    )
    await eventually(lambda: second.reconciles("elsewhere") >= 5, what="the second instance's resyncs")
    await cluster.create_secret("rotated", api_key="x")  # a Secret event wakes both as well
    await eventually(lambda: second.reconciles("elsewhere") >= 8, what="more resyncs")

    told = warnings_of(cluster, "ManagedElsewhere")
    assert len(told) == 1 and told[0].get("count", 1) == 1
    message = str(told[0]["message"])
    assert "'rel-a/agentos-operator'" in message and "'rel-b/agentos-operator'" in message
    assert "narrow this release's rbac.namespaces or uninstall this release" in message
    # Without leader election it judges no claim: moving the resource takes the exact command.
    assert "runs without leader election" in message
    assert (
        "kubectl patch agentosconfig demo -n ns1 --subresource=status --type=merge "
        """-p '{"status":{"operator":null}}'"""
    ) in message
    deployment = cluster.get(DEPLOYMENTS, "demo")
    assert deployment is not None and deployment["metadata"]["generation"] == generation
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] != OTHER_IMAGE
    body = cluster.agentos("demo")
    assert body["status"]["operator"] == "rel-a/agentos-operator"
    assert cluster.condition("demo", "Ready")["status"] == "True"
    assert first.reconciles("elsewhere") == 0

    # The first release goes; the claim removed, the second takes the resource over.
    await first.stop()
    await cluster.api.patch(AGENTOS, "ns1", "demo", {"status": {"operator": None}}, subresource="status")
    await eventually(
        lambda: (
            (cluster.get(DEPLOYMENTS, "demo") or {})["spec"]["template"]["spec"]["containers"][0]["image"]
            == OTHER_IMAGE
        ),
        what="the second instance's image",
    )
    await eventually(
        lambda: cluster.agentos("demo")["status"].get("operator") == "rel-b/agentos-operator", what="its claim"
    )
    assert len(warnings_of(cluster, "ManagedElsewhere")) == 1


async def test_of_two_instances_started_together_on_a_new_resource_one_serves_it(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator(lease_namespace="rel-a")
    start_operator(lease_namespace="rel-b", runtime_image=OTHER_IMAGE)
    await cluster.create_agentos("demo")

    await eventually(lambda: warnings_of(cluster, "ManagedElsewhere"), what="the Warning of the one left out")
    holder = cluster.agentos("demo")["status"]["operator"]
    image = OTHER_IMAGE if holder == "rel-b/agentos-operator" else "registry.example/agentos-runtime:test"
    await cluster.ready("demo")  # the Deployment is written after the claim, so perhaps after the Warning
    assert cluster.get(DEPLOYMENTS, "demo")["spec"]["template"]["spec"]["containers"][0]["image"] == image  # type: ignore[index]
    told = warnings_of(cluster, "ManagedElsewhere")
    assert len(told) == 1 and f"'{holder}' (status.operator)" in str(told[0]["message"])
    assert cluster.agentos("demo")["status"]["operator"] == holder
    # The one left out never wrote the Deployment: it was written once, with the holder's image.
    assert cluster.get(DEPLOYMENTS, "demo")["metadata"]["generation"] == 1  # type: ignore[index]


async def test_an_instance_writes_no_child_before_its_claim_is_written(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    # The claim refused once as the resource changed since read (as when another instance claimed it).
    refused = cluster.api.fail_next(409, verb="patch", plural="agentosconfigs", message="the object has been modified")
    mark = cluster.api.mark()
    start_operator(lease_namespace="rel-a")
    await cluster.create_agentos("demo")
    await cluster.ready("demo")

    assert refused.fired
    writes = [r for r in cluster.api.writes_since(mark) if r.resource is not None and r.resource.plural != "events"]
    statuses = [n for n, r in enumerate(writes) if r.resource.plural == "agentosconfigs" and r.subresource == "status"]
    children = [n for n, r in enumerate(writes) if r.resource.plural != "agentosconfigs"]
    assert len(statuses) >= 2 and children, writes
    assert min(children) > statuses[1], "a child was written before the claim held"


async def test_a_claim_refused_as_the_resource_changed_since_read_is_retried_quietly(
    cluster: Cluster, start_operator: StartOperator, caplog: pytest.LogCaptureFixture
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    cluster.api.fail_next(409, verb="patch", plural="agentosconfigs", message="the object has been modified")
    start_operator(lease_namespace="rel-a")
    with caplog.at_level(logging.INFO, logger="agentos_operator"):
        await cluster.create_agentos("demo")
        await cluster.ready("demo")

    assert cluster.agentos("demo")["status"]["operator"] == "rel-a/agentos-operator"
    said = [r for r in caplog.records if r.name.startswith("agentos_operator")]
    assert any("changed while this operator instance claimed it" in r.getMessage() for r in said)
    assert [r.getMessage() for r in said if r.levelno >= logging.WARNING] == []


# -- a claim whose instance is gone is taken over -------------------------------------------------

LEASES = "coordination.k8s.io/v1/leases"
NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)
ELECTED = {"leader_election": True, "lease_duration_seconds": 2, "lease_retry_seconds": 0.05}


def lease(
    holder: str | None, renewed: datetime.datetime | None, duration: int = 15, watching: tuple[str, ...] | None = None
) -> dict[str, object]:
    spec: dict[str, object] = {"holderIdentity": holder, "leaseDurationSeconds": duration}
    if renewed is not None:
        spec["renewTime"] = format_micro_time(renewed)
    metadata: dict[str, object] = {"name": "agentos-operator"}
    if watching is not None:
        metadata["annotations"] = watched_namespaces_annotation(watching)
    return {"metadata": metadata, "spec": spec}


def test_a_claim_holds_while_its_lease_is_renewed_and_goes_stale_once_its_instance_is_gone() -> None:
    holder = "rel-a/agentos-operator"
    assert judge_claim(holder, lease("a-0", NOW - datetime.timedelta(seconds=290)), NOW).verdict == "keep"
    assert judge_claim(holder, lease("a-0", NOW + datetime.timedelta(seconds=30)), NOW).verdict == "keep"
    gone = judge_claim(holder, None, NOW)
    assert gone == ClaimJudgement("take over", "its Lease rel-a/agentos-operator does not exist")
    stale = judge_claim(holder, lease("a-0", NOW - datetime.timedelta(seconds=301)), NOW)
    assert stale.verdict == "take over" and "last renewed 301 s ago (over 300 s)" in stale.why
    # Released on a clean stop: gone once no replica of its release took it back within its duration
    # (a rolling upgrade's new pod, or a standby, takes it within seconds).
    released = judge_claim(holder, lease(None, NOW - datetime.timedelta(seconds=16)), NOW)
    assert released.verdict == "take over" and released.why.endswith("is held by no one")
    just_released = judge_claim(holder, lease(None, NOW - datetime.timedelta(seconds=5)), NOW)
    assert just_released.verdict == "wait" and just_released.again_in == pytest.approx(10, abs=1)
    assert judge_claim(holder, lease("a-0", None), NOW).verdict == "take over"
    # A long lease stretches the bound to ten of its durations.
    assert judge_claim(holder, lease("a-0", NOW - datetime.timedelta(seconds=500), 60), NOW).verdict == "keep"
    assert judge_claim(holder, lease("a-0", NOW - datetime.timedelta(seconds=601), 60), NOW).verdict == "take over"
    acquired = {"spec": {"holderIdentity": "a-0", "acquireTime": format_micro_time(NOW)}}
    assert judge_claim(holder, acquired, NOW).verdict == "keep"
    # A Lease this instance may not read, or a claim naming no namespace, tells nothing.
    assert judge_claim(holder, "forbidden", NOW).verdict == "cannot tell"
    assert judge_claim("agentos-operator", None, NOW).verdict == "cannot tell"
    assert claimant_lease(holder) == ("rel-a", "agentos-operator")


def test_a_claim_of_an_instance_no_longer_watching_the_namespace_is_stale() -> None:
    holder, renewed = "rel-a/agentos-operator", NOW - datetime.timedelta(seconds=3)
    narrowed = judge_claim(holder, lease("a-0", renewed, watching=("ns2", "team-*")), NOW, namespace="ns1")
    assert narrowed.verdict == "take over"
    assert "no longer watches namespace 'ns1' (it watches ns2, team-*)" in narrowed.why
    assert judge_claim(holder, lease("a-0", renewed, watching=("ns2", "team-*")), NOW, namespace="team-x").verdict == (
        "keep"
    )
    assert judge_claim(holder, lease("a-0", renewed, watching=()), NOW, namespace="ns1").verdict == "keep"  # all
    # A Lease written by a version that did not say what it watches, or said it in a way not understood: kept.
    assert judge_claim(holder, lease("a-0", renewed), NOW, namespace="ns1").verdict == "keep"
    garbled = lease("a-0", renewed)
    garbled["metadata"] = {"annotations": {WATCHED_NAMESPACES: "ns2"}}
    assert judge_claim(holder, garbled, NOW, namespace="ns1").verdict == "keep"


def test_the_managed_elsewhere_warning_is_told_once_per_holder_and_again_before_the_event_expires() -> None:
    assert tell_elsewhere(None, "rel-a/op", 100.0)
    assert not tell_elsewhere(("rel-a/op", 100.0), "rel-a/op", 101.0)
    assert not tell_elsewhere(("rel-a/op", 100.0), "rel-a/op", 100.0 + RETELL_ELSEWHERE_SECONDS - 1)
    assert tell_elsewhere(("rel-a/op", 100.0), "rel-a/op", 100.0 + RETELL_ELSEWHERE_SECONDS)
    assert tell_elsewhere(("rel-a/op", 100.0), "rel-c/op", 101.0), "another holder"
    assert RETELL_ELSEWHERE_SECONDS < 3600, "within the API server's default event TTL"


async def claimed_by_rel_a(cluster: Cluster) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    await cluster.create_agentos("demo")
    await cluster.api.patch(
        AGENTOS, "ns1", "demo", {"status": {"operator": "rel-a/agentos-operator"}}, subresource="status"
    )


def events_of(cluster: Cluster, reason: str) -> list[dict[str, object]]:
    return [e for e in cluster.api.list_objects(EVENTS, "ns1") if e["reason"] == reason]


async def assert_taken_over(cluster: Cluster, why: str) -> None:
    await eventually(
        lambda: cluster.agentos("demo")["status"].get("operator") == "rel-b/agentos-operator", what="the takeover"
    )

    # The claim is written before any child: the children follow.
    def image() -> object:
        deployment = cluster.get(DEPLOYMENTS, "demo")
        return deployment and deployment["spec"]["template"]["spec"]["containers"][0]["image"]

    await eventually(lambda: image() == OTHER_IMAGE, what="the Deployment written by the instance taking over")
    await cluster.ready("demo")
    # Told once the claim is written, which the status already shows: waited for, not assumed there.
    [taken] = await eventually(lambda: events_of(cluster, "TakenOver"), what="the TakenOver event")
    assert taken["type"] == "Normal"
    message = str(taken["message"])
    assert "'rel-a/agentos-operator'" in message and "'rel-b/agentos-operator'" in message and why in message
    assert warnings_of(cluster, "ManagedElsewhere") == []


async def test_a_resource_whose_claimant_instance_stopped_and_left_no_lease_is_taken_over(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    first = start_operator(lease_namespace="rel-a")  # no leader election: it holds no Lease
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    assert cluster.agentos("demo")["status"]["operator"] == "rel-a/agentos-operator"
    await first.stop()

    start_operator(lease_namespace="rel-b", runtime_image=OTHER_IMAGE, **ELECTED)
    await assert_taken_over(cluster, "its Lease rel-a/agentos-operator does not exist")


async def test_a_resource_whose_claimant_lease_went_unrenewed_past_the_bound_is_taken_over(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await claimed_by_rel_a(cluster)
    renewed = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(minutes=10)
    await cluster.api.create(LEASES, lease("a-0", renewed), namespace="rel-a")

    start_operator(lease_namespace="rel-b", runtime_image=OTHER_IMAGE, **ELECTED)
    await assert_taken_over(cluster, "its Lease rel-a/agentos-operator was last renewed")


async def test_a_resource_whose_claimant_lease_was_just_released_is_taken_over_once_no_one_took_it_back(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await claimed_by_rel_a(cluster)
    released = lease(None, datetime.datetime.now(tz=datetime.UTC), duration=4)
    await cluster.api.create(LEASES, released, namespace="rel-a")

    second = start_operator(lease_namespace="rel-b", runtime_image=OTHER_IMAGE, **ELECTED)
    await eventually(lambda: second.reconciles("elsewhere") >= 1, what="the second instance waiting")
    assert cluster.agentos("demo")["status"]["operator"] == "rel-a/agentos-operator"
    assert cluster.get(DEPLOYMENTS, "demo") is None
    await assert_taken_over(cluster, "its Lease rel-a/agentos-operator is held by no one")  # and no Warning


async def test_a_resource_whose_claimant_lease_is_renewed_stays_with_it(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await claimed_by_rel_a(cluster)
    await cluster.api.create(LEASES, lease("a-0", datetime.datetime.now(tz=datetime.UTC)), namespace="rel-a")

    second = start_operator(lease_namespace="rel-b", runtime_image=OTHER_IMAGE, resync_seconds=0.2, **ELECTED)
    await eventually(lambda: second.reconciles("elsewhere") >= 5, what="the second instance's resyncs")
    assert cluster.agentos("demo")["status"]["operator"] == "rel-a/agentos-operator"
    assert cluster.get(DEPLOYMENTS, "demo") is None
    assert events_of(cluster, "TakenOver") == []
    [told] = warnings_of(cluster, "ManagedElsewhere")
    said = str(told["message"])
    assert "uninstall the release of 'rel-a/agentos-operator' or drop 'ns1' from its rbac.namespaces" in said
    assert "kubectl patch" not in said  # it moves by itself then: removing a live instance's claim would race it


async def test_a_resource_left_by_its_claimant_narrowing_its_namespaces_is_taken_over(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    first = start_operator(lease_namespace="rel-a", namespaces=("ns1", "ns2"), **ELECTED)
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    assert cluster.agentos("demo")["status"]["operator"] == "rel-a/agentos-operator"
    second = start_operator(lease_namespace="rel-b", runtime_image=OTHER_IMAGE, resync_seconds=0.2, **ELECTED)
    await eventually(lambda: second.reconciles("elsewhere") >= 3, what="the second instance staying out")

    # The first release is told to watch ns2 only (helm upgrade --set rbac.namespaces={ns2}): its new
    # pod holds the Lease and no longer serves demo; the second takes it over.
    await first.stop()
    start_operator(lease_namespace="rel-a", namespaces=("ns2",), **ELECTED)
    await eventually(
        lambda: cluster.agentos("demo")["status"].get("operator") == "rel-b/agentos-operator", what="the takeover"
    )
    await cluster.ready("demo")
    # Told once the claim is written, which the status already shows: waited for, not assumed there.
    [taken] = await eventually(lambda: events_of(cluster, "TakenOver"), what="the TakenOver event")
    assert "no longer watches namespace 'ns1' (it watches ns2)" in str(taken["message"])
    held = cluster.get(LEASES, "agentos-operator", "rel-a") or {}
    assert held["spec"]["holderIdentity"], "the narrowed release holds its Lease: it was not taken as gone"


async def test_a_resource_whose_claimant_lease_may_not_be_read_stays_with_it(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await claimed_by_rel_a(cluster)  # and no Lease: were it readable, the claim would be stale
    refused = cluster.api.fail_next(
        403,
        verb="get",
        plural="leases",
        namespace="rel-a",
        times=1000,
        message=(
            'leases.coordination.k8s.io "agentos-operator" is forbidden: User "system:serviceaccount:rel-b:op" '
            'cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "rel-a"'
        ),
    )

    second = start_operator(lease_namespace="rel-b", runtime_image=OTHER_IMAGE, resync_seconds=0.2, **ELECTED)
    await eventually(lambda: second.reconciles("elsewhere") >= 5, what="the second instance's resyncs")
    assert len(refused.fired) >= 5
    [told] = warnings_of(cluster, "ManagedElsewhere")
    assert "its Lease rel-a/agentos-operator may not be read here" in str(told["message"])
    assert "kubectl patch agentosconfig demo -n ns1 --subresource=status" in str(told["message"])
    assert cluster.agentos("demo")["status"]["operator"] == "rel-a/agentos-operator"
    assert cluster.get(DEPLOYMENTS, "demo") is None
    assert events_of(cluster, "TakenOver") == []
    assert len(warnings_of(cluster, "ManagedElsewhere")) == 1


async def test_an_elected_instance_told_no_lease_namespace_claims_by_the_lease_it_holds(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    # Outside a pod (no POD_NAMESPACE), the Lease goes to the credentials' namespace (ns1 here): the
    # claim names it, so that another instance can tell once this one is gone.
    await cluster.create_secret("openai", api_key="sk-test-1")
    first = start_operator(lease_namespace=None, **ELECTED)
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    assert cluster.agentos("demo")["status"]["operator"] == "ns1/agentos-operator"
    assert cluster.get(LEASES, "agentos-operator", "ns1") is not None
    await first.stop()

    start_operator(lease_namespace="rel-b", runtime_image=OTHER_IMAGE, **ELECTED)
    await eventually(
        lambda: cluster.agentos("demo")["status"].get("operator") == "rel-b/agentos-operator", what="the takeover"
    )
