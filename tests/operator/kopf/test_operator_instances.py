"""Two operator instances (two releases whose namespaces overlap) never both serve a resource:
the first to write its status claims it (``status.operator``), the other writes nothing to it
and says so in one ManagedElsewhere Warning. The claim moves when someone removes it."""

from __future__ import annotations

import logging

import pytest
from agentos_operator import status
from agentos_operator.ownership import served_elsewhere
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
    assert "rbac.namespaces" in message and "uninstall one" in message
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
    await eventually(
        lambda: (cluster.get(DEPLOYMENTS, "demo") or {})["spec"]["template"]["spec"]["containers"][0]["image"] == image,
        what="the holder's image",
    )
    await cluster.ready("demo")
    told = warnings_of(cluster, "ManagedElsewhere")
    assert len(told) == 1 and f"'{holder}' (status.operator)" in str(told[0]["message"])
    assert cluster.agentos("demo")["status"]["operator"] == holder


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
