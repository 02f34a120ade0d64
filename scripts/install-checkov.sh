#!/usr/bin/env bash
# Put checkov (the IaC security scanner) in its own virtualenv at .venv/checkov: it pins many
# libraries that would clash with the project's own, so it never shares the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/checkov/bin/checkov ] && exit 0
python3 -m venv .venv/checkov
.venv/checkov/bin/python -m pip install -q --upgrade pip
.venv/checkov/bin/python -m pip install -q 'checkov>=3.2,<4'
