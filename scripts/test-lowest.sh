#!/usr/bin/env bash
# Test the project at the lowest versions pyproject.toml allows: proves that the floors of its
# [project].dependencies are true, i.e. that each direct dependency at its floor (uv's
# lowest-direct resolution; what those need comes at its newest) imports and does what the code
# asks of it. Run it after using a library's newer API, and before raising or lowering a floor.
#
#   bash scripts/test-lowest.sh [VENV_DIR] [pytest arguments...]
#
# VENV_DIR (default ~/.cache/kube-agentos/lowest-venv) is made afresh each run: the runtime
# dependencies pinned to their floors, then the test extra constrained by those pins (the test
# tools get what resolves, the runtime libraries stay at their floors), then the project, editable.
# cel-python (the CRD rule tests' only, not run here) needs a newer google-re2 than the floor, so
# it is left out.
#
# What it runs (pytest -n 2; 3 min 43 s in all on 2 cores, the venv built from a warm uv cache;
# scripts/test.sh runs it after the main suite; with tests/runtime and tests/operator/offline as
# arguments it ran 6085 tests in 8 min 20 s, one failing on a test-only URL since mended):
# every module of both packages imported, the whole suite collected (each test module imported),
# the HTTP API's tests (tests/runtime/api), the operator's against a stand-in API server
# (tests/operator/kopf), and the tests that showed the floors raised so far were false (storage
# on PostgreSQL, Redis and SQLite, operator settings, hostile config files).
# It needs the PostgreSQL and Redis the suite uses: scripts/services.sh starts them.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-agentos/lowest-venv}
if [ $# -gt 0 ]; then shift; fi
python=${PYTHON:-python3}
UV_VERSION=0.13.9
# uv lives in a virtualenv of its own (as in scripts/lock.sh): it is a tool, not a dependency.
if [ "$(.venv/uv/bin/uv --version 2>/dev/null)" != "uv $UV_VERSION" ]; then
  "$python" -m venv .venv/uv
  .venv/uv/bin/python -m pip install -q "uv==$UV_VERSION"
fi
uv=.venv/uv/bin/uv

started=$SECONDS
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
pins=$venv/lowest.txt
"$uv" pip compile pyproject.toml --quiet --resolution lowest-direct --python "$venv/bin/python" \
  --no-header --output-file "$pins"
"$uv" pip install --quiet --python "$venv/bin/python" -r "$pins"
tools=$venv/test-extra.txt
"$venv/bin/python" -c 'import re, tomllib
for requirement in tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["test"]:
    if re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower() != "cel-python":
        print(requirement)' >"$tools"
"$uv" pip install --quiet --python "$venv/bin/python" -r "$tools" --constraint "$pins"
"$uv" pip install --quiet --python "$venv/bin/python" --no-deps -e .
echo "== lowest versions ($((SECONDS - started)) s to build $venv)"
grep -E '^[a-z0-9]' "$pins" | tr '\n' ' '
echo

bash scripts/services.sh
export PATH="$venv/bin:$PATH"
unset PYTHONPATH
echo "== every module imports"
python - <<'EOF'
import importlib
import pkgutil

import agentos_operator
import agentos_runtime

count = 0
for package in (agentos_operator, agentos_runtime):
    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
            count += 1
print(f"{count} modules")
EOF
ignored=(--ignore=tests/cluster --ignore=tests/e2e --ignore=tests/images --ignore=tests/chart --ignore=tests/benchmarks
  --ignore=tests/operator/offline/test_crd.py)
echo "== every test module imports"
pytest -q -p no:cacheprovider --collect-only "${ignored[@]}" tests/runtime tests/operator | tail -n 1
echo "== pytest"
pytest -q -p no:cacheprovider -n 2 "${ignored[@]}" \
  tests/test_packaging.py::test_both_packages_import_from_the_installed_distribution \
  tests/runtime/api tests/operator/kopf tests/runtime/test_settings.py \
  tests/runtime/config/test_hostile_files.py tests/runtime/storage/test_database_hang.py \
  tests/runtime/storage/test_redis_refusals.py tests/runtime/storage/test_redis_read_only.py \
  tests/runtime/storage/test_redis_guarded.py tests/runtime/storage/test_sqlite_file_faults.py \
  tests/runtime/storage/test_generated_sql.py "$@"
