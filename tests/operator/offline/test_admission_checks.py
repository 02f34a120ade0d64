"""Children the API server would refuse are caught offline, each at the spec field to change, with the fix."""

import copy
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from agentos_operator import render
from agentos_operator.cli import main
from agentos_operator.commands.validate import resource_problems
from agentos_operator.render.checks import CONFIG_MAP_MAX_BYTES, check_manifests, quantity_value
from agentos_operator.resources import parse_resource, validate_resource

from tests.operator.offline.inputs import resource_body

MODEL = {"id": "gpt-4o-mini", "apiKeySecretRef": {"name": "openai", "key": "api-key"}}


def spec(**changes: Any) -> dict[str, Any]:
    return {"models": [MODEL], "agents": [{"id": "a"}], **copy.deepcopy(changes)}


def policy(*peers: dict[str, Any]) -> dict[str, Any]:
    return {"enabled": True, "ingressFrom": list(peers)}


def instructions(total_bytes: int) -> list[dict[str, Any]]:
    """One agent whose instructions take about ``total_bytes`` of the rendered config."""
    line = "Answer in the house style. " * 40
    return [{"id": "a", "instructions": [line] * (total_bytes // len(line))}]


# (what is wrong, the spec, the path reported, words of the message)
REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "memory request above its limit",
        spec(resources={"requests": {"memory": "1Gi"}, "limits": {"memory": "1000Mi"}}),
        "spec.resources.requests.memory",
        "the request 1Gi is above the limit 1000Mi (spec.resources.limits.memory), which the API server refuses:"
        " lower the request or raise the limit",
    ),
    (
        "CPU request above its limit, spelt differently",
        spec(resources={"requests": {"cpu": "1.5"}, "limits": {"cpu": "1200m"}}),
        "spec.resources.requests.cpu",
        "the request 1500m is above the limit 1200m",
    ),
    (
        "a limit below the default request",
        spec(resources={"limits": {"memory": "64Mi"}}),
        "spec.resources.requests.memory",
        "the request 128Mi (the default when spec.resources.requests is omitted) is above the limit 64Mi",
    ),
    (
        "a prefix length past 32",
        spec(networkPolicy=policy({"ipBlock": {"cidr": "10.0.0.0/33"}})),
        "spec.networkPolicy.ingressFrom[0].ipBlock.cidr",
        "'10.0.0.0/33' is not a CIDR: write an address and a prefix length, e.g. 10.0.0.0/8 or fd00::/64",
    ),
    (
        "an address without a prefix length",
        spec(networkPolicy=policy({"podSelector": {}}, {"ipBlock": {"cidr": "192.168.1.7"}})),
        "spec.networkPolicy.ingressFrom[1].ipBlock.cidr",
        "'192.168.1.7' is not a CIDR",
    ),
    (
        "a netmask instead of a prefix length",
        spec(networkPolicy=policy({"ipBlock": {"cidr": "10.0.0.0/255.0.0.0"}})),
        "spec.networkPolicy.ingressFrom[0].ipBlock.cidr",
        "is not a CIDR",
    ),
    (
        "an ipBlock without its cidr",
        spec(networkPolicy=policy({"ipBlock": {"except": ["10.0.0.0/24"]}})),
        "spec.networkPolicy.ingressFrom[0].ipBlock.cidr",
        "required field is missing: give a range such as 10.0.0.0/8",
    ),
    (
        "an except entry that is no CIDR",
        spec(networkPolicy=policy({"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.2.0.0/99"]}})),
        "spec.networkPolicy.ingressFrom[0].ipBlock.except[1]",
        "'10.2.0.0/99' is not a CIDR",
    ),
    (
        "an except entry outside its cidr",
        spec(networkPolicy=policy({"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}})),
        "spec.networkPolicy.ingressFrom[0].ipBlock.except[0]",
        "'10.1.0.0/24' is not a smaller range inside cidr '10.0.0.0/16'",
    ),
    (
        "an except entry as wide as its cidr",
        spec(networkPolicy=policy({"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.0.0/16"]}})),
        "spec.networkPolicy.ingressFrom[0].ipBlock.except[0]",
        "not a smaller range inside cidr",
    ),
    (
        "an IPv4 except entry in an IPv6 cidr",
        spec(networkPolicy=policy({"ipBlock": {"cidr": "fd00::/8", "except": ["10.0.0.0/24"]}})),
        "spec.networkPolicy.ingressFrom[0].ipBlock.except[0]",
        "not a smaller range inside cidr 'fd00::/8'",
    ),
    (
        "a variable named twice",
        spec(env=[{"name": "LOG_LEVEL", "value": "info"}, {"name": "TZ", "value": "UTC"}, {"name": "LOG_LEVEL"}]),
        "spec.env[2].name",
        "'LOG_LEVEL' is already set by spec.env[0]: a container may name a variable once (server-side apply"
        " refuses the Deployment otherwise); remove one of them",
    ),
    (
        "the metrics port on the HTTP port",
        spec(prometheus={"port": 7777}),
        "spec.prometheus.port",
        "7777 is the runtime's HTTP port: the metrics endpoint needs a port of its own (server-side apply refuses"
        " two container ports on one number); choose another, e.g. the default 9464",
    ),
    (
        "a config over 1 MiB",
        spec(agents=instructions(CONFIG_MAP_MAX_BYTES * 21 // 20)),
        "spec.agents",
        "ConfigMap 'demo-config') takes",
    ),
    (
        # etcd refused it (500, request too large) though its dry run passed: half the children
        # were written and the status stayed Ready.
        "a Deployment past what etcd stores",
        spec(env=[{"name": "A" * 800_000, "value": "x"}]),
        "spec.env",
        "the Deployment 'demo' would take",
    ),
]

# (what is fine, the spec): close to each refusal above, and accepted by the API server.
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    (
        "a request equal to its limit, spelt differently",
        spec(resources={"requests": {"cpu": "1.5"}, "limits": {"cpu": "1500m"}}),
    ),
    ("a request with no limit", spec(resources={"requests": {"memory": "4Gi"}, "limits": {}})),
    ("a limit with no request", spec(resources={"requests": {"cpu": "100m"}, "limits": {"memory": "64Mi"}})),
    (
        "host bits in a cidr, as Go's parser allows",
        spec(networkPolicy=policy({"ipBlock": {"cidr": "10.0.0.7/8", "except": ["10.9.0.0/16"]}})),
    ),
    ("an IPv6 range", spec(networkPolicy=policy({"ipBlock": {"cidr": "fd00::/8", "except": ["fd00:1::/32"]}}))),
    (
        "a bad CIDR in a disabled policy",
        spec(networkPolicy={"enabled": False, "ingressFrom": [{"ipBlock": {"cidr": "x"}}]}),
    ),
    (
        "a variable the operator sets and leaves to the user",
        spec(env=[{"name": "AGENTOS_RUN_GRACE_SECONDS", "value": "60"}]),
    ),
    ("the HTTP port for metrics that are off", spec(prometheus={"enabled": False, "port": 7777})),
    ("a config just under 1 MiB", spec(agents=instructions(CONFIG_MAP_MAX_BYTES * 9 // 10))),
    ("a Deployment just under 512 KiB", spec(env=[{"name": "A" * 400_000, "value": "x"}])),
]


@pytest.mark.parametrize(("body_spec", "path", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_each_child_the_api_server_would_refuse_is_reported_at_the_field_to_change(
    body_spec: dict[str, Any], path: str, words: str
) -> None:
    body = resource_body(body_spec)
    assert validate_resource(body) == []  # the spec alone passes: only its children give it away
    reported = [str(p) for p in resource_problems(body)]
    assert any(line.startswith(f"{path}: ") and words in line for line in reported), reported


@pytest.mark.parametrize("body_spec", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_what_the_api_server_accepts_passes(body_spec: dict[str, Any]) -> None:
    assert resource_problems(resource_body(body_spec)) == []


def test_the_tables_cover_every_check_on_both_sides() -> None:
    assert len({c[0] for c in REFUSED}) == len(REFUSED) >= 12
    assert len({c[0] for c in ACCEPTED}) == len(ACCEPTED) >= 8


def test_several_refusals_are_reported_together() -> None:
    body = resource_body(
        spec(
            resources={"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}},
            prometheus={"port": 7777},
            env=[{"name": "A"}, {"name": "A"}],
        )
    )
    paths = [str(p).split(":")[0] for p in resource_problems(body)]
    assert paths == ["spec.resources.requests.memory", "spec.env[1].name", "spec.prometheus.port"]


def test_validate_prints_a_refused_child_with_file_resource_and_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(
        "apiVersion: agentos.dev/v1alpha1\nkind: AgentOSConfig\nmetadata: {name: demo}\n"
        "spec:\n  models: [{id: m}]\n  agents: [{id: a}]\n  prometheus: {port: 7777}\n"
    )
    assert main(["validate", "-f", str(path)]) == 1
    assert capsys.readouterr().out.startswith(
        f"{path}: AgentOSConfig/demo: spec.prometheus.port: 7777 is the runtime's"
    )


def test_render_prints_nothing_the_api_server_would_refuse(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "cr.yaml"
    path.write_text(
        "apiVersion: agentos.dev/v1alpha1\nkind: AgentOSConfig\nmetadata: {name: demo}\n"
        "spec:\n  models: [{id: m}]\n  agents: [{id: a}]\n  resources: {limits: {memory: 64Mi}}\n"
    )
    assert main(["render", "-f", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{path}: AgentOSConfig/demo: spec.resources.requests.memory: the request 128Mi" in captured.err


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250m", Fraction(1, 4)),
        ("1", Fraction(1)),
        ("1.5", Fraction(3, 2)),
        ("1Ki", Fraction(1024)),
        ("1Gi", Fraction(2**30)),
        ("1G", Fraction(10**9)),
        ("1e3", Fraction(1000)),
        ("5E-3", Fraction(1, 200)),
        ("100n", Fraction(1, 10**7)),
        ("-2k", Fraction(-2000)),
    ],
)
def test_quantities_compare_by_value(text: str, value: Fraction) -> None:
    assert quantity_value(text) == value


def test_a_quantity_that_is_none_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity: 'lots'"):
        quantity_value("lots")


def test_a_variable_the_operator_set_twice_is_reported_even_without_a_spec_entry() -> None:
    # Render lets a declared variable replace its own; should that ever break, the check still tells.
    resource = parse_resource(resource_body(spec()))
    manifests = render.render(resource, render.placeholder_secrets(resource), settings=render.RenderSettings("img"))
    [deployment] = [m for m in manifests if m["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [*container["env"], dict(container["env"][0])]
    assert [str(p).split(":")[0] for p in check_manifests(resource, manifests)] == ["spec.env"]
