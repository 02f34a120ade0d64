"""On a real API server, what is converged stays untouched: a no-op resync makes zero writes
(server-side defaults and dropped empty values are not drift), and a spec whose children the
API server would refuse leaves every existing child exactly as it was."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from agentos_operator import render
from agentos_operator.resources import parse_resource

from tests.cluster.conftest import (
    CHILD_RESOURCES,
    POSTGRES,
    ControlPlane,
    Installed,
    InstallOperator,
    OperatorProcess,
    agentos_body,
    eventually,
    operator_running,
    wait_ready,
    wait_until_condition,
)
from tests.operator.offline.inputs import EXAMPLE_NAMES, STAND_INS, load_example

# Fields the API server does not store as sent: empty strings, lists and maps are dropped
# (Go's omitempty), quantities are rewritten canonically, ports and protocols defaulted.
EMPTY_AND_DEFAULTED: dict[str, Any] = {
    "env": [{"name": "EMPTY", "value": ""}, {"name": "SET", "value": "x"}],
    "envFrom": [],
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "", "effect": "NoSchedule"}],
    "nodeSelector": {},
    "podAnnotations": {},
    "affinity": {},
    "resources": {"requests": {"cpu": "0.1", "memory": "0.125Gi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}},
}


def resync_and_count_writes(
    cluster: ControlPlane, installed: Installed, operator: OperatorProcess, count: int
) -> list[str]:
    """SIGUSR1, wait until ``count`` more reconciles ended, and list what the operator wrote meanwhile."""
    mark = cluster.audit_mark()
    before = operator.reconciles()
    operator.resync()
    eventually(lambda: operator.reconciles() >= before + count, what=f"{count} reconciles of the resync")
    return [f"{w['verb']} {w['requestURI']}" for w in installed.writes(mark)]


def example_config_maps(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Stand-ins for the ConfigMaps ``body``'s knowledge sources mount, with the keys they list."""
    wanted = render.required_config_maps(parse_resource(body))
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {key: f"# {key}\n\nA stand-in document.\n" for key in sorted(keys) or ["readme.md"]},
        }
        for name, keys in wanted.items()
    ]


def test_a_no_op_resync_makes_no_write_for_any_example_or_for_values_the_server_drops(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    operator = installed.start()
    bodies = [load_example(name) for name in EXAMPLE_NAMES]
    # The Secrets a user creates (the security keys of the examples naming none, the operator generates).
    for secret in yaml.safe_load_all(STAND_INS.read_text(encoding="utf-8")):
        control_plane.apply(secret, namespace)
    for body in bodies:
        body["metadata"].pop("namespace", None)
        # The ConfigMaps an example's knowledge sources mount are the user's to create, as its Secrets.
        for config_map in example_config_maps(body):
            control_plane.apply(config_map, namespace)
    bodies.append(agentos_body("empties", **copy.deepcopy(EMPTY_AND_DEFAULTED)))
    for body in bodies:
        control_plane.apply(body, namespace)
    for body in bodies:
        wait_ready(control_plane, namespace, body["metadata"]["name"])
    # Readiness is reported as pods come up: wait until the last status write is behind us.
    eventually(
        lambda: resync_and_count_writes(control_plane, installed, operator, len(bodies)) == [],
        timeout=60,
        what="a quiet resync",
    )

    for _ in range(3):
        assert resync_and_count_writes(control_plane, installed, operator, len(bodies)) == []
    assert installed.refused() == []


def ready_children(cluster: ControlPlane, namespace: str, name: str) -> dict[str, str]:
    """Each child's kind/name -> resourceVersion."""
    versions = {}
    for kind in CHILD_RESOURCES:
        for item in cluster.items(kind, namespace, "-l", f"app.kubernetes.io/instance={name}"):
            versions[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return versions


# (what is wrong, the spec fields that make it so, words of the API server's message)
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    (
        "requests above limits",
        {"resources": {"requests": {"cpu": "2", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}},
        "spec.template.spec.containers[0].resources.requests",
    ),
    (
        "a bad CIDR",
        {"networkPolicy": {"enabled": True, "ingressFrom": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}},
        "spec.ingress[0].from[0].ipBlock.cidr",
    ),
    (
        "an env name declared twice",
        {"env": [{"name": "DUP", "value": "1"}, {"name": "DUP", "value": "2"}]},
        "DUP",
    ),
    ("the metrics port on the HTTP port", {"prometheus": {"port": 7777}}, "containerPort"),
    (
        "a ConfigMap over 1 MiB",
        {"agents": [{"id": f"a{i}", "instructions": ["x" * 60_000]} for i in range(18)]},
        "may not be more than 1048576 bytes",
    ),
]


def test_a_new_resource_the_api_server_would_refuse_writes_nothing_not_even_its_security_key(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator_running(control_plane, namespace, install_operator, postgres=True)
    bad = agentos_body("demo", databases=POSTGRES)
    bad["spec"].update(copy.deepcopy(REFUSED[0][1]))
    control_plane.apply(bad, namespace)

    wait_until_condition(control_plane, namespace, "Ready", reason="ChildRejected")
    assert ready_children(control_plane, namespace, "demo") == {}
    assert control_plane.get("secret", "demo-security-key", namespace) is None


@pytest.mark.parametrize(("spec", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_spec_the_api_server_would_refuse_leaves_every_child_as_it_was(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator, spec: dict[str, Any], words: str
) -> None:
    operator_running(control_plane, namespace, install_operator, postgres=True)
    good = agentos_body("demo", databases=POSTGRES)
    control_plane.apply(good, namespace)
    wait_ready(control_plane, namespace, "demo")
    before = ready_children(control_plane, namespace, "demo")

    bad = copy.deepcopy(good)
    bad["spec"].update(copy.deepcopy(spec))
    control_plane.apply(bad, namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", reason="ChildRejected")
    assert ready["status"] == "False"
    assert "the API server refuses" in ready["message"] and words in ready["message"], ready["message"]
    assert ready_children(control_plane, namespace, "demo") == before
    events = control_plane.items("events", namespace, "--field-selector", "involvedObject.name=demo")
    assert any(e["reason"] == "ChildRejected" and e["type"] == "Warning" for e in events)

    control_plane.apply(good, namespace)
    wait_until_condition(control_plane, namespace, "Ready", status="True")
