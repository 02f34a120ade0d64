#!/usr/bin/env bash
# Build Prometheus' promtool (from the official source, through the Go module proxy) into a cache
# outside the repository; prints its path. The chart's alerting rules are checked and unit-tested
# with it (tests/chart/test_prometheus_rule.py), as Prometheus itself would load and evaluate them.
set -euo pipefail
version=${PROMTOOL_VERSION:-v0.316.0}
dir=${AGENTOS_PROMTOOL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-agentos/promtool/$version}
mkdir -p "$dir"
# One build at a time (scripts/test.sh builds it in the background while tests may ask for it).
exec 9>"$dir.lock"
flock 9
if [ ! -x "$dir/promtool" ]; then
  started=$(date +%s)
  GOBIN="$dir.partial" GOFLAGS=-mod=mod go install "github.com/prometheus/prometheus/cmd/promtool@$version" >&2
  mv "$dir.partial/promtool" "$dir/promtool"
  rmdir "$dir.partial"
  echo "promtool $version built in $(( $(date +%s) - started )) s" >&2
fi
echo "$dir/promtool"
