"""Inputs of the offline contract tests: the example resources and their fake Secrets."""

import base64
from pathlib import Path
from typing import Any

import yaml
from agentos_operator.kube.kinds import Kind

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"
# Every AgentOSConfig example (the secrets file stands beside them).
EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))
# A fixed uid so the goldens show the owner references the operator sets.
FIXED_UID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def load_example(name: str) -> dict[str, Any]:
    documents = [d for d in yaml.safe_load_all((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")) if d]
    assert len(documents) == 1, f"{name}.yaml should hold one AgentOSConfig"
    return documents[0]


STAND_INS = EXAMPLES / "stand-ins" / "secrets.yaml"
# What the operator would generate for an example naming no securityKeySecretRef, in the tests' renders.
GENERATED_KEY = "example-generated-key"


def example_secret_values() -> dict[tuple[str, str], str]:
    """(Secret, key) → value from examples/stand-ins/secrets.yaml (stringData or base64 data), and
    a stand-in for each security key the operator generates for an example."""
    values = {}
    for name in EXAMPLE_NAMES:
        body = load_example(name)
        if "securityKeySecretRef" not in body["spec"]:
            values[(f"{body['metadata']['name']}-security-key", "security-key")] = GENERATED_KEY
    for secret in yaml.safe_load_all(STAND_INS.read_text(encoding="utf-8")):
        name = secret["metadata"]["name"]
        for key, value in (secret.get("stringData") or {}).items():
            values[(name, key)] = value
        for key, value in (secret.get("data") or {}).items():
            values[(name, key)] = base64.b64decode(value).decode()
    return values


def resource_body(spec: dict[str, Any], *, name: str = "demo", **envelope: Any) -> dict[str, Any]:
    """A whole AgentOSConfig around ``spec``; ``envelope`` overrides apiVersion, kind or metadata."""
    body: dict[str, Any] = {
        "apiVersion": "agentos.dev/v1alpha1",
        "kind": "AgentOSConfig",
        "metadata": {"name": name, "namespace": "agents"},
        "spec": spec,
    }
    body.update(envelope)
    return body


class Secrets:
    """The store's reads, over Secrets given as raw bytes per key: as the watch told them
    (``get``), and as the API server holds them now (``get_fresh``: ``now``, else the same)."""

    def __init__(self, *, now: dict[str, dict[str, bytes]] | None = None, **secrets: dict[str, bytes]) -> None:
        self.secrets = _encoded(secrets)
        self.now = self.secrets if now is None else _encoded(now)
        self.fresh_reads: list[str] = []

    async def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        return self.secrets.get(name)

    async def get_fresh(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        self.fresh_reads.append(name)
        return self.now.get(name)


def _encoded(secrets: dict[str, dict[str, bytes]]) -> dict[str, dict[str, Any]]:
    return {
        name: {"data": {key: base64.b64encode(value).decode() for key, value in data.items()}}
        for name, data in secrets.items()
    }
