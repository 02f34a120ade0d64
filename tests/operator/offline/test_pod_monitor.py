"""spec.prometheus.podMonitor: the PodMonitor render makes of it (only when enabled), what is
refused (at the field), that the form the API server stores it in is no drift, and what
``agentos render`` and ``agentos validate`` say of it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from agentos_operator import drift, render
from agentos_operator.cli import main
from agentos_operator.resources import AgentOSResource, parse_resource, validate_resource

from tests.operator.offline.inputs import load_example, resource_body

SETTINGS = render.RenderSettings(default_image="registry.example/agentos:1")


def spec(**extra: Any) -> dict[str, Any]:
    return {
        "models": [{"id": "m", "apiKeySecretRef": {"name": "openai", "key": "api-key"}}],
        "agents": [{"id": "a", "model": "m"}],
        **extra,
    }


def resource(**extra: Any) -> AgentOSResource:
    body = resource_body(spec(**extra))
    body["metadata"]["uid"] = "uid-1"
    return parse_resource(body)


def manifests(res: AgentOSResource) -> list[dict[str, Any]]:
    return render.render(res, render.placeholder_secrets(res), settings=SETTINGS)


def monitor_of(res: AgentOSResource) -> dict[str, Any] | None:
    found = [m for m in manifests(res) if m["kind"] == "PodMonitor"]
    assert len(found) <= 1
    return found[0] if found else None


def problems(prometheus: dict[str, Any]) -> list[str]:
    return [str(problem) for problem in validate_resource(resource_body(spec(prometheus=prometheus)))]


def test_an_enabled_pod_monitor_selects_exactly_the_runtime_pods_and_scrapes_the_metrics_port_by_name() -> None:
    res = resource(prometheus={"port": 9500, "podMonitor": {"enabled": True}})
    monitor = monitor_of(res)
    deployment = next(m for m in manifests(res) if m["kind"] == "Deployment")

    assert monitor is not None
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert (monitor["metadata"]["name"], monitor["metadata"]["namespace"]) == ("demo", res.namespace)
    # The Deployment's own selector: the pods of this resource, no other.
    assert monitor["spec"]["selector"] == deployment["spec"]["selector"]
    assert "namespaceSelector" not in monitor["spec"], "its own namespace only"
    [container] = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "agentos"]
    named = {port["name"]: port["containerPort"] for port in container["ports"]}
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint == {"port": "metrics", "path": "/metrics"}
    assert named[endpoint["port"]] == 9500
    # Owned and labelled as every other child, so it is watched, pruned and collected with the resource.
    service = next(m for m in manifests(res) if m["kind"] == "Service")
    assert monitor["metadata"]["ownerReferences"] == service["metadata"]["ownerReferences"]
    assert monitor["metadata"]["labels"] == service["metadata"]["labels"]


def test_labels_and_interval_are_the_pod_monitors_when_asked() -> None:
    asked = {"enabled": True, "labels": {"release": "kube-prometheus-stack"}, "interval": "15s"}
    monitor = monitor_of(resource(prometheus={"podMonitor": asked}))

    assert monitor is not None
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "agentos-operator"
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]


@pytest.mark.parametrize(
    "prometheus",
    [
        None,
        {},
        {"enabled": True},
        {"podMonitor": {}},
        {"podMonitor": {"enabled": False, "labels": {"release": "x"}, "interval": "1m"}},
        {"enabled": False, "podMonitor": {"enabled": False}},
    ],
)
def test_no_pod_monitor_is_rendered_unless_enabled_and_nothing_else_changes(prometheus: dict[str, Any] | None) -> None:
    res = resource(**({"prometheus": prometheus} if prometheus is not None else {}))
    assert monitor_of(res) is None
    # The other children are those of the same spec without the block: an upgrade changes nothing.
    without = dict(prometheus or {})
    without.pop("podMonitor", None)
    assert manifests(res) == manifests(resource(prometheus=without))


def test_turning_the_pod_monitor_on_rolls_no_pod() -> None:
    off, on = resource(), resource(prometheus={"podMonitor": {"enabled": True}})
    assert [m for m in manifests(on) if m["kind"] != "PodMonitor"] == manifests(off)


def test_the_pod_monitor_comes_last_in_the_apply_order() -> None:
    res = resource(
        ingress={"enabled": True, "host": "agents.example.com"}, prometheus={"podMonitor": {"enabled": True}}
    )
    assert [m["kind"] for m in manifests(res)][-2:] == ["Ingress", "PodMonitor"]


@pytest.mark.parametrize(
    ("prometheus", "field", "words"),
    [
        (
            {"enabled": False, "podMonitor": {"enabled": True}},
            "spec.prometheus.podMonitor.enabled",
            "needs prometheus.enabled",
        ),
        (
            {"podMonitor": {"enabled": True, "interval": "30"}},
            "spec.prometheus.podMonitor.interval",
            "not a Prometheus",
        ),
        ({"podMonitor": {"interval": "1h30"}}, "spec.prometheus.podMonitor.interval", "not a Prometheus duration"),
        ({"podMonitor": {"interval": "30m1h"}}, "spec.prometheus.podMonitor.interval", "not a Prometheus duration"),
        ({"podMonitor": {"interval": ""}}, "spec.prometheus.podMonitor.interval", "at least 2"),
        ({"podMonitor": {"interval": "30 s"}}, "spec.prometheus.podMonitor.interval", "not a Prometheus duration"),
        (
            {"podMonitor": {"labels": {"app.kubernetes.io/instance": "other"}}},
            "spec.prometheus.podMonitor.labels.app.kubernetes.io/instance",
            "a label the operator sets",
        ),
    ],
)
def test_a_bad_pod_monitor_is_refused_at_its_field(prometheus: dict[str, Any], field: str, words: str) -> None:
    found = problems(prometheus)
    assert len(found) == 1, found
    assert found[0].startswith(f"{field}:"), found
    assert words.lower() in found[0].lower(), found


@pytest.mark.parametrize(
    "prometheus",
    [
        {"podMonitor": {"enabled": True}},
        {"podMonitor": {"enabled": True, "interval": "30s", "labels": {"release": "prom"}}},
        {"podMonitor": {"enabled": True, "interval": "1m30s"}},
        {"podMonitor": {"enabled": True, "interval": "500ms"}},
        {"enabled": False, "podMonitor": {"enabled": False, "interval": "2h"}},
    ],
)
def test_a_good_pod_monitor_is_accepted(prometheus: dict[str, Any]) -> None:
    assert problems(prometheus) == []


def test_pod_monitor_label_keys_and_values_the_api_server_would_refuse_are_named() -> None:
    labels = {"-bad": "v", "example.com/ok": "v", "team": "not ok!"}
    res = resource(prometheus={"podMonitor": {"enabled": True, "labels": labels}})
    found = sorted(str(problem) for problem in render.check_manifests(res, manifests(res)))
    assert len(found) == 2, found
    assert found[0].startswith("spec.prometheus.podMonitor.labels.-bad:") and "not a valid label key" in found[0]
    assert found[1].startswith("spec.prometheus.podMonitor.labels.team:") and "not a valid label value" in found[1]


def stored(manifest: dict[str, Any]) -> dict[str, Any]:
    """The PodMonitor as the API server keeps it: the metadata the server adds, a label another tool adds."""
    live = copy.deepcopy(manifest)
    live["metadata"].update(uid="u", resourceVersion="42", generation=1, creationTimestamp="2026-01-01T00:00:00Z")
    live["metadata"]["labels"]["team.example/owner"] = "platform"
    return live


def test_the_stored_pod_monitor_is_no_drift_and_an_edit_of_ours_is() -> None:
    asked = {"enabled": True, "labels": {"release": "prom"}, "interval": "30s"}
    manifest = drift.stamped(monitor_of(resource(prometheus={"podMonitor": asked})) or {})
    live = stored(manifest)
    assert not drift.drifted(live, manifest)

    for edit in (
        lambda body: body["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/instance": "other"}),
        lambda body: body["spec"]["podMetricsEndpoints"][0].update(port="http"),
        lambda body: body["spec"]["podMetricsEndpoints"][0].update(interval="5m"),
        lambda body: body["metadata"]["labels"].update(release="other"),
    ):
        edited = copy.deepcopy(live)
        edit(edited)
        assert drift.drifted(edited, manifest)


def monitored_example(tmp_path: Path, **pod_monitor: Any) -> Path:
    body = load_example("minimal-sqlite")
    body["spec"]["prometheus"] = {"podMonitor": pod_monitor}
    path = tmp_path / "cr.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_agentos_render_prints_the_pod_monitor_when_enabled_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["render", str(monitored_example(tmp_path, enabled=True, labels={"release": "prom"}))]) == 0
    kinds = [document["kind"] for document in yaml.safe_load_all(capsys.readouterr().out)]
    assert kinds[-1] == "PodMonitor" and kinds.count("PodMonitor") == 1

    assert main(["render", str(monitored_example(tmp_path, enabled=False))]) == 0
    assert "PodMonitor" not in [document["kind"] for document in yaml.safe_load_all(capsys.readouterr().out)]


def test_agentos_validate_names_a_pod_monitor_label_the_api_server_would_refuse_and_the_missing_metrics(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = monitored_example(tmp_path, enabled=True, labels={"-bad": "x"})
    assert main(["validate", str(path)]) == 1
    assert "spec.prometheus.podMonitor.labels.-bad: '-bad' is not a valid label key" in capsys.readouterr().out

    body = yaml.safe_load(path.read_text())
    body["spec"]["prometheus"] = {"enabled": False, "podMonitor": {"enabled": True}}
    path.write_text(yaml.safe_dump(body))
    assert main(["validate", str(path)]) == 1
    assert "spec.prometheus.podMonitor.enabled: prometheus.podMonitor.enabled needs prometheus.enabled" in (
        capsys.readouterr().out
    )
