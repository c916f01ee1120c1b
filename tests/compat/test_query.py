"""Vector queries with query_points (qdrant-client 1.20 has no `search`): every distance, named
vectors via `using`, numpy and list query vectors, filter, limit, offset, score_threshold,
with_payload / with_vectors forms, exact search params, and query_batch_points.
Results must equal local mode's: same ids in the same order (ties aside), scores within 1e-4,
same payloads, vectors within tolerance (cosine vectors come back normalised).
"""
from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import models

from _compat import assert_scored_equal
from _dataset import query_vector

DISTANCES = [models.Distance.COSINE, models.Distance.DOT, models.Distance.EUCLID,
             models.Distance.MANHATTAN]
EXACT = models.SearchParams(exact=True)


def _query(ds, **kwargs):
    return tuple(c.query_points(ds.name, **kwargs).points for c in (ds.server, ds.local))


@pytest.fixture(scope="module")
def vecs():
    rng = np.random.default_rng(21)
    return rng.uniform(-1, 1, (80, 6)).round(4), rng.uniform(-1, 1, (5, 6)).round(4)


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_distances(pair, vecs, distance):
    base, queries = vecs
    name = pair.create(vectors_config=models.VectorParams(size=6, distance=distance))
    pair.do("upsert", name, wait=True, points=[
        models.PointStruct(id=i, vector=v.tolist(), payload={"i": i}) for i, v in enumerate(base)])
    for qi, q in enumerate(queries):
        for kwargs in ({"limit": 10}, {"limit": 5, "offset": 3}, {"limit": 80},
                       {"limit": 100, "with_vectors": True}, {"limit": 3, "with_payload": False}):
            s, l = pair.both(lambda c: c.query_points(name, query=q.tolist(), **kwargs).points)
            assert_scored_equal(s, l, what=f"{distance.value} q{qi} {kwargs}")
        # a numpy array works as the query too
        s, l = pair.both(lambda c: c.query_points(name, query=q, limit=4).points)
        assert_scored_equal(s, l, what=f"{distance.value} numpy query")


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_score_threshold(pair, vecs, distance):
    base, queries = vecs
    name = pair.create(vectors_config=models.VectorParams(size=6, distance=distance))
    pair.do("upsert", name, wait=True, points=[
        models.PointStruct(id=i, vector=v.tolist()) for i, v in enumerate(base)])
    q = queries[0].tolist()
    full = pair.local.query_points(name, query=q, limit=80).points
    # thresholds between ranks: similarity keeps score >= t, distances keep score <= t
    for rank in (0, 5, 30, 60):
        a, b = full[rank].score, full[rank + 1].score
        if abs(a - b) < 1e-3:
            continue  # too close to put a threshold between them robustly
        s, l = pair.both(lambda c: c.query_points(name, query=q, limit=80,
                                                  score_threshold=(a + b) / 2).points)
        assert_scored_equal(s, l, what=f"{distance.value} score_threshold={(a + b) / 2}")
        assert len(s) == rank + 1
    # a threshold beyond the last point keeps everything; with limit, limit wins
    beyond = full[-1].score + (1.0 if distance in (models.Distance.EUCLID,
                                                   models.Distance.MANHATTAN) else -1.0)
    s, l = pair.both(lambda c: c.query_points(name, query=q, limit=20,
                                              score_threshold=beyond).points)
    assert_scored_equal(s, l, what=f"{distance.value} loose threshold")
    assert len(s) == 20


def test_cosine_vectors_normalised(pair):
    name = pair.create(vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE))
    pair.do("upsert", name, wait=True, points=[models.PointStruct(id=1, vector=[3.0, 4.0, 0.0])])
    s, l = pair.do("retrieve", name, ids=[1], with_vectors=True)
    assert np.allclose(s[0].vector, [0.6, 0.8, 0.0], atol=1e-6)
    assert np.allclose(s[0].vector, l[0].vector, atol=1e-6)
    s, l = pair.both(lambda c: c.query_points(name, query=[0.0, 10.0, 0.0]).points)
    assert_scored_equal(s, l, what="cosine score")
    assert abs(s[0].score - 0.8) < 1e-5


@pytest.mark.parametrize("using", ["a", "b"])
def test_named_vectors_using(dataset, using):
    q = query_vector(using)
    for kwargs in ({"limit": 10}, {"limit": 7, "offset": 20, "with_vectors": True},
                   {"limit": 300}, {"limit": 5, "with_vectors": [using]},
                   {"limit": 5, "with_payload": ["city", "nested"], "with_vectors": ["a", "b"]}):
        s, l = _query(dataset, query=q, using=using, **kwargs)
        assert_scored_equal(s, l, what=f"using={using} {kwargs}")
    if using == "b":  # only points that have vector "b" can be found by it
        s, _ = _query(dataset, query=q, using="b", limit=1000, with_vectors=True)
        assert all("b" in p.vector for p in s)
        assert len(s) == dataset.local.count(dataset.name, count_filter=models.Filter(
            must=[models.HasVectorCondition(has_vector="b")])).count


FILTERED = {
    "city": models.Filter(must=[models.FieldCondition(key="city",
                                                      match=models.MatchValue(value="Paris"))]),
    "range_or_tag": models.Filter(should=[
        models.FieldCondition(key="price", range=models.Range(gte=100, lt=300)),
        models.FieldCondition(key="tags", match=models.MatchAny(any=["f"]))]),
    "not_flag": models.Filter(must_not=[models.FieldCondition(
        key="flag", match=models.MatchValue(value=True))]),
    "rare": models.Filter(must=[
        models.FieldCondition(key="count", range=models.Range(gte=10, lte=14)),
        models.FieldCondition(key="nested.a", range=models.Range(lt=5))]),
    "none_match": models.Filter(must=[models.FieldCondition(
        key="city", match=models.MatchValue(value="Mars"))]),
}


@pytest.mark.parametrize("flt", list(FILTERED.values()), ids=list(FILTERED))
@pytest.mark.parametrize("params", [None, EXACT], ids=["default", "exact"])
def test_filtered_query(dataset, flt, params):
    for using in ("a", "b"):
        for kwargs in ({"limit": 10}, {"limit": 4, "offset": 6}, {"limit": 500}):
            s, l = _query(dataset, query=query_vector(using), using=using, query_filter=flt,
                          search_params=params, **kwargs)
            assert_scored_equal(s, l, what=f"filtered using={using} {kwargs}")


def test_filtered_query_with_threshold(dataset):
    q = query_vector("a")
    s, l = _query(dataset, query=q, using="a", score_threshold=0.3, limit=300,
                  query_filter=FILTERED["range_or_tag"])
    assert_scored_equal(s, l, what="filter + threshold")
    assert all(p.score >= 0.3 for p in s)


def test_query_batch_points(dataset):
    reqs = [
        models.QueryRequest(query=query_vector("a", seed=1), using="a", limit=5,
                            with_payload=True),
        models.QueryRequest(query=query_vector("b", seed=2), using="b", limit=8, offset=2,
                            filter=FILTERED["not_flag"], with_vector=["b"]),
        models.QueryRequest(query=query_vector("a", seed=3), using="a", limit=3,
                            filter=FILTERED["none_match"]),
        models.QueryRequest(query=query_vector("a", seed=4), using="a", limit=6,
                            score_threshold=0.5, with_payload=["city"], params=EXACT),
    ]
    s, l = (c.query_batch_points(dataset.name, requests=reqs)
            for c in (dataset.server, dataset.local))
    assert len(s) == len(l) == len(reqs)
    for i, (rs, rl) in enumerate(zip(s, l)):
        assert_scored_equal(rs.points, rl.points, what=f"batch request {i}")
    assert s[2].points == []
