"""Collection and full-storage snapshots through qdrant-client (REST and gRPC): create, list (with
the SHA-256 checksum of the archive), recover in place from a file:// location (the collection
goes back to the snapshot's points and payloads), delete. Local mode has no snapshots, so the
answers are checked against what was written.
"""
from __future__ import annotations

import hashlib

import pytest
from qdrant_client import models

from _compat import unique

pytestmark = pytest.mark.server_only


def _fill(client, name: str, ids: range, tag: str) -> None:
    client.upsert(name, wait=True, points=[
        models.PointStruct(id=i, vector=[1.0, float(i), 0.5], payload={"tag": tag, "i": i}) for i in ids])


def test_collection_snapshot_round_trip(client, rest, quiver_server):
    name = unique("snap")
    client.create_collection(name, vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT))
    try:
        _fill(client, name, range(50), "before")
        made = client.create_snapshot(name)
        assert made.name.endswith(".snapshot")
        listed = client.list_snapshots(name)
        assert [s.name for s in listed] == [made.name]
        assert listed[0].size == made.size and listed[0].checksum == made.checksum
        path = quiver_server.storage / "snapshots" / name / made.name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == made.checksum

        _fill(client, name, range(50, 80), "after")
        client.delete(name, wait=True, points_selector=models.PointIdsList(points=[0, 1]))
        assert client.count(name).count == 78
        # Recovery is a REST call in qdrant-client, whatever the transport.
        assert rest.recover_snapshot(name, location=f"file://{path}", checksum=made.checksum)
        assert client.count(name).count == 50
        assert client.retrieve(name, [1])[0].payload == {"tag": "before", "i": 1}
        with pytest.raises(Exception, match="checksum"):
            rest.recover_snapshot(name, location=f"file://{path}", checksum="0" * 64)
        assert client.count(name).count == 50

        assert client.delete_snapshot(name, made.name)
        assert client.list_snapshots(name) == []
    finally:
        client.delete_collection(name)


def test_full_snapshot_lists_and_deletes(client, quiver_server):
    name = unique("full")
    client.create_collection(name, vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT))
    try:
        _fill(client, name, range(10), "x")
        made = client.create_full_snapshot()
        assert made.name.startswith("full-snapshot-")
        assert made.name in [s.name for s in client.list_full_snapshots()]
        path = quiver_server.storage / "snapshots" / made.name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == made.checksum
        assert client.delete_full_snapshot(made.name)
        assert made.name not in [s.name for s in client.list_full_snapshots()]
    finally:
        client.delete_collection(name)


def test_upload_recovers_into_a_new_collection(rest, quiver_server):
    """POST /collections/{name}/snapshots/upload (multipart `snapshot`), as Qdrant documents it."""
    import httpx

    name, copy = unique("up"), unique("upcopy")
    rest.create_collection(name, vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT))
    try:
        _fill(rest, name, range(20), "up")
        made = rest.create_snapshot(name)
        data = (quiver_server.storage / "snapshots" / name / made.name).read_bytes()
        url = f"http://127.0.0.1:{quiver_server.http_port}/collections/{copy}/snapshots/upload"
        bad = httpx.post(url, params={"checksum": "1" * 64}, files={"snapshot": ("s.snapshot", data)})
        assert bad.status_code == 400 and "checksum" in bad.text
        assert not rest.collection_exists(copy)
        good = httpx.post(url, params={"checksum": made.checksum, "wait": "true"},
                          files={"snapshot": ("s.snapshot", data)})
        assert good.status_code == 200, good.text
        assert rest.count(copy).count == 20
        assert rest.retrieve(copy, [3])[0].payload == {"tag": "up", "i": 3}
    finally:
        rest.delete_collection(name)
        if rest.collection_exists(copy):
            rest.delete_collection(copy)
