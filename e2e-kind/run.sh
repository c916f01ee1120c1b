#!/usr/bin/env bash
# The operator's end-to-end suite on a real Kubernetes (kind): creates a kind cluster, builds the
# engine and operator images and loads them, installs the chart, then runs the scenarios of the
# simulation suite against real pods, volumes and the real API server: a 3-node cluster and a
# collection, a client writing and checking throughout, scale 3 -> 4 -> 3, a rolling upgrade,
# the leader pod killed, a backup to MinIO and a restore into a new collection. Tears everything
# down at the end (KEEP=1 keeps the kind cluster).
#
# Needs: docker, kind, kubectl, helm, python3 (with venv). It cannot run on a machine without a
# Docker engine; see README.md for which suites ran where.
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=${KIND_CLUSTER:-quiver-e2e}
NS=quiver-e2e
for tool in docker kind kubectl helm python3; do
  command -v "$tool" >/dev/null || { echo "e2e-kind needs $tool on PATH" >&2; exit 2; }
done

cleanup() {
  if [ -z "${KEEP:-}" ]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

echo "== kind cluster"
kind create cluster --name "$CLUSTER" --config e2e-kind/kind.yaml --wait 120s

echo "== images (v1 and v2 are the same build under two tags: the upgrade restarts every pod)"
docker build -t quiver-e2e/quiver:v1 .
docker tag quiver-e2e/quiver:v1 quiver-e2e/quiver:v2
docker build -f operator/Dockerfile -t quiver-e2e/quiver-operator:dev .
for img in quiver-e2e/quiver:v1 quiver-e2e/quiver:v2 quiver-e2e/quiver-operator:dev; do
  kind load docker-image --name "$CLUSTER" "$img"
done

echo "== operator"
kubectl create namespace "$NS"
helm install quiver charts/quiver --namespace "$NS" \
  --set image.repository=quiver-e2e/quiver-operator --set image.tag=dev --set image.pullPolicy=Never \
  --set watchNamespace="$NS" --wait --timeout 180s

echo "== object store (MinIO) for backups"
kubectl -n "$NS" apply -f e2e-kind/minio.yaml
kubectl -n "$NS" rollout status deploy/minio --timeout 180s
kubectl -n "$NS" wait --for=condition=complete job/minio-bucket --timeout 180s

echo "== scenarios"
python3 -m venv .venv-e2e
.venv-e2e/bin/pip install -q -r e2e-kind/requirements.txt
.venv-e2e/bin/python e2e-kind/scenarios.py --namespace "$NS"
echo "== e2e-kind passed"
