#!/usr/bin/env bash
# Agno's own AgentOS in its own virtualenv (benchmarks/.venv-agno), for the side-by-side benchmark.
set -euo pipefail
cd "$(dirname "$0")"
AGNO_VERSION=${AGNO_VERSION:-3.1.10}
[ -x .venv-agno/bin/python ] || python3 -m venv .venv-agno
.venv-agno/bin/python -m pip install -q --upgrade pip
.venv-agno/bin/python -m pip install -q "agno==$AGNO_VERSION" openai fastapi uvicorn "sqlalchemy[asyncio]" python-multipart pyyaml
.venv-agno/bin/python -c "import agno, importlib.metadata as m; print('agno', m.version('agno'))"
