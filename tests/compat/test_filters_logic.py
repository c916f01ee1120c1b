"""Filter battery, part 1: boolean structure (must / should / must_not / min_should, filters nested
inside clauses, empty clauses), MatchValue (str/int/bool, type-strict), MatchAny, MatchExcept,
MatchText, Range (int/float, lt/lte/gt/gte), ValuesCount, IsEmpty, IsNull, HasId, HasVector,
dotted keys, `a[]`/`a[].b`/`a[0].b` keys, arrays matching when any element matches, missing fields.

Each case runs on the shared dataset without and with payload indexes; count, the ids of a full
paged scroll and an exact filtered query must equal local mode's.
"""
from __future__ import annotations

import pytest
from qdrant_client import models
from qdrant_client.conversions.conversion import RestToGrpc

from _compat import assert_filter_congruent
from _dataset import query_vector

F = models.Filter


def fc(key, **kw):
    return models.FieldCondition(key=key, **kw)


def mv(key, value):
    return fc(key, match=models.MatchValue(value=value))


def many(key, values):
    return fc(key, match=models.MatchAny(any=values))


def mex(key, values):
    return fc(key, match=models.MatchExcept(**{"except": values}))


def text(key, t):
    return fc(key, match=models.MatchText(text=t))


def rg(key, **kw):
    return fc(key, range=models.Range(**kw))


def vc(key, **kw):
    return fc(key, values_count=models.ValuesCount(**kw))


def empty(key):
    return models.IsEmptyCondition(is_empty=models.PayloadField(key=key))


def null(key):
    return models.IsNullCondition(is_null=models.PayloadField(key=key))


def has_id(*ids):
    return models.HasIdCondition(has_id=list(ids))


def has_vec(name):
    return models.HasVectorCondition(has_vector=name)


MATCH = {
    "str": F(must=[mv("city", "Berlin")]),
    "str_unicode": F(must=[mv("city", "São Paulo")]),
    "str_case_sensitive": F(must=[mv("city", "berlin")]),
    "int": F(must=[mv("count", 42)]),
    "bool_true": F(must=[mv("flag", True)]),
    "bool_false": F(must=[mv("flag", False)]),
    "mixed_int_1": F(must=[mv("mixed", 1)]),
    "mixed_str_1": F(must=[mv("mixed", "1")]),
    "mixed_bool_true": F(must=[mv("mixed", True)]),
    "mixed_bool_false": F(must=[mv("mixed", False)]),
    "mixed_int_0": F(must=[mv("mixed", 0)]),
    "array_str": F(must=[mv("tags", "a")]),
    "array_int": F(must=[mv("nums", 5)]),
    "array_brackets": F(must=[mv("tags[]", "b")]),
    "dotted": F(must=[mv("nested.b.c", "fox")]),
    "dotted_int": F(must=[mv("nested.a", 3)]),
    "array_of_objects": F(must=[mv("items[].name", "apple")]),
    "array_index": F(must=[mv("items[0].name", "pear")]),
    "missing_field": F(must=[mv("nonexistent", "x")]),
    "sometimes_missing": F(must=[mv("maybe", "x")]),
    "single_condition_not_list": F(must=mv("city", "Tokyo")),
    "any_str": F(must=[many("city", ["Berlin", "Tokyo", "Nowhere"])]),
    "any_int": F(must=[many("count", list(range(0, 100, 7)))]),
    "any_array": F(must=[many("tags", ["a", "f"])]),
    "any_mixed": F(must=[many("mixed", [1, 2])]),
    "any_mixed_str": F(must=[many("mixed", ["1", "two"])]),
    "any_empty_list": F(must=[many("city", [])]),
    "any_nested_array": F(must=[many("items[].name", ["plum"])]),
    "except_str": F(must=[mex("city", ["Berlin", "Paris"])]),
    "except_int": F(must=[mex("count", list(range(50)))]),
    "except_array": F(must=[mex("tags", ["a"])]),
    "except_mixed_int": F(must=[mex("mixed", [1, 2])]),
    "except_mixed_str": F(must=[mex("mixed", ["1"])]),
    "except_missing": F(must=[mex("nonexistent", ["x"])]),
    "except_sometimes_null": F(must=[mex("maybe", ["x"])]),
    "except_in_must_not": F(must_not=[mex("city", ["Berlin"])]),
    "text_word": F(must=[text("description", "quick")]),
    "text_upper_two_words": F(must=[text("description", "QUICK fox")]),
    "text_order_free": F(must=[text("description", "engine search")]),
    "text_punctuation": F(must=[text("description", "dog.")]),
    "text_no_hit": F(must=[text("description", "zebra")]),
    "text_nested": F(must=[text("nested.b.c", "fox")]),
}

RANGE = {
    "int_gt": F(must=[rg("count", gt=50)]),
    "int_gte_lte": F(must=[rg("count", gte=50, lte=60)]),
    "int_lt": F(must=[rg("count", lt=10)]),
    "int_lte_zero": F(must=[rg("count", lte=0)]),
    "int_float_bound": F(must=[rg("count", gt=49.5, lt=52.5)]),
    "float_gt": F(must=[rg("price", gt=500.5)]),
    "float_gte_lt": F(must=[rg("price", gte=100.25, lt=200.75)]),
    "float_int_bounds": F(must=[rg("price", gte=100, lte=300)]),
    "float_unique_lte": F(must=[rg("fseq", lte=30.0)]),
    "empty_range": F(must=[rg("count", gt=60, lt=40)]),
    "array_int": F(must=[rg("nums", gte=18)]),
    "null_and_arrays": F(must=[rg("rating", gte=4.0)]),
    "mixed_types": F(must=[rg("mixed", gte=1)]),
    "dotted": F(must=[rg("nested.a", lt=3)]),
    "array_of_objects": F(must=[rg("items[].qty", gt=8)]),
    "missing_field": F(must=[rg("nonexistent", gte=0)]),
    "must_not_range": F(must_not=[rg("count", gte=20, lt=80)]),
}

LOGIC = {
    "should": F(should=[mv("city", "Berlin"), rg("count", lt=10)]),
    "must_not": F(must_not=[mv("flag", True)]),
    "must_not_two": F(must_not=[mv("city", "Berlin"), mv("city", "Paris")]),
    "combined": F(must=[rg("price", gte=200)], should=[mv("city", "Tokyo"), mv("tags", "c")],
                  must_not=[mv("flag", False)]),
    "min_should": F(min_should=models.MinShould(min_count=2, conditions=[
        many("city", ["Berlin", "Paris"]), mv("flag", True), rg("count", gt=50), mv("tags", "a")])),
    "min_should_with_must": F(must=[rg("price", lt=700)], min_should=models.MinShould(
        min_count=1, conditions=[mv("nested.b.c", "red"), mv("items[].name", "plum")])),
    "min_should_3_of_3": F(min_should=models.MinShould(min_count=3, conditions=[
        rg("count", gt=20), rg("price", lt=800), mv("flag", True)])),
    "filter_in_must": F(must=[F(should=[mv("city", "London"), mv("city", "Moscow")]),
                              rg("count", gte=30)]),
    "filter_in_must_not": F(must_not=[F(must=[mv("flag", True), rg("count", lt=50)])]),
    "filter_in_should": F(should=[F(must=[mv("city", "Paris"), mv("flag", True)]),
                                  F(must_not=[rg("price", lt=900)])]),
    "deep_nesting": F(must=[F(should=[F(must_not=[F(must=[mv("tags", "b")])]),
                                      mv("city", "Tokyo")])]),
    "empty_should": F(should=[]),
    "empty_must": F(must=[]),
    "empty_filter": F(),
    "contradiction": F(must=[mv("flag", True)], must_not=[mv("flag", True)]),
}

SPECIAL = {
    "values_count_gte2": F(must=[vc("tags", gte=2)]),
    "values_count_lt1": F(must=[vc("tags", lt=1)]),
    "values_count_nums_gt3": F(must=[vc("nums", gt=3)]),
    "values_count_objects": F(must=[vc("items", lte=1, gte=1)]),
    "values_count_null": F(must=[vc("rating", gte=1)]),
    "values_count_missing": F(must=[vc("nonexistent", lt=1)]),
    "is_empty_array": F(must=[empty("tags")]),
    "is_empty_null_or_missing": F(must=[empty("rating")]),
    "is_empty_missing_field": F(must=[empty("nonexistent")]),
    "is_empty_dotted": F(must=[empty("nested.b")]),
    "is_empty_objects": F(must=[empty("items")]),
    "not_is_empty": F(must_not=[empty("maybe")]),
    "is_empty_geo": F(must=[empty("location")]),
    "is_null": F(must=[null("rating")]),
    "is_null_maybe": F(must=[null("maybe")]),
    "is_null_mixed": F(must=[null("mixed")]),
    "is_null_missing": F(must=[null("nonexistent")]),
    "not_is_null": F(must_not=[null("rating")]),
    "is_null_dotted": F(must=[null("nested.b.c")]),
    "has_id": F(must=[has_id(1, 2, 3, 150, 299, 1000)]),
    "has_id_must_not": F(must_not=[has_id(*range(1, 200))]),
    "has_id_should": F(should=[has_id(5, 6), mv("city", "Berlin")]),
    "has_vector_b": F(must=[has_vec("b")]),
    "has_vector_a": F(must=[has_vec("a")]),
    "not_has_vector_b": F(must_not=[has_vec("b")]),
}

CASES = {f"match-{k}": v for k, v in MATCH.items()}
CASES.update({f"range-{k}": v for k, v in RANGE.items()})
CASES.update({f"logic-{k}": v for k, v in LOGIC.items()})
CASES.update({f"special-{k}": v for k, v in SPECIAL.items()})


@pytest.mark.parametrize("flt", list(CASES.values()), ids=list(CASES))
def test_filter(dataset, flt):
    using = "b" if flt is SPECIAL["has_vector_b"] else "a"
    assert_filter_congruent(dataset, flt, query_vector(using), using=using)


@pytest.mark.parametrize("flt", list(CASES.values()), ids=list(CASES))
def test_filter_serialises(flt):
    """The cases themselves are valid for both protocols (no server needed)."""
    RestToGrpc.convert_filter(flt)
    flt.model_dump_json(exclude_unset=True)
