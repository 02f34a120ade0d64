"""An Ingress the resource's own NetworkPolicy likely keeps out (``ingressFrom`` omitted, so only
the namespace's pods are admitted) is allowed, and told once in a Warning with the fix."""

from __future__ import annotations

from typing import Any

from tests.operator.kopf.conftest import CONFIGMAPS, Cluster, StartOperator, eventually
from tests.support.emulator import AGENTOS

INGRESS = {"enabled": True, "host": "agents.example.com"}


def advice(cluster: Cluster) -> list[dict[str, Any]]:
    return [e for e in cluster.events_about("demo") if e["reason"] == "IngressNotAdmitted"]


async def test_an_ingress_behind_a_namespace_only_network_policy_is_served_and_told_once(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo", networkPolicy={"enabled": True}, ingress=INGRESS)

    await cluster.ready("demo")
    await eventually(lambda: len(advice(cluster)) == 1, what="one IngressNotAdmitted warning")
    [told] = advice(cluster)
    assert told["type"] == "Warning"
    assert "spec.networkPolicy.ingressFrom" in told["message"] and "namespaceSelector" in told["message"]

    # An edit that touches neither the NetworkPolicy nor the Ingress is not told again.
    edit = {"spec": {"agents": [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Be terse."]}]}}
    await cluster.api.patch(AGENTOS, "ns1", "demo", edit)
    await eventually(lambda: "Be terse." in str(cluster.get(CONFIGMAPS, "demo-config")), what="the edit applied")
    await cluster.ready("demo")
    assert len(advice(cluster)) == 1


async def test_admitting_the_ingress_controller_ends_the_advice(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    await cluster.create_agentos("demo", networkPolicy={"enabled": True, "ingressFrom": peers}, ingress=INGRESS)

    await cluster.ready("demo")
    # The Ready move is told after the writes' events (and any advice) went out.
    await eventually(lambda: any(e["reason"] == "Available" for e in cluster.events_about("demo")), what="Available")
    assert advice(cluster) == []
