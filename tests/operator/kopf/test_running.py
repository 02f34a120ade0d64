"""``agentos operator``: its flags and environment, and its metrics of failed API requests.

The process against a real API server (its health endpoint, JSON logs, SIGTERM, SIGUSR1) is
tested in tests/cluster/test_ported_running.py and test_quiet_and_safe.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import kopf
import pydantic
import pytest
from agentos_operator import running
from agentos_operator.handlers import check_event_handlers_only, kopf_settings
from agentos_operator.settings import OperatorSettings

from tests.operator.kopf.conftest import Cluster, StartOperator, eventually
from tests.support.ports import free_port


def parse(*argv: str) -> OperatorSettings:
    parser = argparse.ArgumentParser()
    running.add_arguments(parser)
    return running.settings_from_args(parser.parse_args(argv))


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local test server
        return response.status, response.read().decode()


def test_settings_come_from_the_environment_the_chart_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCH_NAMESPACES", "team-a, team-b")
    monkeypatch.setenv("AGENTOS_RUNTIME_IMAGE", "registry.example/runtime:9")
    monkeypatch.setenv("AGENTOS_LOG_FORMAT", "json")
    monkeypatch.setenv("AGENTOS_RESYNC_INTERVAL", "42")
    monkeypatch.setenv("AGENTOS_WATCH_SECRETS", "false")
    monkeypatch.setenv("AGENTOS_LEADER_ELECTION", "true")
    monkeypatch.setenv("POD_NAME", "agentos-operator-7d9f-abcde")
    monkeypatch.setenv("POD_NAMESPACE", "agentos-system")

    settings = parse()

    assert settings.namespaces == ("team-a", "team-b")
    assert not settings.cluster_wide
    assert (settings.runtime_image, settings.log_format) == ("registry.example/runtime:9", "json")
    assert (settings.resync_seconds, settings.watch_secrets, settings.leader_election) == (42, False, True)
    assert (settings.pod_name, settings.lease_namespace) == ("agentos-operator-7d9f-abcde", "agentos-system")


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCH_NAMESPACES", "team-a")
    monkeypatch.setenv("AGENTOS_RESYNC_SECONDS", "120")

    assert parse("-n", "x", "--namespace", "y-*", "--resync-seconds", "5").namespaces == ("x", "y-*")
    assert parse("--resync-seconds", "5").resync_seconds == 5
    assert parse("-A").cluster_wide
    assert parse("--leader-election").leader_election


def test_the_pods_grace_and_the_reconciles_at_once_have_flags_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTOS_PODS_GRACE_SECONDS", "90")
    monkeypatch.setenv("AGENTOS_MAX_CONCURRENT_RECONCILES", "4")

    assert (parse().pods_grace_seconds, parse().max_concurrent_reconciles) == (90, 4)
    settings = parse("--pods-grace-seconds", "7.5", "--max-concurrent-reconciles", "20")
    assert (settings.pods_grace_seconds, settings.max_concurrent_reconciles) == (7.5, 20)


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("AGENTOS_PODS_GRACE_SECONDS", "inf", "pods_grace_seconds"),
        ("AGENTOS_RESYNC_SECONDS", "1e309", "AGENTOS_RESYNC_SECONDS"),  # an aliased setting is named as set
        ("AGENTOS_API_TIMEOUT_SECONDS", "nan", "api_timeout_seconds"),
        ("AGENTOS_LEASE_DURATION_SECONDS", str(2**31), "lease_duration_seconds"),
    ],
)
def test_a_duration_that_never_ends_or_that_kubernetes_cannot_hold_is_refused_naming_its_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(pydantic.ValidationError, match=field):
        parse()


def test_a_flag_out_of_range_is_refused_naming_its_setting(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    running.add_arguments(parser)

    assert running.run(parser.parse_args(["--pods-grace-seconds", "0"])) == 2
    assert "pods_grace_seconds" in capsys.readouterr().err


def test_defaults_watch_every_namespace_without_leader_election() -> None:
    settings = OperatorSettings()

    assert settings.cluster_wide and not settings.leader_election
    assert settings.runtime_image.startswith("ghcr.io/kube-agentos/runtime:")


def test_kopf_keeps_its_state_under_the_agentos_prefix_and_builds_no_diff_base() -> None:
    config = kopf_settings(OperatorSettings())

    assert config.persistence.finalizer == "agentos.dev/finalizer"
    assert "kopf.zalando.org" not in repr(vars(config.persistence.progress_storage))
    assert config.posting.enabled is False
    # Event handlers only: no copy of each event's body is made to diff, and nothing is kept.
    body = kopf.Body({"metadata": {"name": "demo", "annotations": {"a": "b"}}, "spec": {"replicas": 1}})
    diffbase = config.persistence.diffbase_storage
    assert diffbase.build(body=body) == {}
    assert diffbase.fetch(body=body) is None
    patch = kopf.Patch()
    diffbase.store(body=body, patch=patch, essence=diffbase.build(body=body))
    assert not patch


def test_invalid_settings_exit_with_status_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOS_METRICS_PORT", "not-a-port")
    parser = argparse.ArgumentParser()
    running.add_arguments(parser)

    assert running.run(parser.parse_args([])) == 2


def test_python_dash_m_runs_the_operator_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agentos_operator", "--help"], capture_output=True, text=True, check=True, timeout=60
    )

    assert "--leader-election" in result.stdout and "--namespace" in result.stdout
    # As `agentos operator ...` spells it: the same command.
    again = subprocess.run(
        [sys.executable, "-m", "agentos_operator", "operator", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert again.stdout == result.stdout


async def test_metrics_count_reconciles_ready_resources_and_api_errors(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """Injected: a 500 at the Service's first write, counted by code and verb."""
    port = free_port()
    await cluster.create_secret("openai", api_key="sk-test-1")
    cluster.api.fail_next(500, verb="patch", plural="services")
    start_operator(metrics_port=port)
    await cluster.create_agentos("demo")
    await cluster.ready("demo")

    def scrape() -> str:
        status, text = fetch(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        return text

    text = await eventually(lambda: 'agentos_operator_resources{ready="True"} 1.0' in scrape() and scrape())
    assert 'agentos_operator_reconciles_total{result="converged"}' in text
    assert 'agentos_operator_reconciles_total{result="error"} 1.0' in text
    assert "agentos_operator_reconcile_duration_seconds_count" in text
    # The first write of a child is its dry run (the API server judges it before anything is stored).
    assert 'agentos_operator_api_errors_total{code="500",verb="dry-run apply"} 1.0' in text


def test_the_operator_process_does_not_load_the_kubernetes_client(tmp_path: Path) -> None:
    # The operator does not depend on the official client, but a user's image may carry it: a
    # stand-in package on the path is what kopf finds then.
    (tmp_path / "kubernetes").mkdir()
    (tmp_path / "kubernetes" / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    loaded = "import sys; print(sorted(m for m, mod in sys.modules.items() if m.startswith('kubernetes') and mod))"

    def modules_after(code: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", f"{code}; {loaded}"], capture_output=True, text=True, check=True, timeout=60, env=env
        )
        return result.stdout.strip()

    assert modules_after("import kopf") == "['kubernetes']"  # kopf loads it when it is there
    assert modules_after("from agentos_operator import running; running.forgo_kubernetes_client(); import kopf") == "[]"


def test_the_operator_process_reads_each_tls_connection_into_32_kib_not_256(tmp_path: Path) -> None:
    code = (
        "import asyncio, ssl, asyncio.sslproto as p; from agentos_operator import running;"
        "new = lambda: len(p.SSLProtocol(asyncio.new_event_loop(), asyncio.Protocol(), ssl.create_default_context(),"
        " None)._ssl_buffer); before = new(); running.smaller_tls_read_buffers(); print(before, new())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)

    assert result.stdout.split() == [str(256 * 1024), str(32 * 1024)]


def test_a_registry_with_a_handler_that_needs_a_diff_base_is_refused() -> None:
    registry = kopf.OperatorRegistry()

    @kopf.on.update("agentos.dev", "v1alpha1", "agentosconfigs", registry=registry, id="on-update")
    def updated(**_: object) -> None: ...

    with pytest.raises(RuntimeError, match="NoDiffBase serves event handlers only, not on-update"):
        check_event_handlers_only(registry)
