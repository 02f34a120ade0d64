#!/usr/bin/env bash
# The test command: install, start PostgreSQL and Redis, lint, type-check, check layering, test;
# then the operator's suite against a real Kubernetes control plane, once per Kubernetes version
# the chart claims (scripts/control-plane.sh: built once into a cache outside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The test tools: the test extra, checkov (in a virtualenv of its own, installed alongside) and helm.
bash scripts/install-checkov.sh >/dev/null &
checkov=$!
.venv/bin/python -m pip install -q -e '.[test]'
bash scripts/install-helm.sh >/dev/null
wait "$checkov"
bash scripts/services.sh
export PATH="$PWD/.venv/bin:$PATH"
versions=$(bash scripts/control-plane.sh versions)

# The control plane's binaries build (only when not cached) beside the linters and the main suite,
# at a lower priority so that the tests' timings are not the ones to suffer.
build_log=$(mktemp)
state=""
cleanup() {
  [ -z "$state" ] || bash scripts/control-plane.sh stop "$state"
  rm -f "$build_log"
}
trap cleanup EXIT
(nice -n 10 bash scripts/install-promtool.sh && for version in $versions; do nice -n 10 bash scripts/control-plane.sh build "$version"; done) >"$build_log" 2>&1 &
builder=$!

echo "== ruff";  ruff check . && ruff format --check .
echo "== mypy";  mypy operator/agentos_operator runtime/agentos_runtime
echo "== import-linter"; lint-imports --no-cache
# Tests run on every core (pytest-xdist); each test isolates its own ports, schemas and keys.
# The alerting rules' tests need promtool, built beside the suite: they run once it is.
alerts=tests/chart/test_prometheus_rule.py
echo "== pytest"; pytest -q -p no:cacheprovider -n auto --ignore=tests/cluster --ignore=$alerts "$@"
# The floors of pyproject.toml's dependencies held true: the API and operator tests again, with
# every direct dependency at the lowest version it allows (its own venv, outside the repository).
echo "== pytest at the lowest versions pyproject.toml allows"; bash scripts/test-lowest.sh

echo "== promtool and control plane build"
if ! wait "$builder"; then cat "$build_log"; exit 1; fi
grep -h "built in" "$build_log" || echo "promtool and control plane: every one was cached"
echo "== pytest $alerts"; pytest -q -p no:cacheprovider $alerts
for version in $versions; do
  echo "== pytest tests/cluster on Kubernetes $version"
  state=$(mktemp -d)
  bash scripts/control-plane.sh start "$version" "$state"
  AGENTOS_TEST_CONTROL_PLANE=$state AGENTOS_TEST_KUBERNETES_VERSION=$version \
    pytest -q -p no:cacheprovider tests/cluster
  bash scripts/control-plane.sh stop "$state"
  rm -rf "$state"
  state=""
done
