#!/usr/bin/env bash
# Regenerate requirements.lock (every package the project needs at run time, pinned with its hashes)
# and requirements-build.lock (what building its wheel needs),
# which both images install with `pip install --require-hashes` (then the project with --no-deps).
# Resolved with uv for the images' Python (read from runtime/Dockerfile) on every platform at once
# (--universal), so one lock serves amd64 and arm64 builds. Versions already in the lock are kept
# unless pyproject.toml's ranges exclude them; `bash scripts/lock.sh --upgrade` moves all to the newest.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
python_image=$(sed -n 's/^ARG PYTHON_IMAGE=python:\([0-9]*\.[0-9]*\)\..*/\1/p' runtime/Dockerfile)
[ -n "$python_image" ] || { echo "lock.sh: no ARG PYTHON_IMAGE=python:X.Y.Z in runtime/Dockerfile" >&2; exit 1; }
# uv lives in a virtualenv of its own, like checkov: it is a tool, not a dependency.
if [ "$(.venv/uv/bin/uv --version 2>/dev/null)" != "uv $UV_VERSION" ]; then
  python3 -m venv .venv/uv
  .venv/uv/bin/python -m pip install -q "uv==$UV_VERSION"
fi
.venv/uv/bin/uv pip compile pyproject.toml --quiet --universal --python-version "$python_image" \
  --generate-hashes --custom-compile-command "bash scripts/lock.sh" --output-file requirements.lock "$@"
echo "requirements.lock: $(grep -c '^[a-z0-9]' requirements.lock) packages for Python $python_image"
# What building the project's wheel needs (pyproject.toml's [build-system] requires, and wheel),
# hashed too: the images build with --no-build-isolation from this lock, so no unpinned build
# backend is fetched at image build time.
python3 -c 'import tomllib; [print(r) for r in tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]]; print("wheel")' \
  | .venv/uv/bin/uv pip compile - --quiet --universal --python-version "$python_image" --generate-hashes \
    --custom-compile-command "bash scripts/lock.sh" --output-file requirements-build.lock "$@"
echo "requirements-build.lock: $(grep -c '^[a-z0-9]' requirements-build.lock) packages"
