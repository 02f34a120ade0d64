#!/usr/bin/env bash
# Create .venv (when missing) and install kube-agentos with its test tools into it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
# checkov lives in a virtualenv of its own: install it alongside the project, not after it.
bash scripts/install-checkov.sh >/dev/null &
checkov=$!
.venv/bin/python -m pip install -q -e '.[test]'
bash scripts/install-helm.sh >/dev/null
wait "$checkov"
