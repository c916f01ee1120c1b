"""Count and scroll on the shared dataset: exact count with and without filters, scroll paging
through next_page_offset (page by page identical to local mode, ids ascending, every point once),
explicit start offsets, filtered scroll, and scroll with order_by (asc/desc, int/float/datetime
fields, start_from, filters, multi-valued fields).
"""
from __future__ import annotations

import pytest
from qdrant_client import models

from _compat import assert_records_equal, close, id_key, scroll_all
from _dataset import N_POINTS


def _both(ds, fn):
    return fn(ds.server), fn(ds.local)


FILTERS = {
    "none": None,
    "berlin": models.Filter(must=[models.FieldCondition(key="city",
                                                        match=models.MatchValue(value="Berlin"))]),
    "count<30_or_flag": models.Filter(should=[
        models.FieldCondition(key="count", range=models.Range(lt=30)),
        models.FieldCondition(key="flag", match=models.MatchValue(value=True))]),
    "nothing": models.Filter(must=[models.FieldCondition(key="count",
                                                         range=models.Range(gt=1000))]),
}


@pytest.mark.parametrize("flt", list(FILTERS.values()), ids=list(FILTERS))
def test_count(dataset, flt):
    s, l = _both(dataset, lambda c: c.count(dataset.name, count_filter=flt, exact=True).count)
    assert s == l
    if flt is None:
        assert s == N_POINTS


@pytest.mark.parametrize("page", [1, 7, 64, 299, 300, 1000])
def test_scroll_pages_match(dataset, page):
    offsets = [None, None]
    seen: list = []
    while True:
        (rs, ns), (rl, nl) = (c.scroll(dataset.name, limit=page, offset=o, with_vectors=page == 64)
                              for c, o in zip((dataset.server, dataset.local), offsets))
        assert_records_equal(rs, rl, ordered=True, what=f"page after {offsets[0]}")
        assert ns == nl, f"next_page_offset differs: server {ns!r} local {nl!r}"
        seen.extend(r.id for r in rs)
        if ns is None:
            break
        assert len(rs) == page
        offsets = [ns, nl]
    assert seen == sorted(seen, key=id_key) and len(set(seen)) == len(seen) == N_POINTS


@pytest.mark.parametrize("offset", [0, 1, 150, 299, 300, 301, 100000])
def test_scroll_from_offset(dataset, offset):
    (rs, ns), (rl, nl) = _both(dataset, lambda c: c.scroll(dataset.name, limit=20, offset=offset))
    assert_records_equal(rs, rl, ordered=True, what=f"scroll from {offset}")
    assert ns == nl


@pytest.mark.parametrize("flt", list(FILTERS.values()), ids=list(FILTERS))
def test_scroll_all_with_filter(dataset, flt):
    s, l = _both(dataset, lambda c: scroll_all(c, dataset.name, page=13, scroll_filter=flt,
                                               with_payload=["city", "count", "flag"]))
    assert_records_equal(s, l, ordered=True, what="filtered scroll")
    assert len(s) == _both(dataset, lambda c: c.count(dataset.name, count_filter=flt).count)[0]


def _assert_ordered_equal(s, l, what, unique_values=True):
    vs, vl = [r.order_value for r in s], [r.order_value for r in l]
    assert len(vs) == len(vl), f"{what}: {len(vs)} != {len(vl)} records"
    assert None not in vs, f"{what}: server records lack order_value"
    assert all(close(float(a), float(b)) for a, b in zip(vs, vl)), f"{what}: {vs} != {vl}"
    if unique_values:
        assert_records_equal(s, l, ordered=True, what=what)
    else:  # ties: only the multiset of (value, id) is fixed
        ps = sorted((float(r.order_value), id_key(r.id)) for r in s)
        pl = sorted((float(r.order_value), id_key(r.id)) for r in l)
        assert ps == pl, f"{what}: (value, id) pairs differ"


DIRS = [models.Direction.ASC, models.Direction.DESC]


@pytest.mark.parametrize("direction", DIRS, ids=lambda d: d.value)
@pytest.mark.parametrize("key", ["seq", "fseq"])
def test_order_by_unique_values(indexed_dataset, key, direction):
    ds = indexed_dataset
    order = models.OrderBy(key=key, direction=direction)
    for limit, flt in ((25, None), (1000, None), (10, FILTERS["berlin"]),
                       (40, FILTERS["count<30_or_flag"])):
        (s, ns), (l, nl) = _both(ds, lambda c: c.scroll(ds.name, limit=limit, order_by=order,
                                                        scroll_filter=flt))
        _assert_ordered_equal(s, l, f"order_by {key} {direction.value} limit={limit}")
        assert ns is None and nl is None  # no paging with order_by
        values = [r.payload[key] for r in s]
        assert values == sorted(values, reverse=direction == models.Direction.DESC)


@pytest.mark.parametrize("direction", DIRS, ids=lambda d: d.value)
def test_order_by_start_from(indexed_dataset, direction):
    ds = indexed_dataset
    for key, start in (("seq", 500), ("fseq", 70.5), ("seq", 0)):
        order = models.OrderBy(key=key, direction=direction, start_from=start)
        (s, _), (l, _) = _both(ds, lambda c: c.scroll(ds.name, limit=30, order_by=order))
        _assert_ordered_equal(s, l, f"order_by {key} from {start} {direction.value}")


def test_order_by_plain_key_string(indexed_dataset):
    ds = indexed_dataset
    (s, _), (l, _) = _both(ds, lambda c: c.scroll(ds.name, limit=15, order_by="seq"))
    _assert_ordered_equal(s, l, "order_by='seq'")


@pytest.mark.parametrize("direction", DIRS, ids=lambda d: d.value)
@pytest.mark.parametrize("key", ["count", "price", "nums", "created", "nested.a"])
def test_order_by_full_listing(indexed_dataset, key, direction):
    """Fields with ties, arrays (one record per value) and datetimes: compare everything."""
    ds = indexed_dataset
    order = models.OrderBy(key=key, direction=direction)
    (s, _), (l, _) = _both(ds, lambda c: c.scroll(ds.name, limit=5000, order_by=order,
                                                  with_payload=False))
    _assert_ordered_equal(s, l, f"order_by {key} {direction.value}", unique_values=False)
    # a cut listing agrees on the order values
    (s, _), (l, _) = _both(ds, lambda c: c.scroll(ds.name, limit=33, order_by=order))
    assert [float(r.order_value) for r in s] == pytest.approx([float(r.order_value) for r in l])
