"""Payload updates: set_payload (merge; by ids and by filter; with `key` into a nested path, a new
path and every element of an array), overwrite_payload, delete_payload (top-level, nested and
array paths), clear_payload by ids and by filter. After each step the whole collection is
compared with local mode.
"""
from __future__ import annotations

import pytest
from qdrant_client import models

from _compat import assert_records_equal, scroll_all
from _dataset import make_points


def _state(pair, name):
    s, l = pair.both(lambda c: scroll_all(c, name, page=16))
    assert_records_equal(s, l, ordered=True, what="payload state")
    return {r.id: r.payload for r in s}


@pytest.fixture
def coll(pair):
    """40 points with the rich payloads of the shared dataset."""
    name = pair.create(vectors_config={"a": models.VectorParams(
        size=8, distance=models.Distance.COSINE)})
    pts = [models.PointStruct(id=p.id, vector={"a": p.vector["a"]}, payload=p.payload)
           for p in make_points(40, seed=11)]
    pair.do("upsert", name, points=pts, wait=True)
    return name


def _where(key, value):
    return models.Filter(must=[models.FieldCondition(key=key,
                                                     match=models.MatchValue(value=value))])


def test_set_payload_merges_by_ids(pair, coll):
    # a top-level null in set_payload removes that key (Qdrant's merge); nested nulls are kept
    pair.do("set_payload", coll, payload={"city": "Oslo", "new": [1, {"x": None}], "n": None,
                                          "tags": None}, points=[1, 2, 3])
    state = _state(pair, coll)
    assert state[1]["city"] == "Oslo" and state[1]["new"] == [1, {"x": None}]
    assert "n" not in state[1] and "tags" not in state[1] and "count" in state[1]
    # a plain list of ids works as the selector too
    pair.do("set_payload", coll, payload={"count": -1}, points=[4])
    assert _state(pair, coll)[4]["count"] == -1


def test_set_payload_by_filter(pair, coll):
    pair.do("set_payload", coll, payload={"marked": True},
            points=models.FilterSelector(filter=models.Filter(must=[models.FieldCondition(
                key="count", range=models.Range(gte=50))])))
    state = _state(pair, coll)
    assert all(("marked" in p) == (p["count"] >= 50) for p in state.values())
    pair.do("set_payload", coll, payload={"f": 1.5}, points=models.Filter(must_not=[
        models.FieldCondition(key="flag", match=models.MatchValue(value=True))]))
    _state(pair, coll)


def test_set_payload_with_key(pair, coll):
    # into an existing nested object: merged there, siblings kept
    pair.do("set_payload", coll, payload={"c": "changed", "d": 4}, key="nested.b", points=[1, 2, 3])
    # a path that does not exist yet is created
    pair.do("set_payload", coll, payload={"leaf": 1}, key="fresh.inner", points=[5])
    # into every object of an array
    pair.do("set_payload", coll, payload={"seen": True}, key="items[]", points=[6, 7, 8, 9])
    # into one array element
    pair.do("set_payload", coll, payload={"first": True}, key="items[0]", points=[10, 11, 12])
    state = _state(pair, coll)
    assert state[5]["fresh"] == {"inner": {"leaf": 1}}


def test_overwrite_payload(pair, coll):
    pair.do("overwrite_payload", coll, payload={"only": "this", "nested": {"z": [1, 2]}},
            points=[1, 2])
    pair.do("overwrite_payload", coll, payload={}, points=[3])
    pair.do("overwrite_payload", coll, payload={"by": "filter"}, points=models.FilterSelector(
        filter=_where("flag", True)))
    state = _state(pair, coll)
    assert state[1] == {"only": "this", "nested": {"z": [1, 2]}}


def test_delete_payload(pair, coll):
    pair.do("delete_payload", coll, keys=["city", "tags", "not_there"], points=[1, 2, 3, 4])
    pair.do("delete_payload", coll, keys=["nested.b", "location.lat"], points=[5, 6, 7])
    pair.do("delete_payload", coll, keys=["items[].qty"], points=[8, 9, 10])
    pair.do("delete_payload", coll, keys=["price"], points=models.FilterSelector(
        filter=_where("flag", False)))
    state = _state(pair, coll)
    assert "city" not in state[1] and "tags" not in state[1]
    assert all("price" not in p for p in state.values() if p.get("flag") is False)


def test_clear_payload(pair, coll):
    pair.do("clear_payload", coll, points_selector=models.PointIdsList(points=[1, 2, 3]))
    state = _state(pair, coll)
    assert all(not state[i] for i in (1, 2, 3))
    pair.do("clear_payload", coll, points_selector=models.FilterSelector(filter=models.Filter(
        must=[models.FieldCondition(key="count", range=models.Range(lt=30))])))
    state = _state(pair, coll)
    assert all(not p or p.get("count", 0) >= 30 for p in state.values())
    # cleared points are still there with their vectors
    s, l = pair.do("count", coll)
    assert s.count == l.count == 40
    s, l = pair.do("retrieve", coll, ids=[1, 2], with_vectors=True)
    assert_records_equal(s, l, what="cleared points")
    assert len(s) == 2 and all(r.vector for r in s)


def test_payload_types_roundtrip(pair):
    name = pair.create(vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    payload = {
        "int": 7, "neg": -12, "big": 2**53 + 1, "float": 0.1, "float_int": 3.0, "exp": 1.5e-300,
        "str": "héllo \"quoted\" \\ \n ☃", "empty_str": "", "true": True, "false": False,
        "null": None, "empty_list": [], "empty_obj": {}, "list": [1, "a", None, 2.5, [3], {"k": 1}],
        "obj": {"deep": {"deeper": {"deepest": [1, 2, 3]}}}, "dotted.key": "literal dot",
    }
    pair.do("upsert", name, wait=True, points=[models.PointStruct(id=1, vector=[1, 2],
                                                                  payload=payload)])
    state = _state(pair, name)
    assert state[1] == payload
