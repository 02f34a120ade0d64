"""Generated documentation stays in step with its source."""

from pathlib import Path

from agentos_operator.reference import build_reference

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_reference_matches_the_schema() -> None:
    committed = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert committed == build_reference(), "docs/reference.md is stale: run scripts/generate.sh"


def test_the_reference_documents_every_top_level_spec_field() -> None:
    text = build_reference()
    for field in (
        "spec.agents",
        "spec.models[].apiKeySecretRef",
        "spec.databases[].cnpgClusterRef",
        "status.conditions",
    ):
        assert f"| `{field}` |" in text
