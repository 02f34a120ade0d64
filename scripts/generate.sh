#!/usr/bin/env bash
# Regenerate every generated file from its source of truth (pydantic models, SQLAlchemy tables). Tests fail when one is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/agentos crd > crds/agentosconfigs.agentos.dev.yaml
cp crds/agentosconfigs.agentos.dev.yaml charts/agentos-operator/files/agentosconfigs.agentos.dev.yaml
.venv/bin/python -m agentos_operator.reference > docs/reference.md
.venv/bin/python -m agentos_runtime.reference > docs/runtime-config.md
# Written beside, then moved: the generator imports the runtime, which imports the file it replaces.
sql=runtime/agentos_runtime/storage/sql/generated_sql.py
.venv/bin/python -m agentos_runtime.storage.sql.sql_generation > "$sql.new" || { rm -f "$sql.new"; exit 1; }
mv "$sql.new" "$sql"
echo "regenerated: crds/, the chart's CRD copy, docs/reference.md, docs/runtime-config.md, the runtime's generated SQL"
