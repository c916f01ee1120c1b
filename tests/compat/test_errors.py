"""Error behaviour (server only; skipped in self-test mode): wrong vector dimension, unknown
collection (REST 404 / gRPC NOT_FOUND), creating an existing collection ("already exists"),
unknown vector name, NaN/Infinity in vectors (raw REST JSON and through the client), malformed
filters and invalid values in raw REST JSON (400 naming the field, Qdrant's error JSON shape),
missing points in payload updates. After every error the points stored before are intact.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import grpc as grpclib
import httpx
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

from _compat import assert_records_equal, unique

pytestmark = pytest.mark.server_only

IDS = list(range(1, 11))
NAMED = {"text": models.VectorParams(size=4, distance=models.Distance.COSINE),
         "image": models.VectorParams(size=3, distance=models.Distance.EUCLID)}


def _seed(c, pair):
    single, named = pair.name("err"), pair.name("err_named")
    c.create_collection(single, vectors_config=models.VectorParams(
        size=4, distance=models.Distance.COSINE))
    c.create_collection(named, vectors_config=NAMED)
    c.upsert(single, wait=True, points=[models.PointStruct(
        id=i, vector=[i, 1.0, -0.5, 0.25], payload={"i": i, "city": "Berlin" if i % 2 else "Oslo"})
        for i in IDS])
    c.upsert(named, wait=True, points=[models.PointStruct(
        id=i, vector={"text": [1.0, i, 0.0, 0.5], "image": [0.5, i, 2.0]}, payload={"i": i})
        for i in IDS])
    before = {n: c.retrieve(n, ids=IDS, with_vectors=True) for n in (single, named)}
    return SimpleNamespace(c=c, single=single, named=named, before=before)


def assert_intact(s) -> None:
    for name, records in s.before.items():
        assert s.c.count(name, exact=True).count == len(IDS), f"{name}: point count changed"
        assert_records_equal(s.c.retrieve(name, ids=IDS, with_vectors=True), records,
                             what=f"{name} after the error")


@pytest.fixture
def seeded(server_pair):
    s = _seed(server_pair.server, server_pair)
    yield s
    assert_intact(s)


@pytest.fixture
def raw(rest, quiver_server):
    """Raw REST access (httpx) next to seeded collections."""
    from _compat import Pair
    pair = Pair(rest, None)
    s = _seed(rest, pair)
    s.http = httpx.Client(base_url=quiver_server.http_url, timeout=30)
    yield s
    s.http.close()
    assert_intact(s)
    pair.cleanup()


def expect_error(fn, http=(400,), grpc=(grpclib.StatusCode.INVALID_ARGUMENT,), contains=()):
    """Runs fn, expects a REST or gRPC error with one of the given codes; returns its text."""
    with pytest.raises(Exception) as info:
        fn()
    e = info.value
    if isinstance(e, UnexpectedResponse):
        text = e.content.decode(errors="replace")
        assert e.status_code in http, f"HTTP {e.status_code}, expected {http}: {text}"
    elif isinstance(e, grpclib.RpcError):
        text = e.details() or ""
        assert e.code() in grpc, f"gRPC {e.code()}, expected {grpc}: {text}"
    else:
        raise AssertionError(f"unexpected exception {type(e).__name__}: {e}") from e
    for word in contains:
        assert word.lower() in text.lower(), f"error text lacks {word!r}: {text}"
    return text


NOT_FOUND = dict(http=(404,), grpc=(grpclib.StatusCode.NOT_FOUND,))


def test_wrong_vector_dimension(seeded):
    c, name = seeded.c, seeded.single
    for fn in (
        lambda: c.upsert(name, wait=True, points=[models.PointStruct(id=100, vector=[1.0, 2, 3])]),
        lambda: c.upsert(name, wait=True, points=models.Batch(ids=[101], vectors=[[1.0] * 5])),
        lambda: c.query_points(name, query=[1.0, 2.0, 3.0]),
        lambda: c.update_vectors(name, points=[models.PointVectors(id=1, vector=[1.0, 2.0])]),
    ):
        text = expect_error(fn, contains=["4"])
        assert "dim" in text.lower(), f"error does not mention the dimension: {text}"
    # a batch with one bad point: the error names the expected dimension too
    expect_error(lambda: c.upsert(name, wait=True, points=[
        models.PointStruct(id=200, vector=[1.0, 2, 3, 4]),
        models.PointStruct(id=201, vector=[1.0, 2, 3, 4, 5, 6])]), contains=["4"])


def test_wrong_named_vector_dimension(seeded):
    c, name = seeded.c, seeded.named
    expect_error(lambda: c.upsert(name, wait=True, points=[models.PointStruct(
        id=100, vector={"text": [1.0, 2.0], "image": [1.0, 2.0, 3.0]})]), contains=["4", "dim"])
    expect_error(lambda: c.query_points(name, query=[1.0, 2.0, 3.0, 4.0], using="image"),
                 contains=["3", "dim"])


@pytest.mark.parametrize("op", ["get_collection", "upsert", "query_points", "count", "retrieve",
                                "scroll", "delete", "set_payload", "create_payload_index",
                                "update_collection", "query_batch_points"])
def test_unknown_collection(seeded, op):
    c, missing = seeded.c, unique("missing")
    calls = {
        "get_collection": lambda: c.get_collection(missing),
        "upsert": lambda: c.upsert(missing, points=[models.PointStruct(id=1, vector=[1.0] * 4)]),
        "query_points": lambda: c.query_points(missing, query=[1.0] * 4),
        "count": lambda: c.count(missing),
        "retrieve": lambda: c.retrieve(missing, ids=[1]),
        "scroll": lambda: c.scroll(missing),
        "delete": lambda: c.delete(missing, points_selector=[1]),
        "set_payload": lambda: c.set_payload(missing, payload={"a": 1}, points=[1]),
        "create_payload_index": lambda: c.create_payload_index(
            missing, "a", field_schema=models.PayloadSchemaType.KEYWORD),
        "update_collection": lambda: c.update_collection(
            missing, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=100)),
        "query_batch_points": lambda: c.query_batch_points(missing, requests=[
            models.QueryRequest(query=[1.0] * 4)]),
    }
    text = expect_error(calls[op], **NOT_FOUND)
    assert missing in text, f"error does not name the collection: {text}"
    assert c.collection_exists(missing) is False


def test_create_existing_collection(seeded):
    c = seeded.c
    for name in (seeded.single, seeded.named):
        expect_error(lambda: c.create_collection(name, vectors_config=models.VectorParams(
            size=4, distance=models.Distance.DOT)), http=(400, 409),
            grpc=(grpclib.StatusCode.INVALID_ARGUMENT, grpclib.StatusCode.ALREADY_EXISTS),
            contains=["already exists"])
    info = c.get_collection(seeded.single)  # unchanged: still Cosine
    assert info.config.params.vectors.distance == models.Distance.COSINE


def test_invalid_collection_params(seeded):
    c, pair_name = seeded.c, unique("bad")
    expect_error(lambda: c.create_collection(pair_name, vectors_config=models.VectorParams(
        size=0, distance=models.Distance.DOT)), http=(400, 422), contains=["size"])
    assert c.collection_exists(pair_name) is False


def test_unknown_vector_name(seeded):
    c, name = seeded.c, seeded.named
    codes = dict(http=(400, 404), grpc=(grpclib.StatusCode.INVALID_ARGUMENT,
                                        grpclib.StatusCode.NOT_FOUND))
    expect_error(lambda: c.query_points(name, query=[1.0] * 4, using="nope"),
                 contains=["nope"], **codes)
    expect_error(lambda: c.upsert(name, wait=True, points=[models.PointStruct(
        id=100, vector={"text": [1.0] * 4, "nope": [1.0] * 4})]), contains=["nope"], **codes)
    expect_error(lambda: c.update_vectors(name, points=[models.PointVectors(
        id=1, vector={"nope": [1.0, 2.0]})]), contains=["nope"], **codes)
    # the unnamed vector does not exist in a named-only collection
    expect_error(lambda: c.query_points(name, query=[1.0] * 4), **codes)
    # and a name does not exist in a single-vector collection
    expect_error(lambda: c.query_points(seeded.single, query=[1.0] * 4, using="text"), **codes)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")], ids=str)
def test_non_finite_vector_via_client(seeded, bad):
    c = seeded.c
    expect_error(lambda: c.upsert(seeded.single, wait=True, points=[
        models.PointStruct(id=1, vector=[bad, 1.0, 1.0, 1.0])]), http=(400, 422))
    expect_error(lambda: c.query_points(seeded.single, query=[1.0, bad, 0.0, 0.0]),
                 http=(400, 422))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_vector_raw_rest(raw, literal):
    body = '{"points": [{"id": 1, "vector": [%s, 1.0, 1.0, 1.0]}]}' % literal
    r = raw.http.put(f"/collections/{raw.single}/points", params={"wait": "true"}, content=body,
                     headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), (r.status_code, r.text)
    body = '{"query": [1.0, %s, 0.0, 0.0], "limit": 3}' % literal
    r = raw.http.post(f"/collections/{raw.single}/points/query", content=body,
                      headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), (r.status_code, r.text)


MALFORMED = {
    "range_string": ({"must": [{"key": "i", "range": {"gt": "ten"}}]}, ["gt", "range"]),
    "geo_missing_lon": ({"must": [{"key": "loc", "geo_radius": {"center": {"lat": 1.0},
                                                                "radius": 5.0}}]},
                        ["lon", "center", "geo_radius"]),
    "must_not_list_or_condition": ({"must": "city"}, ["must"]),
    "min_count_string": ({"min_should": {"conditions": [], "min_count": "two"}},
                         ["min_count", "min_should"]),
    "match_value_object": ({"must": [{"key": "city", "match": {"value": {"x": 1}}}]},
                           ["match", "value"]),
    "has_id_bad_id": ({"must": [{"has_id": ["not-a-uuid"]}]}, ["has_id", "not-a-uuid", "uuid"]),
}


@pytest.mark.parametrize("endpoint", ["count", "scroll", "query"])
@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_filter_raw_rest(raw, endpoint, case):
    flt, names = MALFORMED[case]
    r = raw.http.post(f"/collections/{raw.single}/points/{endpoint}", json={"filter": flt})
    assert r.status_code == 400, (r.status_code, r.text)
    err = r.json()["status"]["error"]  # Qdrant's error shape: {"status": {"error": ...}, ...}
    assert isinstance(err, str) and err
    assert any(n.lower() in err.lower() for n in names), f"error names none of {names}: {err}"


def test_invalid_json_body_raw_rest(raw):
    r = raw.http.put(f"/collections/{raw.single}/points", content=b"{not json",
                     headers={"content-type": "application/json"})
    assert r.status_code == 400, (r.status_code, r.text)
    assert isinstance(r.json()["status"]["error"], str)


def test_unknown_collection_raw_rest(raw):
    missing = unique("missing")
    for method, path, body in (("GET", f"/collections/{missing}", None),
                               ("POST", f"/collections/{missing}/points/count", {}),
                               ("POST", f"/collections/{missing}/points/scroll", {})):
        r = raw.http.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert missing in r.json()["status"]["error"]
    r = raw.http.get(f"/collections/{missing}/exists")
    assert r.status_code == 200 and r.json()["result"] == {"exists": False}, r.text


def test_missing_point_in_payload_update(seeded):
    c = seeded.c
    text = expect_error(lambda: c.set_payload(seeded.single, payload={"x": 1}, points=[424242]),
                        **NOT_FOUND)
    assert "424242" in text
    expect_error(lambda: c.update_vectors(seeded.single, points=[models.PointVectors(
        id=424243, vector=[1.0, 2.0, 3.0, 4.0])]), **NOT_FOUND)


def test_service_root_reports_version(raw):
    r = raw.http.get("/")
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body.get("version"), str) and body["version"], body
    assert raw.c.info().version == body["version"]
    # an error must not poison later requests: a normal query still works
    assert json.loads(raw.http.post(f"/collections/{raw.single}/points/count",
                                    json={"exact": True}).text)["result"]["count"] == len(IDS)
