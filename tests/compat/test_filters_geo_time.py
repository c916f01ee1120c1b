"""Filter battery, part 2: DatetimeRange (bounds given as strings with and without offsets,
aware and naive datetimes, dates; stored values in several RFC 3339 / ISO formats, some invalid),
GeoRadius, GeoBoundingBox, GeoPolygon (with and without a hole), and Nested conditions over an
array of objects (per-element semantics, contrasted with plain `a[].b` conditions).

Same checks as part 1: count, full paged scroll ids and an exact filtered query vs local mode,
on the shared dataset with and without payload indexes.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from qdrant_client import models
from qdrant_client.conversions.conversion import RestToGrpc

from _compat import assert_filter_congruent
from _dataset import query_vector

F = models.Filter
UTC = timezone.utc
PLUS5 = timezone(timedelta(hours=5))
MINUS3 = timezone(timedelta(hours=-3))


def fc(key, **kw):
    return models.FieldCondition(key=key, **kw)


def mv(key, value):
    return fc(key, match=models.MatchValue(value=value))


def dt(key="created", **kw):
    return fc(key, range=models.DatetimeRange(**kw))


def gp(lat, lon):
    return models.GeoPoint(lat=lat, lon=lon)


def ring(*coords):
    points = [gp(lat, lon) for lat, lon in coords]
    return models.GeoLineString(points=points + [points[0]])  # rings are closed


def radius(lat, lon, meters, key="location"):
    return fc(key, geo_radius=models.GeoRadius(center=gp(lat, lon), radius=meters))


def bbox(top_left, bottom_right, key="location"):
    return fc(key, geo_bounding_box=models.GeoBoundingBox(top_left=gp(*top_left),
                                                           bottom_right=gp(*bottom_right)))


def polygon(exterior, interiors=None, key="location"):
    return fc(key, geo_polygon=models.GeoPolygon(
        exterior=ring(*exterior), interiors=[ring(*i) for i in interiors] if interiors else None))


def nested(key, flt):
    return models.NestedCondition(nested=models.Nested(key=key, filter=flt))


DATETIME = {
    "gte_string_z": F(must=[dt(gte="2024-01-01T00:00:00Z")]),
    "lt_aware": F(must=[dt(lt=datetime(2023, 6, 1, tzinfo=UTC))]),
    "gt_naive_is_utc": F(must=[dt(gt=datetime(2025, 1, 1, 12, 30))]),
    "dates_between": F(must=[dt(gte=date(2024, 3, 1), lte=date(2024, 9, 1))]),
    "offsets": F(must=[dt(gt=datetime(2024, 1, 1, 10, tzinfo=PLUS5),
                          lt=datetime(2024, 6, 30, 12, tzinfo=MINUS3))]),
    "string_offset": F(must=[dt(gte="2023-07-15T08:00:00+02:00", lt="2024-02-01T00:00:00-05:00")]),
    "string_space_format": F(must=[dt(lte="2023-03-01 00:00:00")]),
    "string_date_only": F(must=[dt(gt="2025-06-01")]),
    "microseconds": F(must=[dt(gte=datetime(2024, 5, 5, 5, 5, 5, 500000, tzinfo=UTC))]),
    "narrow_window": F(must=[dt(gte=datetime(2024, 2, 1, tzinfo=UTC),
                                lt=datetime(2024, 2, 15, tzinfo=UTC))]),
    "must_not": F(must_not=[dt(gte="2024-01-01T00:00:00Z", lt="2025-01-01T00:00:00Z")]),
    "should_two_windows": F(should=[dt(lt="2023-02-01T00:00:00Z"), dt(gt="2025-11-01T00:00:00Z")]),
    "missing_field": F(must=[dt(key="nonexistent", gt="2000-01-01T00:00:00Z")]),
    "non_date_field": F(must=[dt(key="city", gt="2000-01-01T00:00:00Z")]),
}

GEO = {
    "radius_berlin_500km": F(must=[radius(52.52, 13.405, 500_000)]),
    "radius_small": F(must=[radius(50.0, 10.0, 150_000)]),
    "radius_huge": F(must=[radius(50.0, 10.0, 5_000_000)]),
    "radius_must_not": F(must_not=[radius(48.8566, 2.3522, 800_000)]),
    "bbox": F(must=[bbox((55.0, 0.0), (45.0, 20.0))]),
    "bbox_thin": F(must=[bbox((60.0, 5.0), (40.0, 6.5))]),
    "bbox_should_radius": F(should=[bbox((58.0, -10.0), (54.0, 0.0)),
                                    radius(42.0, 25.0, 300_000)]),
    "polygon": F(must=[polygon([(45.0, 0.0), (45.0, 25.0), (58.0, 25.0), (58.0, 0.0)])]),
    "polygon_with_hole": F(must=[polygon(
        [(45.0, 0.0), (45.0, 25.0), (58.0, 25.0), (58.0, 0.0)],
        interiors=[[(48.0, 5.0), (48.0, 15.0), (54.0, 15.0), (54.0, 5.0)]])]),
    "polygon_two_holes": F(must=[polygon(
        [(41.0, -9.0), (41.0, 29.0), (59.0, 29.0), (59.0, -9.0)],
        interiors=[[(42.0, -8.0), (42.0, 0.0), (50.0, 0.0), (50.0, -8.0)],
                   [(51.0, 10.0), (51.0, 28.0), (58.0, 28.0), (58.0, 10.0)]])]),
    "polygon_triangle": F(must=[polygon([(40.0, -10.0), (60.0, 10.0), (40.0, 30.0)])]),
    "geo_and_match": F(must=[radius(52.52, 13.405, 900_000), mv("flag", True)]),
    "geo_missing_field": F(must=[radius(50.0, 10.0, 5_000_000, key="nonexistent")]),
}

ITEM_APPLE_BIG = F(must=[mv("name", "apple"), fc("qty", range=models.Range(gt=5))])
NESTED = {
    "per_element": F(must=[nested("items", ITEM_APPLE_BIG)]),
    "flat_for_contrast": F(must=[mv("items[].name", "apple"),
                                 fc("items[].qty", range=models.Range(gt=5))]),
    "brackets_key": F(must=[nested("items[]", ITEM_APPLE_BIG)]),
    "must_not_inside": F(must=[nested("items", F(must=[mv("name", "pear")], must_not=[
        fc("qty", range=models.Range(lt=3))]))]),
    "should_inside": F(must=[nested("items", F(should=[mv("name", "plum"),
                                                       fc("qty", range=models.Range(gte=9))]))]),
    "array_in_element": F(must=[nested("items", F(must=[
        fc("tags", match=models.MatchAny(any=["a", "b"])), mv("name", "plum")]))]),
    "is_empty_in_element": F(must=[nested("items", F(must=[
        models.IsEmptyCondition(is_empty=models.PayloadField(key="tags")), mv("name", "apple")]))]),
    "must_not_nested": F(must_not=[nested("items", F(must=[mv("name", "apple")]))]),
    "nested_in_should": F(should=[nested("items", ITEM_APPLE_BIG), mv("city", "Tokyo")]),
    "nested_and_outer": F(must=[nested("items", F(must=[mv("name", "pear")])),
                                fc("count", range=models.Range(lt=50))]),
    "object_not_array": F(must=[nested("nested", F(must=[fc("a", range=models.Range(gte=0))]))]),
    "missing_key": F(must=[nested("nonexistent", F(must=[mv("name", "apple")]))]),
}

CASES = {f"datetime-{k}": v for k, v in DATETIME.items()}
CASES.update({f"geo-{k}": v for k, v in GEO.items()})
CASES.update({f"nested-{k}": v for k, v in NESTED.items()})


@pytest.mark.parametrize("flt", list(CASES.values()), ids=list(CASES))
def test_filter(dataset, flt):
    assert_filter_congruent(dataset, flt, query_vector("a"))


def test_nested_differs_from_flat(local):
    """Sanity check of the dataset: per-element and flattened conditions select differently."""
    from _dataset import load
    name = "nested_sanity_" + datetime.now().strftime("%H%M%S%f")
    load(local, name, indexed=False)
    try:
        per_element = local.count(name, count_filter=NESTED["per_element"]).count
        flat = local.count(name, count_filter=NESTED["flat_for_contrast"]).count
        assert 0 < per_element < flat
    finally:
        local.delete_collection(name)


@pytest.mark.parametrize("flt", list(CASES.values()), ids=list(CASES))
def test_filter_serialises(flt):
    """The cases themselves are valid for both protocols (no server needed)."""
    RestToGrpc.convert_filter(flt)
    flt.model_dump_json(exclude_unset=True)
