"""The real API server judges what the offline checks judge: the CRD's CEL rules (through
cel-python offline), every example, every rendered child."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from agentos_operator import render
from agentos_operator.resources import parse_resource

from tests.cluster.conftest import CHART, ControlPlane, Kubectl
from tests.operator.offline.crd_schema import cel_violations
from tests.operator.offline.inputs import (
    EXAMPLE_NAMES,
    FIXED_UID,
    STAND_INS,
    example_secret_values,
    load_example,
    resource_body,
)
from tests.operator.offline.test_crd import CEL_CASES, open_api_schema
from tests.operator.offline.test_passthrough_checks import BASE, PASSTHROUGH_CASES


def server_verdict(cluster: Kubectl, body: dict[str, Any], namespace: str) -> tuple[bool, str]:
    """(accepted, the API server's message) for ``kubectl apply --dry-run=server``."""
    sent = copy.deepcopy(body)
    sent["metadata"]["namespace"] = namespace
    result = cluster.run(
        "apply", "--dry-run=server", "--server-side", "-n", namespace, "-f", "-", input=json.dumps(sent), check=False
    )
    return result.returncode == 0, result.stderr.strip()


@pytest.mark.parametrize("body", [c[1] for c in CEL_CASES], ids=[c[0] for c in CEL_CASES])
def test_the_api_server_and_cel_python_agree_on_each_cel_case(
    control_plane: ControlPlane, namespace: str, body: dict[str, Any]
) -> None:
    offline = cel_violations(open_api_schema(), body)
    accepted, message = server_verdict(control_plane, body, namespace)
    assert accepted == (not offline), f"cel-python: {offline}; API server: {message or 'accepted'}"


def test_the_api_server_names_the_rule_it_refused(control_plane: ControlPlane, namespace: str) -> None:
    refused = next(body for name, body in CEL_CASES if name == "sqlite with three replicas")
    accepted, message = server_verdict(control_plane, refused, namespace)
    assert not accepted
    assert "spec" in message and "replica" in message, message


def test_the_api_server_names_metadata_name_for_a_name_a_service_cannot_take(
    control_plane: ControlPlane, namespace: str
) -> None:
    refused = next(body for name, body in CEL_CASES if name == "name with a dot")
    accepted, message = server_verdict(control_plane, refused, namespace)
    assert not accepted
    assert "metadata.name: Invalid value" in message and "<nil>" not in message, message


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_is_accepted_by_the_api_server(control_plane: ControlPlane, namespace: str, name: str) -> None:
    accepted, message = server_verdict(control_plane, load_example(name), namespace)
    assert accepted, message


def test_the_example_secrets_are_accepted_by_the_api_server(control_plane: ControlPlane, namespace: str) -> None:
    text = STAND_INS.read_text(encoding="utf-8")
    control_plane.run("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=text)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_rendered_child_of_every_example_is_accepted_by_the_api_server(
    control_plane: ControlPlane, namespace: str, name: str
) -> None:
    body = load_example(name)
    body["metadata"].update(namespace=namespace, uid=FIXED_UID)
    manifests = render.render(
        parse_resource(body), example_secret_values(), settings=render.RenderSettings(default_image="example/runtime:1")
    )
    assert manifests
    listing = {"apiVersion": "v1", "kind": "List", "items": manifests}
    result = control_plane.run(
        "apply", "--dry-run=server", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump(listing)
    )
    assert result.stdout.count("serverside-applied") == len(manifests), result.stdout


@pytest.mark.parametrize(
    "values",
    [
        (),
        ("--set", "rbac.namespaces={team-a,team-b}"),
        ("--set", "replicaCount=2", "--set", "podDisruptionBudget.enabled=true"),
    ],
    ids=["cluster-wide", "namespaced", "two-replicas"],
)
def test_every_object_the_chart_renders_is_accepted_by_the_api_server(
    control_plane: ControlPlane, values: tuple[str, ...]
) -> None:
    # The chart's own copy of the CRD included: what `helm install` sends, judged as it would be.
    rendered = control_plane.helm(
        "template",
        "agentos-operator",
        str(CHART),
        "-n",
        "agentos-system",
        "--set",
        "networkPolicy.enabled=true",
        *values,
    ).stdout
    documents = [d for d in yaml.safe_load_all(rendered) if d]
    assert {d["kind"] for d in documents} >= {"CustomResourceDefinition", "Deployment", "ServiceAccount"}
    for namespace in ("agentos-system", "team-a", "team-b"):
        control_plane.run("create", "namespace", namespace, check=False)

    result = control_plane.run(
        "apply", "--dry-run=server", "--server-side", "--force-conflicts", "-f", "-", input=rendered
    )

    assert result.stdout.count("serverside-applied") == len(documents), result.stdout


def one_at_a_time(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """``spec`` split so that each handed-on object stands alone: each item of its lists (each
    peer and each egress port of a network policy) in a spec of its own."""
    alone: list[dict[str, Any]] = []
    for key, value in spec.items():
        if key == "networkPolicy":
            policy = {k: v for k, v in value.items() if k not in ("ingressFrom", "egress")}
            alone += [{key: {**policy, "ingressFrom": [peer]}} for peer in value.get("ingressFrom") or []]
            for rule in value.get("egress") or []:
                alone += [{key: {**policy, "restrictEgress": True, "egress": [{"to": [peer]}]}} for peer in rule["to"]]
                alone += [{key: {**policy, "restrictEgress": True, "egress": [{"ports": [p]}]}} for p in rule["ports"]]
        elif isinstance(value, list):
            alone += [{key: [item]} for item in value]
        else:
            alone.append({key: value})
    return alone


SINGLE_PASSTHROUGH_CASES = [
    (f"{name} {index}", single)
    for name, spec, _ in PASSTHROUGH_CASES
    for index, single in enumerate(one_at_a_time(spec))
]


@pytest.mark.parametrize("spec", [c[1] for c in SINGLE_PASSTHROUGH_CASES], ids=[c[0] for c in SINGLE_PASSTHROUGH_CASES])
def test_the_api_server_refuses_a_handed_on_object_exactly_when_the_offline_checks_do(
    control_plane: ControlPlane, namespace: str, spec: dict[str, Any]
) -> None:
    body = resource_body({**BASE, **spec})
    body["metadata"].update(namespace=namespace, uid=FIXED_UID)
    resource = parse_resource(body)
    manifests = render.render(
        resource,
        render.placeholder_secrets(resource),
        settings=render.RenderSettings(default_image="example/runtime:1"),
    )
    offline = [str(p) for p in render.check_manifests(resource, manifests)]
    listing = {"apiVersion": "v1", "kind": "List", "items": manifests}
    result = control_plane.run(
        "apply",
        "--dry-run=server",
        "--server-side",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump(listing),
        check=False,
    )
    assert (result.returncode == 0) == (not offline), f"offline: {offline}; API server: {result.stderr.strip()}"
