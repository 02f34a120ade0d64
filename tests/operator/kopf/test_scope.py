"""How an operator scans for the namespaces it serves.

What it serves (named namespaces, a glob, every namespace, get-only access to Secrets) is tested
against a real API server with the chart's grants: tests/cluster/test_ported_scope.py and
test_high_availability.py.
"""

from __future__ import annotations


def test_named_namespaces_are_served_without_scanning_the_cluster_which_patterns_and_all_namespaces_need() -> None:
    # Scanning lists namespaces and CRDs cluster-wide, which the chart's namespaced mode does not grant.
    from agentos_operator.handlers import kopf_settings
    from agentos_operator.settings import OperatorSettings

    assert kopf_settings(OperatorSettings(namespaces=("team-a", "team-b"))).scanning.disabled
    assert not kopf_settings(OperatorSettings(namespaces=("team-*",))).scanning.disabled
    assert not kopf_settings(OperatorSettings(namespaces=())).scanning.disabled
