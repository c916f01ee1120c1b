//! Unit tests of the evaluator: every predicate, every combinator, and the value rules (arrays,
//! missing keys, nulls, JSON type distinctions, nested arrays of objects, geo edge cases).
//! Expected values follow Qdrant's reference (the Python client's local mode).

use std::collections::BTreeSet;

use quiver_types::{
    Condition, FieldCondition, FieldPredicate, Filter, GeoBoundingBox, GeoPoint, GeoPolygon, GeoRadius,
    JsonPath, Match, MinShould, Payload, PointId, Range, ValueVariant,
};
use serde_json::{json, Value};

use super::{check, parse_datetime, PointView};

/// A point for tests: an id, a payload and the names of the vectors it has.
pub(super) struct TestPoint {
    pub id: PointId,
    pub payload: Payload,
    pub vectors: Vec<String>,
}

impl PointView for TestPoint {
    fn id(&self) -> PointId {
        self.id
    }
    fn payload(&self) -> &Payload {
        &self.payload
    }
    fn has_vector(&self, name: &str) -> bool {
        self.vectors.iter().any(|v| v == name)
    }
}

pub(super) fn point(id: u64, payload: Value) -> TestPoint {
    TestPoint {
        id: PointId::Num(id),
        payload: payload.as_object().cloned().expect("payload must be an object"),
        vectors: vec![],
    }
}

pub(super) fn key(s: &str) -> JsonPath {
    JsonPath::parse(s).unwrap()
}

fn field(k: &str, predicates: Vec<FieldPredicate>) -> Condition {
    Condition::Field(FieldCondition {
        key: key(k),
        predicates,
    })
}

fn must(conditions: Vec<Condition>) -> Filter {
    Filter {
        must: conditions,
        ..Filter::default()
    }
}

/// Whether `condition` alone holds for a point (id 1, no vectors) with `payload`.
fn holds(condition: Condition, payload: Value) -> bool {
    check(&must(vec![condition]), &point(1, payload))
}

/// Whether the single predicate holds at key `k` of `payload`.
fn pred(k: &str, predicate: FieldPredicate, payload: Value) -> bool {
    holds(field(k, vec![predicate]), payload)
}

fn int(i: i64) -> ValueVariant {
    ValueVariant::Integer(i)
}
fn kw(s: &str) -> ValueVariant {
    ValueVariant::Keyword(s.to_string())
}
fn value(v: ValueVariant) -> FieldPredicate {
    FieldPredicate::Match(Match::Value(v))
}
fn range(lt: Option<f64>, lte: Option<f64>, gt: Option<f64>, gte: Option<f64>) -> Range {
    Range { lt, gt, gte, lte }
}
fn has_id(ids: &[u64]) -> Condition {
    Condition::HasId(ids.iter().map(|i| PointId::Num(*i)).collect::<BTreeSet<_>>())
}
fn yes() -> Condition {
    has_id(&[1])
}
fn no() -> Condition {
    has_id(&[2])
}
fn nested(k: &str, filter: Filter) -> Condition {
    Condition::Nested {
        key: key(k),
        filter: Box::new(filter),
    }
}
fn gp(lon: f64, lat: f64) -> GeoPoint {
    GeoPoint { lon, lat }
}

// ---- combinators ----

#[test]
fn empty_filter_matches_everything() {
    assert!(check(&Filter::default(), &point(7, json!({}))));
}

#[test]
fn must_needs_all_must_not_needs_none() {
    let p = point(1, json!({}));
    assert!(check(&must(vec![yes(), yes()]), &p));
    assert!(!check(&must(vec![yes(), no()]), &p));
    let mn = |c: Vec<Condition>| Filter {
        must_not: c,
        ..Filter::default()
    };
    assert!(check(&mn(vec![no(), no()]), &p));
    assert!(!check(&mn(vec![no(), yes()]), &p));
}

#[test]
fn should_needs_one_and_empty_should_is_no_constraint() {
    let p = point(1, json!({}));
    let sh = |c: Vec<Condition>| Filter {
        should: c,
        ..Filter::default()
    };
    assert!(check(&sh(vec![no(), yes()]), &p));
    assert!(!check(&sh(vec![no(), no()]), &p));
    assert!(check(&sh(vec![]), &p));
}

#[test]
fn min_should_counts_conditions() {
    let p = point(1, json!({}));
    let ms = |c: Vec<Condition>, n: usize| Filter {
        min_should: Some(MinShould {
            conditions: c,
            min_count: n,
        }),
        ..Filter::default()
    };
    assert!(check(&ms(vec![yes(), no(), yes()], 2), &p));
    assert!(!check(&ms(vec![yes(), no(), no()], 2), &p));
    assert!(!check(&ms(vec![], 1), &p));
    assert!(check(&ms(vec![no()], 0), &p));
}

#[test]
fn clauses_combine_with_and_and_filters_nest() {
    let p = point(1, json!({}));
    let f = Filter {
        must: vec![yes()],
        should: vec![no(), yes()],
        must_not: vec![no()],
        min_should: Some(MinShould {
            conditions: vec![yes()],
            min_count: 1,
        }),
    };
    assert!(check(&f, &p));
    let mut g = f.clone();
    g.must_not.push(Condition::Filter(Box::new(must(vec![yes()]))));
    assert!(!check(&g, &p));
    let empty_inner = Condition::Filter(Box::default());
    assert!(check(&must(vec![empty_inner]), &p), "an empty inner filter holds");
}

// ---- match ----

#[test]
fn match_value_keeps_json_types_apart() {
    assert!(pred("a", value(int(1)), json!({"a": 1})));
    assert!(
        !pred("a", value(int(1)), json!({"a": 1.0})),
        "float never equals an integer"
    );
    assert!(!pred("a", value(int(1)), json!({"a": true})), "true is not 1");
    assert!(!pred("a", value(ValueVariant::Bool(true)), json!({"a": 1})));
    assert!(pred("a", value(ValueVariant::Bool(false)), json!({"a": false})));
    assert!(!pred("a", value(int(1)), json!({"a": "1"})));
    assert!(!pred("a", value(kw("1")), json!({"a": 1})));
    assert!(pred("a", value(kw("Ab")), json!({"a": "Ab"})));
    assert!(
        !pred("a", value(kw("Ab")), json!({"a": "ab"})),
        "keywords are case-sensitive"
    );
    assert!(pred("a", value(int(-5)), json!({"a": -5})));
    assert!(!pred("a", value(int(-1)), json!({"a": u64::MAX})));
}

#[test]
fn match_checks_every_array_element_and_skips_missing_and_null() {
    assert!(pred("a", value(int(2)), json!({"a": [1, 2, 3]})));
    assert!(!pred("a", value(int(4)), json!({"a": [1, 2, 3]})));
    assert!(
        !pred("a", value(int(1)), json!({"a": [[1]]})),
        "only one level is flattened"
    );
    assert!(!pred("a", value(int(1)), json!({"b": 1})));
    assert!(!pred("a", value(int(1)), json!({"a": null})));
    assert!(pred("o.x", value(kw("v")), json!({"o": {"x": "v"}})));
    assert!(pred(
        "arr[].x",
        value(int(3)),
        json!({"arr": [{"x": 1}, {"x": [2, 3]}]})
    ));
    assert!(
        !pred("arr.x", value(int(1)), json!({"arr": [{"x": 1}]})),
        "a key does not enter arrays"
    );
    assert!(pred(
        "arr[1].x",
        value(int(2)),
        json!({"arr": [{"x": 1}, {"x": 2}]})
    ));
    assert!(!pred(
        "arr[0].x",
        value(int(2)),
        json!({"arr": [{"x": 1}, {"x": 2}]})
    ));
}

#[test]
fn match_any() {
    let any = |l: Vec<ValueVariant>| FieldPredicate::Match(Match::Any(l));
    assert!(pred("a", any(vec![kw("x"), kw("y")]), json!({"a": "y"})));
    assert!(pred("a", any(vec![int(1), int(2)]), json!({"a": [5, 2]})));
    assert!(!pred("a", any(vec![int(1)]), json!({"a": true})));
    assert!(!pred("a", any(vec![int(1)]), json!({"a": 1.0})));
    assert!(!pred("a", any(vec![]), json!({"a": 1})));
    assert!(!pred("a", any(vec![int(1)]), json!({})));
}

#[test]
fn match_except_needs_a_present_non_null_other_value() {
    let except = |l: Vec<ValueVariant>| FieldPredicate::Match(Match::Except(l));
    assert!(pred("a", except(vec![kw("x")]), json!({"a": "y"})));
    assert!(!pred("a", except(vec![kw("x")]), json!({"a": "x"})));
    assert!(
        !pred("a", except(vec![kw("x")]), json!({})),
        "missing field does not match"
    );
    assert!(
        !pred("a", except(vec![kw("x")]), json!({"a": null})),
        "null is absence"
    );
    assert!(!pred("a", except(vec![kw("x")]), json!({"a": []})));
    assert!(!pred("a", except(vec![kw("x")]), json!({"a": [null]})));
    assert!(pred("a", except(vec![kw("x")]), json!({"a": [null, "z"]})));
    assert!(
        pred("a", except(vec![kw("x")]), json!({"a": ["x", "z"]})),
        "any element suffices"
    );
    assert!(!pred(
        "a",
        except(vec![kw("x"), kw("z")]),
        json!({"a": ["x", "z"]})
    ));
    assert!(
        pred("a", except(vec![int(1)]), json!({"a": 1.0})),
        "a float is not the integer 1"
    );
    assert!(pred("a", except(vec![int(1)]), json!({"a": true})));
    assert!(
        pred("a", except(vec![int(1)]), json!({"a": {"b": 1}})),
        "objects are other values"
    );
    assert!(pred("a", except(vec![]), json!({"a": 1})));
}

#[test]
fn text_matches_words_not_substrings() {
    let text = |q: &str| FieldPredicate::Match(Match::Text(q.into()));
    let any = |q: &str| FieldPredicate::Match(Match::TextAny(q.into()));
    let phrase = |q: &str| FieldPredicate::Match(Match::Phrase(q.into()));
    let doc = json!({"t": "The Quick, brown fox_jumps", "n": 5, "arr": ["cat", "dog house"]});
    assert!(pred("t", text("quick FOX"), doc.clone()));
    assert!(!pred("t", text("qui"), doc.clone()));
    assert!(!pred("t", text("quick cat"), doc.clone()));
    assert!(!pred("t", text(""), doc.clone()));
    assert!(pred("t", any("cat jumps"), doc.clone()));
    assert!(!pred("t", any("cat dog"), doc.clone()));
    assert!(pred("t", phrase("quick brown"), doc.clone()));
    assert!(!pred("t", phrase("brown quick"), doc.clone()));
    assert!(!pred("n", text("5"), doc.clone()), "numbers are not text");
    assert!(pred("arr", text("house dog"), doc.clone()));
    assert!(pred("arr", phrase("dog house"), doc.clone()));
    assert!(
        !pred("arr", phrase("cat dog"), doc.clone()),
        "elements are separate texts"
    );
    assert!(!pred("missing", any("x"), doc));
}

// ---- range ----

#[test]
fn range_on_numbers_only() {
    let r = |lt, lte, gt, gte| FieldPredicate::Range(range(lt, lte, gt, gte));
    assert!(pred("a", r(None, None, None, Some(1.0)), json!({"a": 1})));
    assert!(!pred("a", r(None, None, Some(1.0), None), json!({"a": 1})));
    assert!(pred("a", r(Some(2.0), None, None, None), json!({"a": 1.5})));
    assert!(!pred("a", r(Some(1.5), None, None, None), json!({"a": 1.5})));
    assert!(pred("a", r(None, Some(1.5), None, None), json!({"a": 1.5})));
    assert!(
        !pred("a", r(None, None, None, Some(0.0)), json!({"a": true})),
        "bools are not numbers"
    );
    assert!(!pred("a", r(None, None, None, Some(0.0)), json!({"a": "5"})));
    assert!(!pred("a", r(None, None, None, Some(0.0)), json!({"a": null})));
    assert!(!pred("a", r(None, None, None, Some(0.0)), json!({})));
    assert!(pred(
        "a",
        r(Some(1.0), None, None, Some(0.0)),
        json!({"a": [5, 0.5]})
    ));
    assert!(
        !pred("a", r(Some(1.0), None, Some(0.0), None), json!({"a": [5, -1]})),
        "one value meets all bounds"
    );
    assert!(
        pred("a", r(None, None, None, None), json!({"a": 3})),
        "no bounds: any number"
    );
}

#[test]
fn range_compares_large_integers_exactly() {
    let two53 = 9_007_199_254_740_992.0; // 2^53, where f64 stops representing every integer
    let gt = FieldPredicate::Range(range(None, None, Some(two53), None));
    assert!(pred("a", gt.clone(), json!({"a": 9_007_199_254_740_993_i64})));
    assert!(!pred("a", gt.clone(), json!({"a": 9_007_199_254_740_992_i64})));
    assert!(pred("a", gt, json!({"a": u64::MAX})));
    let lt = FieldPredicate::Range(range(Some(-two53), None, None, None));
    assert!(pred("a", lt, json!({"a": -9_007_199_254_740_993_i64})));
}

// ---- datetime ----

#[test]
fn parse_datetime_agrees_with_the_reference() {
    // Generated by qdrant_client.local.datetime_utils.parse (microseconds since the epoch).
    let table: &[(&str, Option<i64>)] = &[
        ("2023-02-08T10:49:00Z", Some(1675853340000000)),
        ("2023-02-08T10:49:00z", Some(1675853340000000)),
        ("2023-02-08T10:49:00", Some(1675853340000000)),
        ("2023-02-08 10:49:00", Some(1675853340000000)),
        ("2023-02-08", Some(1675814400000000)),
        ("2023-02-08T10:49", Some(1675853340000000)),
        ("2023-02-08 10:49", Some(1675853340000000)),
        ("2023-02-08t10:49:00", Some(1675853340000000)),
        ("2023-02-08T10:49:00.123Z", Some(1675853340123000)),
        ("2023-02-08T10:49:00.123456789Z", Some(1675853340123456)),
        ("2023-02-08T10:49:00.1234567+01:00", Some(1675849740123456)),
        ("2023-02-08T10:49:00+01:00", Some(1675849740000000)),
        ("2023-02-08T10:49:00+0130", Some(1675847940000000)),
        ("2023-02-08T10:49:00-05", Some(1675871340000000)),
        ("2023-02-08T10:49:00.5-05", Some(1675871340500000)),
        ("2023-02-08 10:49:00 +01:00", Some(1675849740000000)),
        ("2023-02-08 10:49:00 UTC", Some(1675853340000000)),
        ("2023-02-08 10:49:00.25 UTC", Some(1675853340250000)),
        ("  2023-02-08", Some(1675814400000000)),
        ("\t2023-02-08T10:49:00Z", Some(1675853340000000)),
        ("2023-2-8", Some(1675814400000000)),
        ("2023-02-8 1:2:3", Some(1675818123000000)),
        ("2023-02- 8", Some(1675814400000000)),
        ("2023-02-08  10:49:00", Some(1675853340000000)),
        ("2023-02-08\t10:49:00", Some(1675853340000000)),
        ("2023-02-08T10:49:00+01:00:30", Some(1675849710000000)),
        ("2023-02-08T10:49:00+013030", Some(1675847910000000)),
        ("2023-02-08T10:49:00+01:0030", None),
        ("2023-02-08T10:49:00+0100:30", None),
        ("2023-02-08T10:49:00+01:00:30.5", Some(1675849709500000)),
        ("2023-02-08T10:49:00+24:00", None),
        ("2023-02-08T10:49:00+23:59", Some(1675767000000000)),
        ("2023-02-08T10:49:00-23:59:59.999999", Some(1675939739999999)),
        ("2023-02-08T10:49:00+01:60", None),
        ("2023-02-08T10:49:60", None),
        ("2023-02-08T24:00:00", None),
        ("2023-02-30", None),
        ("2024-02-29", Some(1709164800000000)),
        ("2023-02-29", None),
        ("0000-01-01", None),
        ("0001-01-01", Some(-62135596800000000)),
        ("9999-12-31T23:59:59.999999", Some(253402300799999999)),
        ("2023-13-01", None),
        ("2023-00-10", None),
        ("2023-01-00", None),
        ("2023-001-01", None),
        ("23-01-01", None),
        ("20230-01-01", None),
        ("2023/01/01", None),
        ("2023-02-08T10:49:00 ", None),
        ("2023-02-08 ", None),
        ("2023-02-08T", None),
        ("2023-02-08T10", None),
        ("2023-02-08 12", None),
        ("2023-02-08T10:49+01", None),
        ("2023-02-08T10:49Z", None),
        ("2023-02-08Z", None),
        ("2023-02-08+01", None),
        ("2023-02-08 UTC", None),
        ("2023-02-08T10:49 UTC", None),
        ("2023-02-08T10:49:00 Z", Some(1675853340000000)),
        ("2023-02-08T10:49:00Zz", None),
        ("2023-02-08T10:49:00.Z", None),
        ("2023-02-08T10:49:00.", None),
        ("2023-02-08T10:49:00.1", Some(1675853340100000)),
        ("2023-02-08T10:49:00.000001", Some(1675853340000001)),
        ("1969-12-31T23:59:59.999999Z", Some(-1)),
        ("1900-01-01T00:00:00Z", Some(-2208988800000000)),
        ("2023-02-08T1:2", Some(1675818120000000)),
        ("2023-02-08T01:02:3", Some(1675818123000000)),
        ("2023-02-08T10:49:00+1", None),
        ("2023-02-08T10:49:00+001", None),
        ("not a date", None),
        ("", None),
        (" ", None),
        ("2023-02-08T10:49:00.123456789", Some(1675853340123456)),
        ("2023-02-08T10:49:00.123456789+02:00", Some(1675846140123456)),
        ("2023-02-08T10:49:00+01:00 ", None),
        ("2023-02-08T10:49:00 +01", Some(1675849740000000)),
        ("2023-02-08 10:49:00.5 -0130", Some(1675858740500000)),
        ("2023-02-08T10:49:00\u{00a0}+01:00", Some(1675849740000000)),
        ("2023-02-08\u{2003}10:49:00", Some(1675853340000000)),
        ("2023-02-08\u{001c}10:49:00", Some(1675853340000000)),
        ("2023-02-08T10:49:00-00:00", Some(1675853340000000)),
        ("2023-02-08T10:49:00+00", Some(1675853340000000)),
        ("2023-02-08T10:49:00.123+05:30", Some(1675833540123000)),
        ("2023-02-08T10:49:00.12345678", Some(1675853340123456)),
        ("2023-02-08T10:49:00UTC", None),
        ("2023-02-08T10:49:00 utc", None),
        ("2023-02-08T10:49:00+01:00Z", None),
        ("2023-02-08T10:49:00Z+01", None),
        ("2023-02-08T10:49:00.1.2", None),
        // Deliberate difference: Python's strptime takes any Unicode decimal digit (here fullwidth),
        // the reference says Some(-23225875200000000); Qdrant's core (chrono) takes ASCII only.
        ("\u{ff11}\u{ff12}\u{ff13}\u{ff14}-01-01", None),
        ("2023-02-08T10:49:00+01:00:60", None),
        ("2023-02-08T10:49:00+01:00:59.1234567", Some(1675849680876544)),
        ("2023-02-08 10:49:00   UTC", Some(1675853340000000)),
        ("2023-02-08T10:49:00.5 UTC", Some(1675853340500000)),
        ("2023-02-08T 10:49:00", None),
        ("2023-02-08 T10:49:00", None),
        ("2023-02-08T10:4", Some(1675850640000000)),
        ("2023-02-08T10:049", None),
    ];
    let mut wrong = vec![];
    for (s, want) in table {
        if parse_datetime(s) != *want {
            wrong.push(format!("{s:?}: got {:?}, want {want:?}", parse_datetime(s)));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn datetime_range_parses_payload_strings() {
    let us = |s: &str| parse_datetime(s).unwrap() as f64;
    let r =
        |gte: &str, lt: &str| FieldPredicate::DatetimeRange(range(Some(us(lt)), None, None, Some(us(gte))));
    let day = r("2023-02-08T00:00:00Z", "2023-02-09T00:00:00Z");
    assert!(pred("d", day.clone(), json!({"d": "2023-02-08T10:49:00Z"})));
    assert!(
        pred("d", day.clone(), json!({"d": "2023-02-08"})),
        "inclusive lower bound"
    );
    assert!(
        !pred("d", day.clone(), json!({"d": "2023-02-09"})),
        "exclusive upper bound"
    );
    assert!(
        pred("d", day.clone(), json!({"d": "2023-02-09T00:30:00+01:00"})),
        "offsets count"
    );
    assert!(!pred("d", day.clone(), json!({"d": "2023-02-08T23:30:00-01:00"})));
    assert!(pred(
        "d",
        day.clone(),
        json!({"d": ["1999-01-01", "2023-02-08 12:00"]})
    ));
    assert!(!pred("d", day.clone(), json!({"d": "not a date"})));
    assert!(
        !pred("d", day.clone(), json!({"d": 1_675_853_340_000_000_i64})),
        "numbers are not datetimes"
    );
    assert!(!pred("d", day, json!({})));
    let micro =
        FieldPredicate::DatetimeRange(range(None, None, Some(us("2023-02-08T10:49:00.000001Z")), None));
    assert!(!pred(
        "d",
        micro.clone(),
        json!({"d": "2023-02-08T10:49:00.000001Z"})
    ));
    assert!(
        !pred("d", micro, json!({"d": "2023-02-08T10:49:00.0000019Z"})),
        "cut, not rounded"
    );
}

// ---- geo ----

#[test]
fn geo_radius_is_strict_and_uses_haversine() {
    let berlin = gp(13.4050, 52.5200);
    let moscow = json!({"loc": {"lon": 37.6173, "lat": 55.7558}});
    let d = super::haversine_m(berlin, gp(37.6173, 55.7558));
    let within = |radius: f64| {
        FieldPredicate::GeoRadius(GeoRadius {
            center: berlin,
            radius,
        })
    };
    assert!(pred("loc", within(d + 1.0), moscow.clone()));
    assert!(
        !pred("loc", within(d), moscow.clone()),
        "the circle itself is outside"
    );
    assert!(!pred("loc", within(d - 1.0), moscow));
    let center = json!({"loc": {"lon": 13.4050, "lat": 52.5200}});
    assert!(!pred("loc", within(0.0), center.clone()));
    assert!(pred("loc", within(0.001), center));
    let many = json!({"loc": [{"lon": 0, "lat": 0}, {"lon": 13.4, "lat": 52.52}]});
    assert!(pred("loc", within(10_000.0), many));
    for bad in [
        json!({"loc": [13.4, 52.52]}),
        json!({"loc": {"lon": "13.4", "lat": 52.52}}),
        json!({"loc": null}),
    ] {
        assert!(!pred("loc", within(1e9), bad));
    }
}

#[test]
fn geo_bounding_box_is_strict_and_wraps_the_antimeridian() {
    let bbox = |tl: GeoPoint, br: GeoPoint| {
        FieldPredicate::GeoBoundingBox(GeoBoundingBox {
            top_left: tl,
            bottom_right: br,
        })
    };
    let at = |lon: f64, lat: f64| json!({"g": {"lon": lon, "lat": lat}});
    let b = bbox(gp(-10.0, 10.0), gp(10.0, -10.0));
    assert!(pred("g", b.clone(), at(0.0, 0.0)));
    assert!(!pred("g", b.clone(), at(10.0, 0.0)), "edge is outside");
    assert!(!pred("g", b.clone(), at(0.0, -10.0)));
    assert!(!pred("g", b.clone(), at(11.0, 0.0)));
    assert!(!pred("g", b, at(0.0, 11.0)));
    let wrap = bbox(gp(170.0, 10.0), gp(-170.0, -10.0));
    assert!(pred("g", wrap.clone(), at(175.0, 0.0)));
    assert!(pred("g", wrap.clone(), at(-175.0, 0.0)));
    assert!(!pred("g", wrap.clone(), at(0.0, 0.0)));
    assert!(!pred("g", wrap, at(170.0, 0.0)));
}

#[test]
fn geo_polygon_with_holes_excludes_boundaries() {
    let ring = |pts: &[(f64, f64)]| pts.iter().map(|(lon, lat)| gp(*lon, *lat)).collect::<Vec<_>>();
    let square = ring(&[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)]);
    let hole = ring(&[(4.0, 4.0), (6.0, 4.0), (6.0, 6.0), (4.0, 6.0), (4.0, 4.0)]);
    let poly = FieldPredicate::GeoPolygon(GeoPolygon {
        exterior: square.clone(),
        interiors: vec![hole],
    });
    let at = |lon: f64, lat: f64| json!({"g": {"lon": lon, "lat": lat}});
    assert!(pred("g", poly.clone(), at(2.0, 2.0)));
    assert!(!pred("g", poly.clone(), at(5.0, 5.0)), "inside the hole");
    assert!(!pred("g", poly.clone(), at(4.0, 5.0)), "on the hole's edge");
    assert!(!pred("g", poly.clone(), at(0.0, 5.0)), "on the outer edge");
    assert!(!pred("g", poly.clone(), at(10.0, 10.0)), "on a vertex");
    assert!(!pred("g", poly, at(11.0, 5.0)));
    let triangle = FieldPredicate::GeoPolygon(GeoPolygon {
        exterior: ring(&[(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)]),
        interiors: vec![],
    });
    assert!(
        pred("g", triangle.clone(), at(2.0, 2.0)),
        "an unclosed ring works too"
    );
    assert!(!pred("g", triangle.clone(), at(6.0, 6.0)));
    let empty = FieldPredicate::GeoPolygon(GeoPolygon {
        exterior: vec![],
        interiors: vec![],
    });
    assert!(!pred("g", empty, at(0.0, 0.0)));
    assert!(pred(
        "g",
        triangle,
        json!({"g": [{"lon": 50, "lat": 50}, {"lon": 1, "lat": 1}]})
    ));
}

// ---- counts, emptiness, nulls ----

#[test]
fn values_count_counts_each_value_without_flattening() {
    let vc = |lt, lte, gt, gte| FieldPredicate::ValuesCount(range(lt, lte, gt, gte));
    assert!(pred(
        "a",
        vc(None, None, Some(2.0), None),
        json!({"a": [1, 2, 3]})
    ));
    assert!(!pred(
        "a",
        vc(None, None, Some(3.0), None),
        json!({"a": [1, 2, 3]})
    ));
    assert!(pred("a", vc(None, Some(1.0), None, Some(1.0)), json!({"a": "x"})));
    assert!(pred(
        "a",
        vc(None, Some(1.0), None, Some(1.0)),
        json!({"a": {"k": [1, 2]}})
    ));
    assert!(
        pred("a", vc(Some(1.0), None, None, None), json!({"a": null})),
        "null counts 0"
    );
    assert!(
        pred("a", vc(Some(1.0), None, None, None), json!({})),
        "missing counts 0"
    );
    assert!(!pred("a", vc(None, None, None, Some(1.0)), json!({})));
    assert!(pred("a", vc(None, None, None, Some(0.0)), json!({"a": []})));
    // Per value, not summed: [2, 1] elements under arr[].x.
    let p = json!({"arr": [{"x": [1, 2]}, {"x": 3}]});
    assert!(pred("arr[].x", vc(None, None, None, Some(2.0)), p.clone()));
    assert!(!pred("arr[].x", vc(None, None, None, Some(3.0)), p.clone()));
    assert!(!pred("arr[].x", vc(None, None, Some(1.0), Some(3.0)), p));
}

#[test]
fn is_empty_and_is_null() {
    let cases = [
        // payload, is_empty, is_null
        (json!({}), true, false),
        (json!({"a": null}), true, true),
        (json!({"a": []}), true, false),
        (json!({"a": [null]}), false, true),
        (json!({"a": [1, null]}), false, true),
        (json!({"a": [[null]]}), false, false),
        (json!({"a": {}}), false, false),
        (json!({"a": ""}), false, false),
        (json!({"a": 0}), false, false),
        (json!({"a": false}), false, false),
    ];
    for (p, empty, null) in cases {
        assert_eq!(
            holds(Condition::IsEmpty(key("a")), p.clone()),
            empty,
            "is_empty {p}"
        );
        assert_eq!(holds(Condition::IsNull(key("a")), p.clone()), null, "is_null {p}");
        assert_eq!(pred("a", FieldPredicate::IsEmpty(true), p.clone()), empty);
        assert_eq!(pred("a", FieldPredicate::IsEmpty(false), p.clone()), !empty);
        assert_eq!(pred("a", FieldPredicate::IsNull(true), p.clone()), null);
        assert_eq!(pred("a", FieldPredicate::IsNull(false), p.clone()), !null);
    }
    // Through arrays of objects: empty when every value found is empty.
    let p = json!({"arr": [{"x": null}, {"x": []}, {"y": 1}]});
    assert!(holds(Condition::IsEmpty(key("arr[].x")), p.clone()));
    assert!(holds(Condition::IsNull(key("arr[].x")), p.clone()));
    let p = json!({"arr": [{"x": null}, {"x": 1}]});
    assert!(!holds(Condition::IsEmpty(key("arr[].x")), p));
}

// ---- ids and vectors ----

#[test]
fn has_id_and_has_vector() {
    let mut p = point(3, json!({}));
    p.vectors = vec![String::new(), "image".into()];
    assert!(check(&must(vec![has_id(&[1, 3])]), &p));
    assert!(!check(&must(vec![has_id(&[1, 2])]), &p));
    let uuid = PointId::Uuid(uuid::Uuid::nil());
    let by_uuid = Condition::HasId([uuid].into_iter().collect());
    assert!(!check(&must(vec![by_uuid.clone()]), &p));
    p.id = uuid;
    assert!(check(&must(vec![by_uuid]), &p));
    assert!(check(&must(vec![Condition::HasVector(String::new())]), &p));
    assert!(check(&must(vec![Condition::HasVector("image".into())]), &p));
    assert!(!check(&must(vec![Condition::HasVector("text".into())]), &p));
}

// ---- nested ----

#[test]
fn nested_checks_each_element_as_a_whole() {
    let p = json!({"arr": [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}, 7, "s", null]});
    let both = |x: i64, y: &str| {
        nested(
            "arr",
            must(vec![
                field("x", vec![value(int(x))]),
                field("y", vec![value(kw(y))]),
            ]),
        )
    };
    assert!(holds(both(1, "a"), p.clone()));
    assert!(
        !holds(both(1, "b"), p.clone()),
        "conditions must hold on the same element"
    );
    let flat = must(vec![
        field("arr[].x", vec![value(int(1))]),
        field("arr[].y", vec![value(kw("b"))]),
    ]);
    assert!(
        check(&flat, &point(1, p.clone())),
        "without nested they may hold on different ones"
    );
    let bracket = nested("arr[]", must(vec![field("x", vec![value(int(2))])]));
    assert!(holds(bracket, p.clone()), "`arr[]` is the same key as `arr`");
    let not = nested(
        "arr",
        Filter {
            must_not: vec![field("x", vec![value(int(1))])],
            ..Filter::default()
        },
    );
    assert!(holds(not, p.clone()), "element 2 has no x = 1");
    assert!(
        !holds(nested("arr", Filter::default()), json!({"arr": [1, 2]})),
        "no objects"
    );
    assert!(holds(nested("arr", Filter::default()), p));
}

#[test]
fn nested_needs_an_array() {
    let inner = || must(vec![field("x", vec![value(int(1))])]);
    assert!(!holds(nested("o", inner()), json!({"o": {"x": 1}})));
    assert!(!holds(nested("missing", inner()), json!({})));
    assert!(!holds(nested("o", inner()), json!({"o": null})));
    assert!(holds(
        nested("o.list", inner()),
        json!({"o": {"list": [{"x": 1}]}})
    ));
    let deep = json!({"a": [{"b": [{"x": 2}]}, {"b": [{"x": 1}]}]});
    assert!(holds(nested("a[].b", inner()), deep.clone()));
    assert!(holds(nested("a", must(vec![nested("b", inner())])), deep.clone()));
    assert!(!holds(
        nested(
            "a",
            must(vec![nested("b", must(vec![field("a", vec![value(int(1))])]))])
        ),
        deep
    ));
}

#[test]
fn nested_elements_have_no_id_and_no_vectors() {
    let mut p = point(1, json!({"arr": [{"x": 1}]}));
    p.vectors = vec![String::new()];
    let inside = |c: Condition| check(&must(vec![nested("arr", must(vec![c]))]), &p);
    assert!(!inside(has_id(&[1])));
    assert!(!inside(Condition::HasVector(String::new())));
    let inside_not = |c: Condition| {
        let f = Filter {
            must_not: vec![c],
            ..Filter::default()
        };
        check(&must(vec![nested("arr", f)]), &p)
    };
    assert!(inside_not(has_id(&[1])));
}

// ---- field conditions with several predicates ----

#[test]
fn field_condition_needs_every_predicate() {
    let p = json!({"a": [1, 5]});
    let both = field(
        "a",
        vec![
            value(int(5)),
            FieldPredicate::Range(range(Some(2.0), None, None, None)),
        ],
    );
    assert!(
        holds(both, p.clone()),
        "each predicate may hold on a different value"
    );
    let one_fails = field("a", vec![value(int(5)), value(int(7))]);
    assert!(!holds(one_fails, p.clone()));
    assert!(
        !holds(field("a", vec![]), p),
        "a condition without predicates matches nothing"
    );
}
