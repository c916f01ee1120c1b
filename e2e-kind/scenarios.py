"""The e2e-kind scenarios against a real cluster (see run.sh): the same steps as the operator's
simulation suite (operator/tests/sim_cluster.rs), through kubectl and a port-forwarded client."""

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.request

from qdrant_client import QdrantClient, models


def kubectl(*args, input=None):
    out = subprocess.run(["kubectl", "-n", NS, *args], input=input, text=True, capture_output=True)
    if out.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {out.stderr}")
    return out.stdout


def status(kind, name):
    return json.loads(kubectl("get", kind, name, "-o", "json")).get("status", {})


def wait(kind, name, what, check, timeout=600):
    started = time.time()
    while time.time() - started < timeout:
        s = status(kind, name)
        if check(s):
            print(f"ok: {what} ({time.time() - started:.0f}s)")
            return s
        time.sleep(3)
    sys.exit(f"{what}: not reached in {timeout}s; status {json.dumps(s)}")


def ready(nodes, version=None):
    def check(s):
        return (s.get("phase") == "Ready" and s.get("readyNodes") == nodes
                and (version is None or s.get("currentVersion") == version))
    return check


def apply(doc):
    kubectl("apply", "-f", "-", input=json.dumps(doc))


def patch(kind, name, spec):
    kubectl("patch", kind, name, "--type", "merge", "-p", json.dumps({"spec": spec}))


class Forward(threading.Thread):
    """Keeps `kubectl port-forward svc/vec` running: it follows one pod, and exits when that
    pod goes (every pod restarts in an upgrade), so it is started again each time."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop, self.proc, self.restarts = port, False, None, 0

    def run(self):
        while not self.stop:
            self.proc = subprocess.Popen(["kubectl", "-n", NS, "port-forward", "svc/vec", f"{self.port}:6333"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.proc.wait()
            if not self.stop:
                self.restarts += 1
                time.sleep(1)

    def close(self):
        self.stop = True
        if self.proc:
            self.proc.terminate()


class Writer(threading.Thread):
    """Writes through the client Service (port-forwarded) and reads acknowledged points back,
    timing the longest stretch without a successful write and without a successful read."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.client = QdrantClient("localhost", port=port, timeout=10)
        self.acked, self.lost, self.stop = [], [], False
        self.write_failures = self.read_failures = 0
        self.longest_write_gap = self.longest_read_gap = 0.0

    def run(self):
        i = 1
        last_write = last_read = time.time()
        while not self.stop:
            try:
                self.client.upsert("docs", [models.PointStruct(id=i, vector=[1.0, i % 7, 0.5, 0.25])], wait=True)
                self.acked.append(i)
                i += 1
                last_write = time.time()
            except Exception:
                self.write_failures += 1
                self.longest_write_gap = max(self.longest_write_gap, time.time() - last_write)
                time.sleep(0.2)
                continue
            try:
                probe = self.acked[(i * 7919) % len(self.acked)]
                if not self.client.retrieve("docs", [probe]):
                    self.lost.append(probe)
                last_read = time.time()
            except Exception:
                self.read_failures += 1
                self.longest_read_gap = max(self.longest_read_gap, time.time() - last_read)
                time.sleep(0.2)


def main():
    cluster = {"apiVersion": "quiver.dev/v1alpha1", "kind": "VectorCluster", "metadata": {"name": "vec"},
               "spec": {"version": "v1", "image": "quiver-e2e/quiver", "nodes": 3, "storage": {"size": "1Gi"},
                        "objectStore": {"bucket": "quiver-backups", "endpoint": f"http://minio.{NS}.svc:9000",
                                        "region": "us-east-1", "credentialsSecret": "quiver-s3"}}}
    apply(cluster)
    wait("vectorcluster", "vec", "3 nodes ready", ready(3))
    apply({"apiVersion": "quiver.dev/v1alpha1", "kind": "VectorCollection", "metadata": {"name": "docs"},
           "spec": {"clusterRef": "vec", "vectors": {"": {"size": 4, "distance": "Cosine"}},
                    "sharding": {"shardNumber": 3}, "replicationFactor": 2}})
    wait("vectorcollection", "docs", "collection ready", lambda s: s.get("phase") == "Ready")
    forward = Forward(16333)
    forward.start()
    time.sleep(3)
    writer = Writer(16333)
    writer.start()
    try:
        patch("vectorcluster", "vec", {"nodes": 4})
        wait("vectorcluster", "vec", "scaled to 4", ready(4))
        patch("vectorcluster", "vec", {"nodes": 3})
        wait("vectorcluster", "vec", "scaled back to 3", lambda s: ready(3)(s) and not s.get("leavingNode"))
        patch("vectorcluster", "vec", {"version": "v2"})
        wait("vectorcluster", "vec", "upgraded to v2", ready(3, "v2"))
        leader = status("vectorcluster", "vec")["leader"]
        for attempt in range(30):  # the port-forward may be starting again
            try:
                with urllib.request.urlopen("http://localhost:16333/quiver/node", timeout=10) as r:
                    peers = json.load(r)["result"]["raft"]["peers"]
                break
            except OSError:
                time.sleep(2)
        else:
            sys.exit("no node answered /quiver/node through the port-forward")
        leader_ip = peers[str(leader)]["uri"].split("//")[1].rsplit(":", 1)[0]
        for pod in json.loads(kubectl("get", "pods", "-l", "app.kubernetes.io/instance=vec", "-o", "json"))["items"]:
            if pod["status"].get("podIP") == leader_ip:
                kubectl("delete", "pod", pod["metadata"]["name"], "--grace-period=0", "--force")
        wait("vectorcluster", "vec", "ready after losing the leader pod", ready(3, "v2"))
        apply({"apiVersion": "quiver.dev/v1alpha1", "kind": "VectorBackup", "metadata": {"name": "docs-1"},
               "spec": {"clusterRef": "vec", "collections": ["docs"]}})
        wait("vectorbackup", "docs-1", "backup completed", lambda s: s.get("phase") == "Completed")
    finally:
        writer.stop = True
        writer.join(timeout=30)
    acked = list(writer.acked)
    assert not writer.lost, f"acknowledged points read as missing: {writer.lost[:10]}"
    print(f"writes failed {writer.write_failures} times (longest gap {writer.longest_write_gap:.1f} s), "
          f"reads {writer.read_failures} times (longest gap {writer.longest_read_gap:.1f} s); "
          f"the port-forward was restarted {forward.restarts} times")
    # Reads keep succeeding: a gap is a pod going plus a new port-forward, never minutes.
    assert writer.longest_read_gap < 60, f"reads failed for {writer.longest_read_gap:.0f} s in a row"
    got = writer.client.retrieve("docs", acked)
    assert len(got) == len(acked), f"{len(acked) - len(got)} acknowledged points missing"
    print(f"ok: {len(acked)} acknowledged writes all present")
    apply({"apiVersion": "quiver.dev/v1alpha1", "kind": "VectorCollection", "metadata": {"name": "docs-restored"},
           "spec": {"clusterRef": "vec", "vectors": {"": {"size": 4, "distance": "Cosine"}},
                    "sharding": {"shardNumber": 3}, "replicationFactor": 2,
                    "bootstrap": {"backup": "docs-1", "sourceCollection": "docs"}}})
    wait("vectorcollection", "docs-restored", "restored", lambda s: s.get("phase") == "Ready" and s.get("restored"))
    count = writer.client.count("docs-restored", exact=True).count
    assert count >= len(acked), f"the restore holds {count} points, {len(acked)} were acknowledged before the backup"
    print(f"ok: restore holds {count} points")
    forward.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--namespace", default="quiver-e2e")
    NS = parser.parse_args().namespace
    main()
