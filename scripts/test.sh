#!/usr/bin/env bash
# The test command: install, start PostgreSQL and Redis, lint, type-check, check layering, test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff";  ruff check . && ruff format --check .
echo "== mypy";  mypy operator/agentos_operator runtime/agentos_runtime
echo "== import-linter"; lint-imports --no-cache
# Tests run on every core (pytest-xdist); each test isolates its own ports, schemas and keys.
echo "== pytest"; pytest -q -p no:cacheprovider -n auto "$@"
