#!/usr/bin/env bash
# Regenerate every generated file from its pydantic source of truth. Tests fail when one is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/agentos crd > crds/agentosconfigs.agentos.dev.yaml
cp crds/agentosconfigs.agentos.dev.yaml charts/agentos-operator/files/agentosconfigs.agentos.dev.yaml
.venv/bin/python -m agentos_operator.reference > docs/reference.md
echo "regenerated: crds/, the chart's CRD copy, docs/reference.md"
