"""The chart's PrometheusRule: rendered by helm, loaded by Prometheus' own promtool (`check rules`)
and its alerts evaluated over synthetic series (`test rules`), so each fires when it should, with
the labels and the text its template promises, and stays quiet otherwise.

promtool is built from Prometheus' source by scripts/install-promtool.sh (scripts/test.sh runs it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.test_chart import CHART, of_kind, refusal, render

ROOT = Path(__file__).resolve().parents[2]
ENABLED = ["--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true"]
OPERATOR = 'job="rel-agentos-operator-metrics", namespace="agentos-system"'
RUNTIME = 'namespace="team-a", job="team-a/research", pod="research-5d8f7-k2x9q"'


@pytest.fixture(scope="module")
def promtool() -> str:
    built = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-promtool.sh")], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, f"promtool could not be built: {built.stderr[-2000:]}"
    return built.stdout.strip()


def rule_of(helm: list[str], *args: str) -> dict[str, Any]:
    [rule] = of_kind(render(helm, *ENABLED, *args), "PrometheusRule")
    return rule


def alerts(rule: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def promtool_run(promtool: str, tmp_path: Path, rule: dict[str, Any], *tests: dict[str, Any]) -> str:
    """``promtool test rules`` over the rule's groups as Prometheus loads them; fails the test on any failure."""
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    checked = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    suite = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": list(tests)}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(tmp_path / "tests.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def fired(rule: dict[str, Any], name: str, labels: dict[str, str], **said: str) -> dict[str, Any]:
    """The alert ``name`` as Prometheus fires it: ``labels`` (its rule's severity and the chart's
    alertLabels added) and its annotations, whose templates are filled with ``said`` (fragment -> text)."""
    definition = alerts(rule)[name]
    annotations = {}
    for key, text in definition["annotations"].items():
        for fragment, value in said.items():
            text = text.replace(fragment, value)
        assert "{{" not in text, f"{name}'s {key} has a template the test does not fill: {text}"
        annotations[key] = text
    return {"exp_labels": {**labels, **definition["labels"]}, "exp_annotations": annotations}


def test_no_rule_unless_asked_and_none_without_the_service_monitor_its_operator_alerts_select_by(
    helm: list[str], tmp_path: Path
) -> None:
    assert of_kind(render(helm), "PrometheusRule") == []
    stderr = refusal(helm, tmp_path, {"metrics": {"prometheusRule": {"enabled": True}}})
    assert "metrics.prometheusRule.enabled=true with metrics.serviceMonitor.enabled=false" in stderr
    assert "set metrics.serviceMonitor.enabled=true, or metrics.prometheusRule.enabled=false" in stderr


def test_the_operator_alerts_select_the_job_the_service_monitor_gives_the_charts_metrics_service(
    helm: list[str],
) -> None:
    docs = render(helm, *ENABLED)
    [service] = [d for d in of_kind(docs, "Service") if d["metadata"]["name"].endswith("-metrics")]
    [monitor] = of_kind(docs, "ServiceMonitor")
    [rule] = of_kind(docs, "PrometheusRule")

    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert "jobLabel" not in monitor["spec"], "the job is then the Service's name"
    selector = f'job="{service["metadata"]["name"]}", namespace="{service["metadata"]["namespace"]}"'
    for group in rule["spec"]["groups"]:
        if group["name"] == "agentos-operator":
            assert all(selector in r["expr"] for r in group["rules"]), group


def test_labels_of_the_rule_and_of_its_alerts_are_the_users_and_the_charts_are_not_overridden(
    helm: list[str], tmp_path: Path
) -> None:
    rule = rule_of(
        helm,
        "--set",
        "metrics.prometheusRule.labels.release=prometheus",
        "--set",
        "metrics.prometheusRule.alertLabels.team=platform",
    )

    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert all(a["labels"]["team"] == "platform" and a["labels"]["severity"] for a in alerts(rule).values())
    values = {"metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}}
    values["metrics"]["prometheusRule"]["labels"] = {"app.kubernetes.io/instance": "x"}
    assert "metrics.prometheusRule.labels sets" in refusal(helm, tmp_path, values)
    values["metrics"]["prometheusRule"] = {"enabled": True, "alertLabels": {"severity": "page"}}
    assert "metrics.prometheusRule.alertLabels" in refusal(helm, tmp_path, values)


def test_runtime_alerts_can_be_left_out(helm: list[str]) -> None:
    rule = rule_of(helm, "--set", "metrics.prometheusRule.runtimeAlerts=false")
    assert [group["name"] for group in rule["spec"]["groups"]] == ["agentos-operator"]


@pytest.mark.parametrize(
    ("field", "value"), [("notReadyFor", "15 minutes"), ("runErrorPercent", 0), ("runErrorPercent", 101), ("runErrorPercent", 0.5), ("runErrorPercent", "10\n    - alert: X")]
)  # fmt: skip
def test_bad_alert_settings_are_refused_naming_them(helm: list[str], tmp_path: Path, field: str, value: Any) -> None:
    values = {"metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True, field: value}}}
    assert f"metrics.prometheusRule.{field}" in refusal(helm, tmp_path, values)


def test_the_operator_alerts_fire_when_it_is_down_idle_failing_refused_or_its_resources_are_not_ready(
    helm: list[str], promtool: str, tmp_path: Path
) -> None:
    rule = rule_of(helm, "--set", "metrics.prometheusRule.alertLabels.team=platform")
    team = {"team": "platform"}
    down = {
        "interval": "1m",
        "input_series": [{"series": f'up{{{OPERATOR}, pod="op-1"}}', "values": "1x5 0x20"}],
        "alert_rule_test": [
            {"eval_time": "9m", "alertname": "AgentOSOperatorDown", "exp_alerts": []},
            {"eval_time": "12m", "alertname": "AgentOSOperatorDown", "exp_alerts": [fired(rule, "AgentOSOperatorDown", team)]},
        ],
    }  # fmt: skip
    never_scraped = {
        "interval": "1m",
        "input_series": [{"series": 'up{job="someone-else", namespace="agentos-system"}', "values": "1x10"}],
        "alert_rule_test": [
            {"eval_time": "6m", "alertname": "AgentOSOperatorDown", "exp_alerts": [fired(rule, "AgentOSOperatorDown", team)]}
        ],
    }  # fmt: skip
    trouble = {
        "interval": "1m",
        "input_series": [
            {"series": f'up{{{OPERATOR}, pod="op-1"}}', "values": "1x30"},
            # With leader election: one replica held the Lease, then neither does.
            {"series": f'agentos_operator_reconciling{{{OPERATOR}, pod="op-1"}}', "values": "1x5 0x25"},
            {"series": f'agentos_operator_reconciling{{{OPERATOR}, pod="op-2"}}', "values": "0x30"},
            {"series": f'agentos_operator_reconciles_total{{{OPERATOR}, pod="op-1", result="error"}}', "values": "0+6x30"},
            {"series": f'agentos_operator_reconciles_total{{{OPERATOR}, pod="op-1", result="converged"}}', "values": "0+60x30"},
            {"series": f'agentos_operator_api_errors_total{{{OPERATOR}, pod="op-1", verb="patch", code="403"}}', "values": "0+60x30"},
            # Not found and conflicts are part of a day's work.
            {"series": f'agentos_operator_api_errors_total{{{OPERATOR}, pod="op-1", verb="get", code="404"}}', "values": "0+600x30"},
            {"series": f'agentos_operator_resources{{{OPERATOR}, pod="op-1", ready="False"}}', "values": "2x30"},
            {"series": f'agentos_operator_resources{{{OPERATOR}, pod="op-1", ready="True"}}', "values": "5x30"},
            {"series": f'agentos_operator_resources{{{OPERATOR}, pod="op-2", ready="False"}}', "values": "0x30"},
        ],
        "alert_rule_test": [
            {"eval_time": "14m", "alertname": "AgentOSOperatorNotReconciling", "exp_alerts": []},
            {"eval_time": "17m", "alertname": "AgentOSOperatorNotReconciling", "exp_alerts": [fired(rule, "AgentOSOperatorNotReconciling", team)]},
            {"eval_time": "10m", "alertname": "AgentOSOperatorReconcileErrors", "exp_alerts": []},
            {"eval_time": "20m", "alertname": "AgentOSOperatorReconcileErrors", "exp_alerts": [fired(rule, "AgentOSOperatorReconcileErrors", team, **{"{{ $value | humanize }}": "100m"})]},
            {"eval_time": "20m", "alertname": "AgentOSOperatorApiErrors", "exp_alerts": [fired(rule, "AgentOSOperatorApiErrors", {**team, "code": "403"}, **{"{{ $labels.code }}": "403", "{{ $value | humanize }}": "1"})]},
            {"eval_time": "14m", "alertname": "AgentOSConfigNotReady", "exp_alerts": []},
            {"eval_time": "16m", "alertname": "AgentOSConfigNotReady", "exp_alerts": [fired(rule, "AgentOSConfigNotReady", team, **{"{{ $value }}": "2"})]},
            {"eval_time": "16m", "alertname": "AgentOSOperatorDown", "exp_alerts": []},
        ],
    }  # fmt: skip
    healthy = {
        "interval": "1m",
        "input_series": [
            {"series": f'up{{{OPERATOR}, pod="op-1"}}', "values": "1x40"},
            {"series": f'agentos_operator_reconciling{{{OPERATOR}, pod="op-1"}}', "values": "1x40"},
            {"series": f'agentos_operator_reconciles_total{{{OPERATOR}, pod="op-1", result="error"}}', "values": "0+1x5 5x35"},
            {"series": f'agentos_operator_api_errors_total{{{OPERATOR}, pod="op-1", verb="patch", code="409"}}', "values": "0+60x40"},
            {"series": f'agentos_operator_resources{{{OPERATOR}, pod="op-1", ready="False"}}', "values": "0x40"},
        ],
        "alert_rule_test": [
            {"eval_time": "40m", "alertname": name, "exp_alerts": []}
            for name in ("AgentOSOperatorDown", "AgentOSOperatorNotReconciling", "AgentOSOperatorReconcileErrors", "AgentOSOperatorApiErrors", "AgentOSConfigNotReady")
        ],
    }  # fmt: skip

    out = promtool_run(promtool, tmp_path, rule, down, never_scraped, trouble, healthy)
    assert "SUCCESS" in out


def test_the_runtime_alerts_name_the_runtime_and_what_fails_and_stay_quiet_below_their_thresholds(
    helm: list[str], promtool: str, tmp_path: Path
) -> None:
    rule = rule_of(helm, "--set", "metrics.prometheusRule.runErrorPercent=20")
    where = {"namespace": "team-a", "job": "team-a/research"}
    named = {"{{ $labels.job }}": "team-a/research", "{{ $labels.namespace }}": "team-a"}
    failing = {
        "interval": "1m",
        "input_series": [
            {"series": f'agentos_runs_total{{{RUNTIME}, component="agent", id="writer", status="completed"}}', "values": "0+3x40"},
            {"series": f'agentos_runs_total{{{RUNTIME}, component="agent", id="writer", status="error"}}', "values": "0+1x40"},
            # Another runtime: 1 error in 20 runs, under the ratio.
            {"series": 'agentos_runs_total{namespace="team-b", job="team-b/desk", pod="desk-1", component="agent", id="a", status="completed"}', "values": "0+19x40"},
            {"series": 'agentos_runs_total{namespace="team-b", job="team-b/desk", pod="desk-1", component="agent", id="a", status="error"}', "values": "0+1x40"},
            {"series": f'agentos_storage_errors_total{{{RUNTIME}, db_id="sessions-db", operation="save_run"}}', "values": "0+1x40"},
            {"series": f'agentos_mcp_connection_failures_total{{{RUNTIME}, server="search"}}', "values": "0+1x40"},
        ],
        "alert_rule_test": [
            {"eval_time": "10m", "alertname": "AgentOSRunsFailing", "exp_alerts": []},
            {"eval_time": "35m", "alertname": "AgentOSRunsFailing", "exp_alerts": [fired(rule, "AgentOSRunsFailing", where, **named, **{"{{ $value | humanizePercentage }}": "25%"})]},
            {"eval_time": "20m", "alertname": "AgentOSStorageErrors", "exp_alerts": [fired(rule, "AgentOSStorageErrors", {**where, "db_id": "sessions-db"}, **named, **{"{{ $labels.db_id }}": "sessions-db"})]},
            {"eval_time": "35m", "alertname": "AgentOSMcpServerUnreachable", "exp_alerts": [fired(rule, "AgentOSMcpServerUnreachable", {**where, "server": "search"}, **named, **{"{{ $labels.server }}": "search"})]},
        ],
    }  # fmt: skip
    recovered = {
        "interval": "1m",
        "input_series": [
            {"series": f'agentos_runs_total{{{RUNTIME}, component="agent", id="writer", status="completed"}}', "values": "0+3x60"},
            {"series": f'agentos_runs_total{{{RUNTIME}, component="agent", id="writer", status="error"}}', "values": "0+1x10 10x50"},
            {"series": f'agentos_storage_errors_total{{{RUNTIME}, db_id="sessions-db", operation="save_run"}}', "values": "0+1x5 5x55"},
            {"series": f'agentos_mcp_connection_failures_total{{{RUNTIME}, server="search"}}', "values": "0x60"},
        ],
        "alert_rule_test": [
            {"eval_time": "60m", "alertname": name, "exp_alerts": []}
            for name in ("AgentOSRunsFailing", "AgentOSStorageErrors", "AgentOSMcpServerUnreachable")
        ],
    }  # fmt: skip

    out = promtool_run(promtool, tmp_path, rule, failing, recovered)
    assert "SUCCESS" in out


def test_the_chart_readme_lists_every_alert(helm: list[str]) -> None:
    readme = (CHART / "README.md").read_text()
    for name in alerts(rule_of(helm)):
        assert f"`{name}`" in readme, name
