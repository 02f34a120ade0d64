"""The operator's first log line on a real start says what it serves: every namespace, or the
namespaces named (resources elsewhere get no status, and nothing else says so), the Lease it
holds with leader election, and the runtime image of resources naming none. Every replica says
it once, the one on standby too (the chart always elects a leader)."""

from __future__ import annotations

import json
import uuid

from tests.cluster.conftest import IMAGE, InstallOperator, NamespaceMaker, OperatorProcess, eventually


def first_line(operator: OperatorProcess) -> str:
    """The message of the operator's first log line, once it wrote one."""
    lines = eventually(lambda: operator.output().splitlines(), what="the operator's first log line")
    message: str = json.loads(lines[0])["message"]
    return message


def test_a_cluster_wide_operator_says_it_serves_every_namespace(install_operator: InstallOperator) -> None:
    operator = install_operator().start()
    try:
        assert first_line(operator) == (
            f"serving AgentOSConfig resources in every namespace; runtime image for resources naming none: {IMAGE}"
        )
    finally:
        operator.stop()


def test_an_elected_namespaced_operator_names_its_namespaces_and_its_lease(
    install_operator: InstallOperator, make_namespace: NamespaceMaker
) -> None:
    suffix = uuid.uuid4().hex[:6]
    team_a, team_b = make_namespace(f"team-a-{suffix}"), make_namespace(f"team-b-{suffix}")
    installed = install_operator(team_a, team_b)

    leader = installed.start_elected()
    eventually(leader.reconciling, what="the first replica leading")
    standby = installed.start_elected()

    said = (
        f"serving AgentOSConfig resources in namespaces {team_a}, {team_b} only (resources elsewhere get no status),"
        f" while holding Lease {installed.service_account}; runtime image for resources naming none: {IMAGE}"
    )
    assert first_line(leader) == said
    assert first_line(standby) == said, "a replica on standby says it too"
    assert not standby.reconciling()
    assert leader.output().count("serving AgentOSConfig resources") == 1
