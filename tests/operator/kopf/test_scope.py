"""Which resources an operator serves: namespaces matching a glob; how it scans for them.

Named namespaces, every namespace and get-only access to Secrets are tested against a real API
server with the chart's grants: tests/cluster/test_ported_scope.py and test_high_availability.py.
"""

from __future__ import annotations

from tests.operator.kopf.conftest import Cluster, StartOperator


async def test_a_glob_selects_namespaces(cluster: Cluster, start_operator: StartOperator) -> None:
    """Kept beside its real-server version (tests/cluster/test_ported_scope.py, the glob), which fails
    under the chart's cluster-wide grants: following a glob lists and watches namespaces, which the
    ClusterRole does not grant (the emulator checks no grant)."""
    await cluster.create_secret("openai", "ns2", api_key="sk-test-1")
    start_operator(namespaces=("ns2*",))
    await cluster.create_agentos("demo", "ns2")

    await cluster.ready("demo", "ns2")


def test_named_namespaces_are_served_without_scanning_the_cluster_which_patterns_and_all_namespaces_need() -> None:
    # Scanning lists namespaces and CRDs cluster-wide, which the chart's namespaced mode does not grant.
    from agentos_operator.handlers import kopf_settings
    from agentos_operator.settings import OperatorSettings

    assert kopf_settings(OperatorSettings(namespaces=("team-a", "team-b"))).scanning.disabled
    assert not kopf_settings(OperatorSettings(namespaces=("team-*",))).scanning.disabled
    assert not kopf_settings(OperatorSettings(namespaces=())).scanning.disabled
