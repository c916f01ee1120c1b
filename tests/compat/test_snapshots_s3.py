"""Snapshots kept on an S3-compatible store (`snapshots_storage: s3`), against a real S3 server
started here on loopback (moto's server): a snapshot lands in the bucket with its checksum beside
it and nowhere on local disk; list, download and delete go to the bucket; recovery from an
`s3://bucket/key` location brings the collection back.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import time

import boto3
import httpx
import pytest
from qdrant_client import QdrantClient, models

from _harness import QuiverServer, free_port

pytestmark = pytest.mark.server_only

BUCKET = "quiver-snapshots"
CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def s3():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start")
                time.sleep(0.1)
        client = boto3.client("s3", endpoint_url=url, **CREDS)
        client.create_bucket(Bucket=BUCKET)
        yield url, client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(s3):
    url, _ = s3
    env = {
        "QUIVER__STORAGE__SNAPSHOTS_CONFIG__SNAPSHOTS_STORAGE": "s3",
        "QUIVER__STORAGE__SNAPSHOTS_CONFIG__S3_CONFIG__BUCKET": BUCKET,
        "QUIVER__STORAGE__SNAPSHOTS_CONFIG__S3_CONFIG__PREFIX": "backups",
        "QUIVER__STORAGE__SNAPSHOTS_CONFIG__S3_CONFIG__ENDPOINT_URL": url,
        "QUIVER__STORAGE__SNAPSHOTS_CONFIG__S3_CONFIG__REGION": "us-east-1",
        "QUIVER__STORAGE__SNAPSHOTS_CONFIG__S3_CONFIG__ACCESS_KEY": "test",
        "QUIVER__STORAGE__SNAPSHOTS_CONFIG__S3_CONFIG__SECRET_KEY": "test",
    }
    srv = QuiverServer(extra_env=env).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_snapshots_live_in_the_bucket(server, s3):
    _, bucket = s3
    client = QdrantClient(url=server.http_url, timeout=30)
    name = "s3snap"
    client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(name, wait=True, points=[
        models.PointStruct(id=i, vector=[1.0, float(i)], payload={"i": i}) for i in range(40)])

    made = client.create_snapshot(name)
    key = f"backups/{name}/{made.name}"
    body = bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == made.checksum
    assert bucket.get_object(Bucket=BUCKET, Key=key + ".checksum")["Body"].read().decode() == made.checksum
    assert not (server.storage / "snapshots" / name / made.name).exists(), "no local copy kept"
    listed = client.list_snapshots(name)
    assert [(s.name, s.size, s.checksum) for s in listed] == [(made.name, len(body), made.checksum)]
    downloaded = httpx.get(f"{server.http_url}/collections/{name}/snapshots/{made.name}")
    assert downloaded.status_code == 200 and downloaded.content == body

    client.delete(name, wait=True, points_selector=models.PointIdsList(points=list(range(10))))
    assert client.count(name).count == 30
    assert client.recover_snapshot(name, location=f"s3://{BUCKET}/{key}", checksum=made.checksum)
    assert client.count(name).count == 40

    full = client.create_full_snapshot()
    assert bucket.head_object(Bucket=BUCKET, Key=f"backups/{full.name}")["ContentLength"] == full.size
    assert full.name in [s.name for s in client.list_full_snapshots()]
    assert made.name not in [s.name for s in client.list_full_snapshots()], "collection folders are not listed"

    assert client.delete_snapshot(name, made.name)
    assert client.list_snapshots(name) == []
    missing = httpx.get(f"{server.http_url}/collections/{name}/snapshots/{made.name}")
    assert missing.status_code == 404
    client.close()


def test_large_snapshot_goes_up_in_parts(server, s3):
    """An archive larger than one 8 MiB upload part arrives whole (multipart upload) and downloads
    whole (streamed)."""
    import numpy as np

    _, bucket = s3
    client = QdrantClient(url=server.http_url, timeout=60)
    name = "s3big"
    client.create_collection(name, vectors_config=models.VectorParams(size=256, distance=models.Distance.DOT))
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((12_000, 256)).astype(np.float32)
    client.upload_collection(name, vectors=vectors, ids=list(range(12_000)), batch_size=1000, wait=True)
    made = client.create_snapshot(name)
    assert made.size > 9 << 20, made.size
    body = bucket.get_object(Bucket=BUCKET, Key=f"backups/{name}/{made.name}")["Body"].read()
    assert len(body) == made.size and hashlib.sha256(body).hexdigest() == made.checksum
    downloaded = httpx.get(f"{server.http_url}/collections/{name}/snapshots/{made.name}", timeout=60)
    assert hashlib.sha256(downloaded.content).hexdigest() == made.checksum
    client.delete_collection(name)
    client.close()
