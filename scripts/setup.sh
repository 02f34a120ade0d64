#!/usr/bin/env bash
# Create .venv (when missing) and install kube-agentos into it: what running needs, nothing more.
# The test tools (the test extra, checkov, helm) are installed by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
# -qq: errors only; setuptools' notice on editable installs (folders named like the package may
# shadow it: none here) would otherwise be the only output.
.venv/bin/python -m pip install -qq -e .
