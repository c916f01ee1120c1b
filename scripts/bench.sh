#!/usr/bin/env bash
# Prints the foundation's numbers on ../shared/datasets/minilm-100k: in-process (quiver-bench) and
# end to end through qdrant-client over gRPC against a release build on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p quiver-bench -p quiver-server 2>&1 | tail -1
echo "== in-process"
target/release/quiver-bench "$@"
echo "== gRPC from Python"
[ -x .venv/bin/python ] || { python3 -m venv .venv; }
.venv/bin/python -m pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
storage=$(mktemp -d)
QUIVER__STORAGE__PATH="$storage" QUIVER__SERVICE__HOST=127.0.0.1 QUIVER__SERVICE__HTTP_PORT=16433 \
  QUIVER__SERVICE__GRPC_PORT=16434 QUIVER_LOG=warn target/release/quiver 2>"$storage.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$storage" "$storage.log"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:16433/readyz >/dev/null && break; sleep 0.1; done
.venv/bin/python bench/grpc_bench.py --http-port 16433 --grpc-port 16434
