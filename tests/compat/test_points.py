"""Point writes and reads: upsert (int and UUID ids, columnar models.Batch, wait=True/False),
upload_points / upload_collection, retrieve with every with_payload / with_vectors form, delete by
ids and by filter, update_vectors / delete_vectors on named vectors, batch_update_points.
Each operation runs on the server and on local mode; the resulting state is compared.
"""
from __future__ import annotations

import uuid

import numpy as np
import pytest
from qdrant_client import models

import _compat
from _compat import assert_records_equal, scroll_all, wait_until

NAMED = {"a": models.VectorParams(size=4, distance=models.Distance.COSINE),
         "b": models.VectorParams(size=3, distance=models.Distance.EUCLID)}
UUIDS = [str(uuid.UUID(int=(i + 1) * 0x1234567890ABCDEF1234567)) for i in range(5)]


def _vec(rng, dim):
    return rng.uniform(-1, 1, dim).round(4).tolist()


def _named_points(n, seed=0, start=0):
    rng = np.random.default_rng(seed)
    return [models.PointStruct(id=start + i, vector={"a": _vec(rng, 4), "b": _vec(rng, 3)},
                               payload={"i": start + i, "group": ["x", "y", "z"][i % 3]})
            for i in range(n)]


def _state(pair, name, **kwargs):
    s, l = pair.both(lambda c: scroll_all(c, name, with_vectors=True, **kwargs))
    assert_records_equal(s, l, ordered=True, what="collection state")
    return s


@pytest.fixture
def named(pair):
    name = pair.create(vectors_config=NAMED)
    pair.do("upsert", name, points=_named_points(30), wait=True)
    return name


def test_upsert_int_and_uuid_ids(pair):
    name = pair.create(vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    rng = np.random.default_rng(1)
    ids = [0, 1, 7, 2**40, 18446744073709551615] + UUIDS
    # non-canonical UUID spellings are stored in the canonical lowercase hyphenated form
    ids += [str(uuid.UUID(int=77)).upper(), uuid.UUID(int=78).hex]
    pts = [models.PointStruct(id=i, vector=_vec(rng, 4), payload={"k": str(i)}) for i in ids]
    pair.do("upsert", name, points=pts, wait=True)
    state = _state(pair, name)
    assert len(state) == len(ids)
    assert str(uuid.UUID(int=77)) in {r.id for r in state}
    assert str(uuid.UUID(int=78)) in {r.id for r in state}
    s, l = pair.do("retrieve", name, ids=[7, UUIDS[2], uuid.UUID(int=78).hex, 12345],
                   with_vectors=True)
    assert_records_equal(s, l, what="retrieve mixed ids")
    assert len(s) == 3  # the missing id is skipped


def test_upsert_overwrites_whole_point(pair):
    name = pair.create(vectors_config=NAMED)
    pair.do("upsert", name, points=_named_points(5), wait=True)
    pair.do("upsert", name, wait=True, points=[
        models.PointStruct(id=2, vector={"a": [1, 0, 0, 0]}, payload={"new": True})])
    state = _state(pair, name)
    assert state[2].payload == {"new": True} and set(state[2].vector) == {"a"}


def test_upsert_batch_columnar(pair):
    name = pair.create(vectors_config=models.VectorParams(size=3, distance=models.Distance.EUCLID))
    rng = np.random.default_rng(2)
    batch = models.Batch(ids=[5, 3, UUIDS[0], 9],
                         vectors=[_vec(rng, 3) for _ in range(4)],
                         payloads=[{"n": 1}, {"n": 2.5}, {"s": "x", "l": [1, 2]}, {}])
    pair.do("upsert", name, points=batch, wait=True)
    assert len(_state(pair, name)) == 4
    # named vectors in columnar form, without payloads
    name2 = pair.create(vectors_config=NAMED)
    batch = models.Batch(ids=list(range(6)), vectors={
        "a": [_vec(rng, 4) for _ in range(6)], "b": [_vec(rng, 3) for _ in range(6)]})
    pair.do("upsert", name2, points=batch, wait=True)
    assert len(_state(pair, name2)) == 6


def test_upsert_wait_false_becomes_visible(pair):
    name = pair.create(vectors_config=NAMED)
    pts = _named_points(200, seed=3)
    for start in range(0, 200, 50):
        for c in pair.clients:
            res = c.upsert(name, points=pts[start:start + 50], wait=False)
            assert res.status in (models.UpdateStatus.ACKNOWLEDGED, models.UpdateStatus.COMPLETED)
    for c in pair.clients:
        wait_until(lambda: c.count(name, exact=True).count == 200, what="wait=False upserts")
    wait_until(lambda: len(pair.server.retrieve(name, ids=[199])) == 1, what="last point")
    _state(pair, name)


def test_upload_points(pair):
    name = pair.create(vectors_config=NAMED)
    pts = _named_points(150, seed=4)
    for c in pair.clients:
        c.upload_points(name, points=pts, batch_size=32)
    for c in pair.clients:
        wait_until(lambda: c.count(name).count == 150, what="upload_points")
    _state(pair, name)
    name2 = pair.create(vectors_config=NAMED)
    for c in pair.clients:
        c.upload_points(name2, points=iter(pts), batch_size=64, wait=True)
        assert c.count(name2).count == 150


def test_upload_collection(pair):
    name = pair.create(vectors_config=models.VectorParams(size=6, distance=models.Distance.COSINE))
    vectors = np.random.default_rng(5).uniform(-1, 1, (120, 6)).astype(np.float32)
    payload = [{"i": i, "odd": bool(i % 2)} for i in range(120)]
    ids = [i * 3 for i in range(100)] + [str(uuid.UUID(int=1000 + i)) for i in range(20)]
    for c in pair.clients:
        c.upload_collection(name, vectors=vectors, payload=payload, ids=ids, batch_size=25,
                            wait=True)
    assert len(_state(pair, name)) == 120
    name2 = pair.create(vectors_config=NAMED)
    named = {"a": vectors[:, :4], "b": vectors[:, 3:]}
    for c in pair.clients:
        c.upload_collection(name2, vectors=named, ids=list(range(120)), batch_size=50)
        wait_until(lambda: c.count(name2).count == 120, what="upload_collection named")
    _state(pair, name2)


PAYLOAD_FORMS = {
    "true": True,
    "false": False,
    "list": ["city", "nested.a", "tags", "absent"],
    "include": models.PayloadSelectorInclude(include=["count", "nested.b", "items"]),
    "exclude": models.PayloadSelectorExclude(exclude=["tags", "nested.b", "items", "created"]),
}
VECTOR_FORMS = {"true": True, "false": False, "a": ["a"], "b": ["b"], "ab": ["a", "b"]}
RETRIEVE_IDS = [1, 2, 3, 17, 44, 45, 99, 150, 151, 299, 300, 5000]


@pytest.mark.parametrize("with_payload", list(PAYLOAD_FORMS.values()), ids=list(PAYLOAD_FORMS))
def test_retrieve_with_payload(dataset, with_payload):
    s, l = (c.retrieve(dataset.name, ids=RETRIEVE_IDS, with_payload=with_payload)
            for c in (dataset.server, dataset.local))
    assert len(s) == 11
    assert_records_equal(s, l, what=f"retrieve with_payload={with_payload!r}")
    if with_payload is False:
        # Over gRPC qdrant-client always makes a record's payload a dict (see EMPTY_PAYLOAD_IS_NONE).
        empty = (None, {}) if _compat.EMPTY_PAYLOAD_IS_NONE else (None,)
        assert all(r.payload in empty for r in s)


@pytest.mark.parametrize("with_vectors", list(VECTOR_FORMS.values()), ids=list(VECTOR_FORMS))
def test_retrieve_with_vectors(dataset, with_vectors):
    s, l = (c.retrieve(dataset.name, ids=RETRIEVE_IDS, with_payload=False,
                       with_vectors=with_vectors) for c in (dataset.server, dataset.local))
    assert_records_equal(s, l, what=f"retrieve with_vectors={with_vectors!r}")
    if with_vectors is False:
        assert all(r.vector is None for r in s)


def test_delete_by_ids_and_filter(pair, named):
    pair.do("delete", named, points_selector=models.PointIdsList(points=[0, 5, 6, 999]))
    state = _state(pair, named)
    assert len(state) == 27
    pair.do("delete", named, points_selector=models.FilterSelector(filter=models.Filter(
        must=[models.FieldCondition(key="group", match=models.MatchValue(value="y"))])))
    state = _state(pair, named)
    assert len(state) == 17 and all(r.payload["group"] != "y" for r in state)
    # a bare list of ids is a selector too (1 is already gone)
    pair.do("delete", named, points_selector=[1, 2])
    assert len(_state(pair, named)) == 16
    s, l = pair.do("count", named)
    assert s.count == l.count == 16


def test_update_and_delete_named_vectors(pair, named):
    rng = np.random.default_rng(6)
    pair.do("update_vectors", named, wait=True, points=[
        models.PointVectors(id=1, vector={"a": _vec(rng, 4)}),
        models.PointVectors(id=2, vector={"b": _vec(rng, 3)}),
        models.PointVectors(id=3, vector={"a": _vec(rng, 4), "b": _vec(rng, 3)})])
    _state(pair, named)
    pair.do("delete_vectors", named, vectors=["b"], wait=True,
            points=models.PointIdsList(points=[4, 5, 6]))
    state = _state(pair, named)
    assert set(state[4].vector) == {"a"} and set(state[7].vector) == {"a", "b"}
    pair.do("delete_vectors", named, vectors=["a"], wait=True, points=models.FilterSelector(
        filter=models.Filter(must=[models.FieldCondition(key="group",
                                                         match=models.MatchValue(value="z"))])))
    _state(pair, named)
    has_b = models.Filter(must=[models.HasVectorCondition(has_vector="b")])
    has_a = models.Filter(must=[models.HasVectorCondition(has_vector="a")])
    for f, expected in ((has_b, 27), (has_a, 20)):
        s, l = pair.do("count", named, count_filter=f)
        assert s.count == l.count == expected
    # a vector put back on a point that lost it
    pair.do("update_vectors", named, wait=True,
            points=[models.PointVectors(id=4, vector={"b": [0.5, 0.5, 0.5]})])
    assert set(_state(pair, named)[4].vector) == {"a", "b"}


def test_batch_update_points(pair, named):
    rng = np.random.default_rng(7)
    ops = [
        models.UpsertOperation(upsert=models.PointsList(points=_named_points(3, 8, start=100))),
        models.UpsertOperation(upsert=models.PointsBatch(batch=models.Batch(
            ids=[200, 201], vectors={"a": [_vec(rng, 4), _vec(rng, 4)],
                                     "b": [_vec(rng, 3), _vec(rng, 3)]},
            payloads=[{"batch": 1}, {"batch": 2}]))),
        models.DeleteOperation(delete=models.PointIdsList(points=[0, 1])),
        models.SetPayloadOperation(set_payload=models.SetPayload(
            payload={"flag": True, "deep": {"x": 1}}, points=[2, 3, 100])),
        models.SetPayloadOperation(set_payload=models.SetPayload(
            payload={"y": 2}, key="deep", points=[3])),
        models.OverwritePayloadOperation(overwrite_payload=models.SetPayload(
            payload={"only": "this"}, points=[4])),
        models.DeletePayloadOperation(delete_payload=models.DeletePayload(
            keys=["group"], points=[5, 6])),
        models.ClearPayloadOperation(clear_payload=models.PointIdsList(points=[7])),
        models.UpdateVectorsOperation(update_vectors=models.UpdateVectors(points=[
            models.PointVectors(id=8, vector={"a": _vec(rng, 4)})])),
        models.DeleteVectorsOperation(delete_vectors=models.DeleteVectors(
            vector=["b"], points=[9, 10])),
        models.DeleteOperation(delete=models.FilterSelector(filter=models.Filter(must=[
            models.FieldCondition(key="i", range=models.Range(gte=25, lt=29))]))),
    ]
    s, l = pair.do("batch_update_points", named, update_operations=ops, wait=True)
    assert len(s) == len(l) == len(ops)
    assert all(r.status == models.UpdateStatus.COMPLETED for r in s)
    state = _state(pair, named)
    ids = [r.id for r in state]
    assert 0 not in ids and 25 not in ids and {100, 101, 102, 200, 201} <= set(ids)
