#!/usr/bin/env bash
# End-to-end suite on a local kind cluster. Needs docker, kind, kubectl and helm on PATH.
#   scripts/e2e-kind.sh            create the cluster, build and load the images, install, test, clean up
#   KEEP_CLUSTER=1 scripts/e2e-kind.sh   leave the cluster running afterwards
# It creates the cluster from kind-config.yaml, builds the runtime, operator and test-model images,
# loads them into the nodes, installs the chart, then runs `pytest -m e2e tests/e2e`, which applies an
# example with an in-cluster OpenAI-compatible test server, waits for Ready, runs an agent over HTTP,
# rotates a Secret and sees a rollout, and deletes everything.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-agentos-e2e}
TAG=${TAG:-e2e}
NAMESPACE=${NAMESPACE:-agentos-system}
PYTHON=${PYTHON:-.venv/bin/python}

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "e2e-kind.sh: $tool is required" >&2; exit 2; }
done

cleanup() {
  if [ "${KEEP_CLUSTER:-0}" != 1 ]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --config kind-config.yaml --wait 120s
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

docker build -f runtime/Dockerfile -t "ghcr.io/kube-agentos/runtime:$TAG" .
docker build -f operator/Dockerfile -t "ghcr.io/kube-agentos/operator:$TAG" .
docker build -f tests/e2e/fake-openai.Dockerfile --build-arg "RUNTIME_IMAGE=ghcr.io/kube-agentos/runtime:$TAG" \
  -t "ghcr.io/kube-agentos/fake-openai:$TAG" .
for image in runtime operator fake-openai; do
  kind load docker-image --name "$CLUSTER" "ghcr.io/kube-agentos/$image:$TAG"
done

helm upgrade --install agentos-operator charts/agentos-operator \
  --namespace "$NAMESPACE" --create-namespace \
  --set image.tag="$TAG" --set image.pullPolicy=Never \
  --set runtimeImage.tag="$TAG" \
  --set operator.logFormat=text \
  --wait --timeout 180s

AGENTOS_E2E=1 AGENTOS_E2E_TAG="$TAG" AGENTOS_E2E_OPERATOR_NAMESPACE="$NAMESPACE" \
  "$PYTHON" -m pytest -m e2e tests/e2e -p no:cacheprovider -v

helm uninstall agentos-operator --namespace "$NAMESPACE" --wait
