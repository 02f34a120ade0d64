"""Which resources an operator serves: every namespace by default, or only those it is given."""

from __future__ import annotations

from tests.operator.kopf.conftest import AGENTOS, DEPLOYMENTS, Cluster, StartOperator, eventually


async def test_a_namespace_scoped_operator_ignores_other_namespaces(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    for namespace in ("ns1", "ns2"):
        await cluster.create_secret("openai", namespace, api_key="sk-test-1")
    operator = start_operator(namespaces=("ns1",))
    await cluster.create_agentos("outside", "ns2")
    await cluster.create_agentos("inside", "ns1")

    await cluster.ready("inside", "ns1")
    # Everything that woke for ns1 has finished; an operator serving ns2 would have written by now.
    await eventually(lambda: operator.reconciles() >= 2)

    assert cluster.get(DEPLOYMENTS, "outside", "ns2") is None
    assert "status" not in (cluster.get(AGENTOS, "outside", "ns2") or {})
    namespaces = {
        r.namespace for r in cluster.api.requests_since(0) if r.resource and r.resource.plural == "agentosconfigs"
    }
    assert "ns2" not in namespaces


async def test_a_glob_selects_namespaces(cluster: Cluster, start_operator: StartOperator) -> None:
    await cluster.create_secret("openai", "ns2", api_key="sk-test-1")
    start_operator(namespaces=("ns2*",))
    await cluster.create_agentos("demo", "ns2")

    await cluster.ready("demo", "ns2")


async def test_an_unscoped_operator_serves_every_namespace(cluster: Cluster, start_operator: StartOperator) -> None:
    for namespace in ("ns1", "ns2"):
        await cluster.create_secret("openai", namespace, api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("a", "ns1")
    await cluster.create_agentos("b", "ns2")

    await cluster.ready("a", "ns1")
    await cluster.ready("b", "ns2")


async def test_get_only_access_to_secrets_is_enough_without_the_secret_watch(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    for verb in ("list", "watch"):
        cluster.api.fail_next(403, verb=verb, plural="secrets", times=10_000)
    operator = start_operator(watch_secrets=False)
    await cluster.create_agentos("demo")

    await cluster.ready("demo")
    assert operator.reconciles("blocked") == operator.reconciles("error") == 0


def test_named_namespaces_are_served_without_scanning_the_cluster_which_patterns_and_all_namespaces_need() -> None:
    # Scanning lists namespaces and CRDs cluster-wide, which the chart's namespaced mode does not grant.
    from agentos_operator.handlers import kopf_settings
    from agentos_operator.settings import OperatorSettings

    assert kopf_settings(OperatorSettings(namespaces=("team-a", "team-b"))).scanning.disabled
    assert not kopf_settings(OperatorSettings(namespaces=("team-*",))).scanning.disabled
    assert not kopf_settings(OperatorSettings(namespaces=())).scanning.disabled
