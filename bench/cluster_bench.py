"""Cluster numbers against one node on the same machine, through qdrant-client over gRPC: upsert
throughput (batches of 256, wait=True), then search QPS / latency / recall@10 once every node
reports the collection green, for (a) one node and (b) a 3-node cluster from scripts/cluster-up.sh
with replication_factor 2; then (b) only: the shard transfer rate per method (stream_records, then
snapshot; a new replica of one shard, request to Active), the catch-up of that replica after a
clean restart of its node that missed writes (WAL delta), and the time from a SIGKILL of a node
to the next acknowledged write.
3 shards in both cases.

    python bench/cluster_bench.py [--points 100000] [--nq 500]     (QUIVER_BIN: release build)
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient, models

ROOT = Path(__file__).resolve().parents[1]


def load(points: int, nq: int):
    ds = ROOT.parent / "shared" / "datasets" / "minilm-100k"
    dim = json.loads((ds / "meta.json").read_text())["dim"]
    base = np.fromfile(ds / "base.f16", dtype="<f2").reshape(-1, dim).astype(np.float32)[:points]
    queries = np.fromfile(ds / "queries.f16", dtype="<f2").reshape(-1, dim).astype(np.float32)[:nq]
    gt = np.fromfile(ds / "gt.i32", dtype="<i4").reshape(-1, 100)[:nq] if points == 100000 else None
    return dim, base, queries, gt


def wait_green(clients, name, timeout=600):
    started = time.time()
    while time.time() - started < timeout:
        if all(c.get_collection(name).status == models.CollectionStatus.GREEN for c in clients):
            return time.time() - started
        time.sleep(0.5)
    raise RuntimeError("collection did not turn green")


def measure(label, clients, dim, base, queries, gt, replication):
    client = clients[0]
    name = "cluster_bench"
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
                             shard_number=3, replication_factor=replication)
    t = time.perf_counter()
    for start in range(0, len(base), 256):
        end = min(len(base), start + 256)
        client.upsert(name, wait=True, points=models.Batch(ids=list(range(start, end)),
                                                           vectors=base[start:end].tolist()))
    secs = time.perf_counter() - t
    print(f"[{label}] upsert: {len(base)} points in {secs:.2f} s = {len(base) / secs:.0f} points/s "
          f"(batches of 256, wait=True, one client, replication_factor={replication})", flush=True)
    print(f"[{label}] indexing finished {wait_green(clients, name):.1f} s after the last write", flush=True)
    lat, hits = [], 0
    t = time.perf_counter()
    for i, q in enumerate(queries):
        s = time.perf_counter()
        res = client.query_points(name, query=q.tolist(), limit=10,
                                  search_params=models.SearchParams(hnsw_ef=64)).points
        lat.append(time.perf_counter() - s)
        if gt is not None:
            hits += len({p.id for p in res} & set(gt[i][:10].tolist()))
    wall = time.perf_counter() - t
    lat.sort()
    recall = f", recall@10 {hits / (10 * len(queries)):.4f}" if gt is not None else ""
    print(f"[{label}] search hnsw_ef=64: {len(queries) / wall:.0f} QPS, p50 {lat[len(lat) // 2] * 1e3:.2f} ms, "
          f"p99 {lat[len(lat) * 99 // 100] * 1e3:.2f} ms{recall} (one client)", flush=True)
    return name


def start_single(binary, data):
    env = dict(os.environ, QUIVER__STORAGE__PATH=data, QUIVER__SERVICE__HOST="127.0.0.1", QUIVER_LOG="warn")
    proc = subprocess.Popen([binary], env=env, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            QdrantClient("127.0.0.1", port=6333, timeout=5).get_collections()
            return proc
        except Exception:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("single node did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=100000)
    ap.add_argument("--nq", type=int, default=500)
    args = ap.parse_args()
    binary = os.environ.get("QUIVER_BIN", str(ROOT / "target" / "release" / "quiver"))
    dim, base, queries, gt = load(args.points, args.nq)

    data = tempfile.mkdtemp(prefix="quiver-bench-single-")
    proc = start_single(binary, data)
    try:
        c = QdrantClient("127.0.0.1", port=6333, grpc_port=6334, prefer_grpc=True, timeout=600)
        measure("1 node", [c], dim, base, queries, gt, 1)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)

    data = tempfile.mkdtemp(prefix="quiver-bench-cluster-")
    env = dict(os.environ, DATA=data, N="3", QUIVER_BIN=binary, QUIVER_LOG="warn")
    subprocess.run(["bash", str(ROOT / "scripts" / "cluster-up.sh"), "up"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    try:
        clients = [QdrantClient(f"127.0.0.{i}", port=6333, grpc_port=6334, prefer_grpc=True, timeout=600)
                   for i in (1, 2, 3)]
        name = measure("3 nodes", clients, dim, base, queries, gt, 2)
        # Shard transfer: a third replica of shard 0 on the node without one, timed to Active.
        import urllib.request

        def replicas():
            with urllib.request.urlopen(f"http://127.0.0.1:6333/quiver/collections/{name}/replicas") as r:
                return [x for x in json.load(r)["result"] if x["shard_id"] == 0]
        holders = {x["peer_id"] for x in replicas()}
        peers = set()
        for i in (1, 2, 3):
            with urllib.request.urlopen(f"http://127.0.0.{i}:6333/cluster") as r:
                peers.add(json.load(r)["result"]["peer_id"])
        to = (peers - holders).pop()

        def post(body):
            req = urllib.request.Request(f"http://127.0.0.1:6333/collections/{name}/cluster",
                                         data=json.dumps(body).encode(), method="POST",
                                         headers={"content-type": "application/json"})
            urllib.request.urlopen(req).read()

        # Each method in turn: the new replica is dropped again before the next one.
        for method in ("stream_records", "snapshot"):
            t = time.perf_counter()
            post({"replicate_shard": {"shard_id": 0, "to_peer_id": to, "method": method}})
            while True:
                r = [x for x in replicas() if x["peer_id"] == to]
                if r and r[0]["state"] == "Active":
                    break
                time.sleep(0.05)
            secs = time.perf_counter() - t
            points = r[0]["points"]
            print(f"[3 nodes] shard transfer ({method}): {points} points ({dim}-d) copied to a new replica "
                  f"in {secs:.2f} s = {points / secs:.0f} points/s (request to Active)", flush=True)
            if method != "snapshot":
                post({"drop_replica": {"shard_id": 0, "peer_id": to}})
                while any(x["peer_id"] == to for x in replicas()):
                    time.sleep(0.05)
        # Catch-up after a restart: the node holding the new replica stops, misses writes, starts
        # again on its data and is timed from start to Active. After SIGTERM it kept its position
        # and catches up by WAL delta; after SIGKILL it has none and copies the shard whole.
        index = {}
        for i in (1, 2, 3):
            with urllib.request.urlopen(f"http://127.0.0.{i}:6333/cluster") as r:
                index[json.load(r)["result"]["peer_id"]] = i
        k = index[to]
        other = clients[0] if k != 1 else clients[1]
        node_dir = Path(data) / f"node-{k}"
        # The restarted node answers from its own metadata until raft catches it up: ask another.
        watcher = f"127.0.0.{1 if k != 1 else 2}"

        def replicas_seen_by_other():
            with urllib.request.urlopen(f"http://{watcher}:6333/quiver/collections/{name}/replicas") as r:
                return [x for x in json.load(r)["result"] if x["shard_id"] == 0]
        proc = None
        for how_stopped, sig, base_id in (("clean restart (SIGTERM)", signal.SIGTERM, 10_000_000),
                                          ("restart after SIGKILL", signal.SIGKILL, 20_000_000)):
            pid = int((node_dir / "pid").read_text())
            os.kill(pid, sig)
            if proc is not None:
                proc.wait()  # our own child: reap it, or it lingers as a zombie
            while True:
                try:
                    os.kill(pid, 0)
                    time.sleep(0.05)
                except ProcessLookupError:
                    break
            # Wait until the others have marked it Dead (the first missed write does that).
            missed = 0
            for start in range(0, 5000, 250):
                ids = list(range(base_id + start, base_id + start + 250))
                other.upsert(name, wait=True, points=models.Batch(
                    ids=ids, vectors=[base[i % len(base)].tolist() for i in ids]))
                missed += len(ids)
            args = [binary, "--uri", f"http://127.0.0.{k}:6335"]
            if k > 1:
                args += ["--bootstrap", "http://127.0.0.1:6335"]
            node_env = dict(os.environ, QUIVER__STORAGE__PATH=str(node_dir / "storage"),
                            QUIVER__SERVICE__HOST=f"127.0.0.{k}", QUIVER_LOG="info,openraft=warn",
                            QUIVER__CLUSTER__CONSENSUS__TICK_PERIOD_MS="100")
            t = time.perf_counter()
            log_path = node_dir / f"restart-{sig}.log"
            log = open(log_path, "w")
            proc = subprocess.Popen(args, env=node_env, stdout=subprocess.DEVNULL, stderr=log)
            (node_dir / "pid").write_text(str(proc.pid))
            seen_dead = False
            while True:
                try:
                    r = [x for x in replicas_seen_by_other() if x["peer_id"] == to]
                    seen_dead = seen_dead or bool(r and r[0]["state"] != "Active")
                    if seen_dead and r and r[0]["state"] == "Active":
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            secs = time.perf_counter() - t
            time.sleep(0.5)  # the log line follows the switch
            how = [line.split("recovered ")[1].strip() for line in open(log_path)
                   if "recovered " in line]
            print(f"[3 nodes] {how_stopped} of a replica of shard 0 ({r[0]['points']} points) while "
                  f"{missed} points were written ({missed // 250} upserts over 3 shards): "
                  f"Active {secs:.2f} s after its start, recovered {how[0] if how else '?'}", flush=True)
        # Writes through node 1 while node 3 is killed: the gap until the next acknowledged write.
        pid = int((Path(data) / "node-3" / "pid").read_text())
        gaps = []
        killed = None
        for i in range(400):
            if i == 100:
                os.kill(pid, signal.SIGKILL)
                killed = time.perf_counter()
            try:
                clients[0].upsert(name, wait=True, points=models.Batch(
                    ids=[i], vectors=[base[i % len(base)].tolist()]))
                if killed is not None and not gaps:
                    gaps.append(time.perf_counter() - killed)
            except Exception as e:  # counted, not hidden
                print(f"[3 nodes] write {i} failed: {e}", flush=True)
        print(f"[3 nodes] SIGKILL of a node to the next acknowledged write: {gaps[0] * 1e3:.1f} ms", flush=True)
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "cluster-up.sh"), "down"], env=env,
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
