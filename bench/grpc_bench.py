"""End-to-end numbers through qdrant-client over gRPC against a running quiver: upsert throughput
(batches of 256, wait=True) and exact-search latency / QPS / recall@10 on a shared dataset, with 1
and 2 concurrent clients. Prints one line per measurement.

    python bench/grpc_bench.py --host 127.0.0.1 --grpc-port 6334 --http-port 6333 [--nq 300]
"""
import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient, models


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default=str(Path(__file__).resolve().parents[2] / "shared/datasets/minilm-100k"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--http-port", type=int, default=6333)
    ap.add_argument("--grpc-port", type=int, default=6334)
    ap.add_argument("--nq", type=int, default=300)
    args = ap.parse_args()
    ds = Path(args.dataset)
    meta = json.loads((ds / "meta.json").read_text())
    dim = meta["dim"]
    base = np.fromfile(ds / "base.f16", dtype="<f2").reshape(-1, dim).astype(np.float32)
    queries = np.fromfile(ds / "queries.f16", dtype="<f2").reshape(-1, dim).astype(np.float32)[: args.nq]
    gt = np.fromfile(ds / "gt.i32", dtype="<i4").reshape(-1, 100)[: args.nq]
    payloads = [{k: v for k, v in json.loads(line).items() if k not in ("id", "text")}
                for line in open(ds / "passages.jsonl")]

    client = QdrantClient(args.host, port=args.http_port, grpc_port=args.grpc_port, prefer_grpc=True, timeout=600)
    name = "grpc_bench"
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE))
    t = time.perf_counter()
    for start in range(0, len(base), 256):
        end = min(len(base), start + 256)
        client.upsert(name, wait=True, points=models.Batch(
            ids=list(range(start, end)), vectors=base[start:end].tolist(), payloads=payloads[start:end]))
    secs = time.perf_counter() - t
    print(f"grpc upsert: {len(base)} points in {secs:.2f} s = {len(base) / secs:.0f} points/s "
          f"(batches of 256, wait=True, one client)")

    params = models.SearchParams(exact=True)

    def one(i):
        t0 = time.perf_counter()
        res = client.query_points(name, query=queries[i].tolist(), limit=10, search_params=params,
                                  with_payload=False).points
        return [p.id for p in res], time.perf_counter() - t0

    for threads in (1, 2):
        t0 = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(one, range(len(queries))))
        wall = time.perf_counter() - t0
        lat = sorted(r[1] for r in results)
        recall = sum(len(set(ids) & set(gt[i][:10].tolist())) for i, (ids, _) in enumerate(results)) / (10 * len(queries))
        print(f"grpc exact search, {threads} client(s): {len(queries)} queries, recall@10 {recall:.4f}, "
              f"{len(queries) / wall:.1f} QPS, p50 {1000 * lat[len(lat) // 2]:.2f} ms, "
              f"p99 {1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))]:.2f} ms")
    client.delete_collection(name)


if __name__ == "__main__":
    main()
