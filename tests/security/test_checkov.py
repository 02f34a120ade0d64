"""Security scan with checkov of everything the project deploys: no failed check left unexplained.

A deliberate finding is skipped where the object is defined, with a `checkov.io/skipN:
CHECK=reason` annotation next to the code that renders it; these tests fail on any other finding.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from agentos_operator.render import RenderSettings, dump_manifests, placeholder_secrets, render
from agentos_operator.resources import parse_resource

from tests.chart.test_chart import VALUE_SETS

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"
HELM = ROOT / ".venv" / "bin" / "helm"


def scan(manifest: Path) -> dict[str, Any]:
    assert CHECKOV.exists(), "checkov is not installed: run scripts/install-checkov.sh"
    result = subprocess.run(
        [
            str(CHECKOV),
            "-f",
            str(manifest),
            "--framework",
            "kubernetes",
            "--quiet",
            "--compact",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    assert isinstance(report, dict), report
    return report


def assert_clean(report: dict[str, Any]) -> None:
    failed = [
        f"{c['check_id']} {c['check_name']} ({c['resource']})" for c in report["results"].get("failed_checks", [])
    ]
    assert failed == [], "unexplained checkov findings:\n" + "\n".join(failed)
    for skipped in report["results"].get("skipped_checks", []):
        reason = (skipped.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason) > 20, f"{skipped['check_id']} is skipped without a real reason"
    assert report["summary"]["passed"] > 0


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_the_chart_output_has_no_unexplained_finding(value_set: str, tmp_path: Path) -> None:
    out = subprocess.run(
        [
            str(HELM),
            "template",
            "rel",
            str(ROOT / "charts" / "agentos-operator"),
            "-n",
            "agentos-system",
            *VALUE_SETS[value_set],
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    manifest = tmp_path / "chart.yaml"
    manifest.write_text(out)
    assert_clean(scan(manifest))


EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_the_rendered_manifests_of_every_example_have_no_unexplained_finding(example: Path, tmp_path: Path) -> None:

    [body] = [d for d in yaml.safe_load_all(example.read_text(encoding="utf-8")) if d and d["kind"] == "AgentOSConfig"]
    # As `kubectl apply -n team-a` would place it: a resource without a namespace is not left in `default`.
    body["metadata"].setdefault("namespace", "team-a")
    resource = parse_resource(body)
    manifests = render(
        resource,
        placeholder_secrets(resource),
        settings=RenderSettings(default_image="ghcr.io/kube-agentos/runtime:0.1.0"),
    )
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(dump_manifests(manifests))
    assert_clean(scan(manifest))


def test_the_rendered_manifests_with_user_ids_left_to_the_platform_have_no_unexplained_finding(tmp_path: Path) -> None:
    [body] = [d for d in yaml.safe_load_all((ROOT / "examples" / "minimal-sqlite.yaml").read_text()) if d]
    body["metadata"].setdefault("namespace", "team-a")
    resource = parse_resource(body)
    settings = RenderSettings(default_image="ghcr.io/kube-agentos/runtime:0.1.0", fixed_user_ids=False)
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(dump_manifests(render(resource, placeholder_secrets(resource), settings=settings)))
    assert_clean(scan(manifest))
