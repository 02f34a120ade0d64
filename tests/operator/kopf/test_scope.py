"""How an operator scans for the namespaces it serves.

What it serves (named namespaces, a glob, every namespace, get-only access to Secrets) is tested
against a real API server with the chart's grants: tests/cluster/test_ported_scope.py and
test_high_availability.py.
"""

from __future__ import annotations

from tests.operator.kopf.conftest import Cluster, StartOperator, eventually


def test_named_namespaces_are_served_without_scanning_the_cluster_which_patterns_and_all_namespaces_need() -> None:
    # Scanning lists namespaces and CRDs cluster-wide, which the chart's namespaced mode does not grant.
    from agentos_operator.handlers import kopf_settings
    from agentos_operator.settings import OperatorSettings

    assert kopf_settings(OperatorSettings(namespaces=("team-a", "team-b"))).scanning.disabled
    assert not kopf_settings(OperatorSettings(namespaces=("team-*",))).scanning.disabled
    assert not kopf_settings(OperatorSettings(namespaces=())).scanning.disabled


def test_a_pattern_is_served_by_a_filter_over_cluster_wide_watches_and_names_by_kopf_alone() -> None:
    # kopf follows a pattern from two namespace listings and ignores the second: a namespace
    # created between them would never be served (seen on a real API server).
    from agentos_operator.settings import OperatorSettings
    from agentos_operator.watching import scope_of

    pattern = scope_of(OperatorSettings(namespaces=("team-*",)))
    assert pattern("team-a") and pattern("team-created-later")
    assert not pattern("other") and not pattern(None)
    named = scope_of(OperatorSettings(namespaces=("team-a",)))
    assert named("team-a") and named("whatever kopf delivers")


def test_the_operator_says_as_it_starts_which_namespaces_it_serves() -> None:
    """A resource in a namespace it does not watch gets no status: the start line is where to look."""
    from agentos_operator.settings import OperatorSettings
    from agentos_operator.watching import describe_scope

    everywhere = describe_scope(OperatorSettings(namespaces=(), runtime_image="r.example/runtime:1"))
    some = describe_scope(OperatorSettings(namespaces=("team-a", "team-*"), leader_election=True, lease_name="ops"))

    assert everywhere == (
        "serving AgentOSConfig resources in every namespace; runtime image for resources naming none: r.example/runtime:1"
    )
    assert some.startswith(
        "serving AgentOSConfig resources in namespaces team-a, team-* only (resources elsewhere get no status),"
        " while holding Lease ops;"
    )


async def test_an_operator_serving_every_namespace_never_asks_about_namespaces(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    # So the chart's ClusterRole (it always runs the operator with --all-namespaces) grants none.
    start_operator(namespaces=())
    for namespace in ("ns1", "ns2"):
        await cluster.create_secret("openai", namespace, api_key="sk-test-1")
        await cluster.create_agentos("demo", namespace)
        await cluster.ready("demo", namespace)
    for plural in ("secrets", "configmaps", "agentosconfigs"):
        await cluster.watched(plural)

    requests = cluster.api.requests_since(0)
    assert requests
    assert [r.url.path for r in requests if r.resource is not None and r.resource.plural == "namespaces"] == []


async def test_an_operator_following_a_pattern_lists_and_watches_namespaces(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    # The probe above sees namespace requests when there are some.
    start_operator(namespaces=("team-*",))

    def namespace_paths() -> set[str]:
        requests = cluster.api.requests_since(0)
        return {r.url.path for r in requests if r.resource is not None and r.resource.plural == "namespaces"}

    assert await eventually(namespace_paths, what="a request about namespaces") == {"/api/v1/namespaces"}
