#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: the Rust workspace (unit, integration, the
# SIGKILL crash test) and the Python compatibility suite that drives the real qdrant-client against
# a running quiver and compares it with qdrant-client's local mode. Installs what it needs into
# .venv (qdrant-client 1.20), .venv-examples (qdrant-client 1.15.1, for ../shared/examples) and
# .venv-chart (Helm's library and the Kubernetes schemas, for the chart suite).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== python environments"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
if [ -d ../shared/examples ]; then
  if [ ! -x .venv-examples/bin/python ]; then "$PY" -m venv .venv-examples; fi
  .venv-examples/bin/python -m pip install -q --disable-pip-version-check -r ../shared/examples/requirements-1.15.txt
fi

# After the Python environments: the operator's backup test runs moto from .venv.
echo "== cargo test (workspace)"
cargo test --workspace 2>&1

echo "== chart suite (Helm lint and render, Kubernetes schemas, CRDs, examples, Argo CD health)"
if [ ! -x .venv-chart/bin/python ]; then "$PY" -m venv .venv-chart; fi
.venv-chart/bin/python -m pip install -q --disable-pip-version-check -r tests/chart/requirements.txt
.venv-chart/bin/python -m pytest tests/chart -q -p no:cacheprovider

echo "== compatibility suite (qdrant-client over REST and gRPC vs local mode; shared examples)"
# `cargo test --workspace` above built target/debug/quiver for the process tests, with the
# workspace's unified features; `cargo build -p quiver-server` would resolve features for that one
# package and rebuild a large part of the tree (nearly four minutes in CI) for the same code.
test -x target/debug/quiver || cargo build --workspace --bins 2>&1
QUIVER_BIN="$PWD/target/debug/quiver" .venv/bin/python -m pytest tests/compat -q -p no:cacheprovider "$@"
