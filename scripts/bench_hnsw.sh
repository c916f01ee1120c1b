#!/usr/bin/env bash
# Indexed-search numbers on ../shared/datasets/minilm-100k, all in one run so ratios are fair:
#   1. hnswlib and faiss (../shared/bench/anchors.py, M=16, ef_construction=100, 2 build threads)
#   2. quiver-hnsw, the graph alone in process (same columns)
#   3. quiver-bench: the collection API in process (optimizer build, planner, payload indexes)
#   4. end to end through qdrant-client over gRPC (../shared/bench/server_bench.py) against a
#      release quiver on 127.0.0.1:6333/6334, 1 and 2 concurrent clients
# Installs numpy, hnswlib and faiss-cpu into .venv-bench. Output goes to bench-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
NQ=${NQ:-1000}
EFS=${EFS:-16,24,32,48,64,128}
mkdir -p bench-out
cargo build --release -p quiver-bench -p quiver-server 2>&1 | tail -1
[ -x .venv-bench/bin/python ] || python3 -m venv .venv-bench
.venv-bench/bin/python -m pip install -q --disable-pip-version-check numpy hnswlib faiss-cpu qdrant-client==1.20.0

echo "== 1. anchors (hnswlib, faiss)"
.venv-bench/bin/python ../shared/bench/anchors.py --threads 2 --efs "$EFS" --nq "$NQ" | tee bench-out/anchors.jsonl
echo "== 2. quiver-hnsw, graph alone"
target/release/hnsw-bench --threads 2 --efs "$EFS" --queries "$NQ" | tee bench-out/hnsw-bench.txt
echo "== 3. quiver-bench, collection API in process"
# `year` is declared `is_principal` (Qdrant's flag for the field most filters select ranges of), so
# the optimizer stores points in year order and each range graph's points sit together.
target/release/quiver-bench --queries "$NQ" --efs "$EFS" --principal year | tee bench-out/quiver-bench.txt
echo "== 4. gRPC from Python (server_bench.py)"
storage=$(mktemp -d)
QUIVER__STORAGE__PATH="$storage" QUIVER__SERVICE__HOST=127.0.0.1 QUIVER__SERVICE__HTTP_PORT=6333 \
  QUIVER__SERVICE__GRPC_PORT=6334 QUIVER_LOG=warn target/release/quiver 2>"$storage.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$storage" "$storage.log"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:6333/readyz >/dev/null && break; sleep 0.1; done
.venv-bench/bin/python ../shared/bench/server_bench.py --host 127.0.0.1 --nq "$NQ" --efs "$EFS" | tee bench-out/server-bench.json
