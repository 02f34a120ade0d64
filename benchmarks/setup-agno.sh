#!/usr/bin/env bash
# Agno's own AgentOS in its own virtualenv (benchmarks/.venv-agno), for the side-by-side benchmark.
set -euo pipefail
VENV="$(cd "$(dirname "$0")" && pwd)/.venv-agno"
# Python runs from a neutral directory: benchmarks/ holds a package named `operator`, which
# would shadow the standard library's module of that name for a Python started there.
cd /
AGNO_VERSION=${AGNO_VERSION:-3.1.10}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "agno==$AGNO_VERSION" openai fastapi uvicorn "sqlalchemy[asyncio]" python-multipart pyyaml
# Agno's MCPTools (the MCP tool-call benchmark, runtime/mcp_cost.py) connects through fastmcp.
"$VENV/bin/python" -m pip install -q "fastmcp>=4,<5" "mcp>=2.3,<3"
# Agno's PgVector (the knowledge benchmark, knowledge/run.py) needs psycopg and pgvector; its
# PostgresDb and RedisDb (runtime/run.py's agno-postgres, agno-redis) psycopg and redis-py, given
# the same C reply parser (hiredis) as ours.
"$VENV/bin/python" -m pip install -q "psycopg[binary]" pgvector "redis[hiredis]"
"$VENV/bin/python" -c "import agno, importlib.metadata as m; print('agno', m.version('agno'))"
