//! The evaluator proper: the filter tree walked over one subject (a stored point, or one element of
//! a nested array), condition by condition.
//!
//! Value rules, as in Qdrant:
//! - Predicates other than `values_count` / `is_empty` / `is_null` look at the values of the key with
//!   a final array flattened one level, and hold when any value passes.
//! - JSON types never cross: `true` is not the integer 1, a float (even `1.0`) never equals an
//!   integer match value, and booleans are not numbers for ranges.
//! - `except` needs a non-null value that is none of the listed ones: a missing or null field does
//!   not satisfy it.
//! - Integer payload values are compared with float bounds exactly, not after rounding to `f64`.

use std::cell::OnceCell;
use std::cmp::Ordering;

use quiver_types::{
    Condition, FieldCondition, FieldPredicate, Filter, JsonPath, Match, PathStep, Payload, Range,
    ValueVariant,
};
use serde_json::{Number, Value};

use super::{datetime, geo, text, PointView};

/// What a filter is evaluated against.
#[derive(Clone, Copy)]
pub(super) struct Subject<'a> {
    pub payload: &'a Payload,
    /// The stored point; `None` inside a nested filter, where the subject is an array element with
    /// no id and no vectors (`has_id` and `has_vector` are then false).
    pub point: Option<&'a dyn PointView>,
}

/// `must` all hold, no `must_not` holds, one `should` holds (if any are given), and at least
/// `min_count` of the `min_should` conditions hold.
pub(super) fn filter_holds(filter: &Filter, s: Subject<'_>) -> bool {
    filter.must.iter().all(|c| condition_holds(c, s))
        && !filter.must_not.iter().any(|c| condition_holds(c, s))
        && (filter.should.is_empty() || filter.should.iter().any(|c| condition_holds(c, s)))
        && filter.min_should.as_ref().is_none_or(|m| {
            // `take` stops evaluating once enough conditions hold.
            let held = m.conditions.iter().filter(|c| condition_holds(c, s));
            held.take(m.min_count).count() == m.min_count
        })
}

fn condition_holds(condition: &Condition, s: Subject<'_>) -> bool {
    match condition {
        Condition::Field(field) => field_holds(field, s.payload),
        Condition::IsEmpty(key) => is_empty(&key.raw_values(s.payload)),
        Condition::IsNull(key) => is_null(&key.raw_values(s.payload)),
        Condition::HasId(ids) => s.point.is_some_and(|p| ids.contains(&p.id())),
        Condition::HasVector(name) => s.point.is_some_and(|p| p.has_vector(name)),
        Condition::Nested { key, filter } => nested_elements(key, s.payload).into_iter().any(|element| {
            filter_holds(
                filter,
                Subject {
                    payload: element,
                    point: None,
                },
            )
        }),
        Condition::Filter(inner) => filter_holds(inner, s),
    }
}

/// The objects a nested filter is applied to: elements of the arrays at `key` (`a` and `a[]` are
/// the same key). Non-object elements and values that are not arrays are skipped.
fn nested_elements<'a>(key: &JsonPath, payload: &'a Payload) -> Vec<&'a Payload> {
    let values = key.raw_values(payload).into_iter();
    if key.steps.len() > 1 && key.steps.last() == Some(&PathStep::Each) {
        // The final `[]` already stepped into the arrays and skipped everything else.
        values.filter_map(Value::as_object).collect()
    } else {
        values
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_object)
            .collect()
    }
}

/// All predicates hold, each on any value (not necessarily the same one). A condition without
/// predicates holds for nothing, as in the reference.
fn field_holds(field: &FieldCondition, payload: &Payload) -> bool {
    if field.predicates.is_empty() {
        return false;
    }
    let flat = OnceCell::new();
    let values = || flat.get_or_init(|| field.key.values(payload));
    let any = |test: &dyn Fn(&Value) -> bool| values().iter().any(|v| test(v));
    field.predicates.iter().all(|predicate| match predicate {
        FieldPredicate::Match(m) => any(&|v| match_holds(m, v)),
        FieldPredicate::Range(r) => any(&|v| number_in_range(r, v)),
        FieldPredicate::DatetimeRange(r) => any(&|v| datetime_in_range(r, v)),
        FieldPredicate::GeoBoundingBox(b) => {
            any(&|v| geo::geo_point(v).is_some_and(|p| geo::in_bounding_box(b, p)))
        }
        FieldPredicate::GeoRadius(c) => any(&|v| geo::geo_point(v).is_some_and(|p| geo::in_radius(c, p))),
        FieldPredicate::GeoPolygon(g) => any(&|v| geo::geo_point(v).is_some_and(|p| geo::in_polygon(g, p))),
        FieldPredicate::ValuesCount(r) => values_count_holds(r, &field.key.raw_values(payload)),
        FieldPredicate::IsEmpty(want) => is_empty(&field.key.raw_values(payload)) == *want,
        FieldPredicate::IsNull(want) => is_null(&field.key.raw_values(payload)) == *want,
    })
}

fn match_holds(m: &Match, v: &Value) -> bool {
    match m {
        Match::Value(want) => value_equals(v, want),
        Match::Any(list) => list.iter().any(|want| value_equals(v, want)),
        Match::Except(list) => !v.is_null() && !list.iter().any(|want| value_equals(v, want)),
        Match::Text(query) => v.as_str().is_some_and(|s| text::all_words(s, query)),
        Match::TextAny(query) => v.as_str().is_some_and(|s| text::any_word(s, query)),
        Match::Phrase(query) => v.as_str().is_some_and(|s| text::phrase(s, query)),
        Match::Words(q) => v.as_str().is_some_and(|s| text::words_match(s, q)),
    }
}

/// Exact match of a payload value: same JSON type (integers only match integers) and same value.
fn value_equals(v: &Value, want: &ValueVariant) -> bool {
    match (v, want) {
        (Value::String(s), ValueVariant::Keyword(k)) => s == k,
        (Value::Bool(b), ValueVariant::Bool(w)) => b == w,
        (Value::Number(n), ValueVariant::Integer(i)) => n.as_i64() == Some(*i),
        _ => false,
    }
}

/// A number (not a bool, not a string) within the bounds.
fn number_in_range(r: &Range, v: &Value) -> bool {
    let Value::Number(n) = v else {
        return false;
    };
    bounds_hold(r, |bound| compare_number(n, bound))
}

/// A string that parses as a datetime (see [`datetime::parse_datetime`]) within the bounds, which
/// are microseconds since the epoch.
fn datetime_in_range(r: &Range, v: &Value) -> bool {
    let Some(micros) = v.as_str().and_then(datetime::parse_datetime) else {
        return false;
    };
    bounds_hold(r, |bound| compare_int(i128::from(micros), bound))
}

/// Every given bound holds, `cmp(bound)` being how the value orders against it (`None`: unordered).
fn bounds_hold(r: &Range, cmp: impl Fn(f64) -> Option<Ordering>) -> bool {
    let check = |bound: Option<f64>, ok: fn(Ordering) -> bool| bound.is_none_or(|b| cmp(b).is_some_and(ok));
    check(r.lt, Ordering::is_lt)
        && check(r.lte, Ordering::is_le)
        && check(r.gt, Ordering::is_gt)
        && check(r.gte, Ordering::is_ge)
}

fn compare_number(n: &Number, bound: f64) -> Option<Ordering> {
    if let Some(i) = n.as_i64() {
        compare_int(i128::from(i), bound)
    } else if let Some(u) = n.as_u64() {
        compare_int(i128::from(u), bound)
    } else {
        n.as_f64()?.partial_cmp(&bound)
    }
}

/// Exact order of an integer against a float (no rounding of the integer to `f64` first).
fn compare_int(i: i128, bound: f64) -> Option<Ordering> {
    // Rounding is monotonic, so a strict order after rounding is the true order; on a tie the
    // bound is an integer-valued float and can be compared as an integer.
    match (i as f64).partial_cmp(&bound)? {
        Ordering::Equal => Some(i.cmp(&(bound as i128))),
        strict => Some(strict),
    }
}

/// Some value's count satisfies all bounds: null counts 0, an array its length, anything else 1; a
/// missing key counts 0.
fn values_count_holds(r: &Range, raw: &[&Value]) -> bool {
    let count = |v: &&Value| match v {
        Value::Null => 0,
        Value::Array(items) => items.len(),
        _ => 1,
    };
    if raw.is_empty() {
        return r.contains(0.0);
    }
    raw.iter().any(|v| r.contains(count(v) as f64))
}

/// No value, or every value is null or an empty array.
fn is_empty(raw: &[&Value]) -> bool {
    raw.iter().all(|v| match v {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        _ => false,
    })
}

/// Some value is null or an array with a null element (one level deep).
fn is_null(raw: &[&Value]) -> bool {
    raw.iter().any(|v| match v {
        Value::Null => true,
        Value::Array(items) => items.iter().any(Value::is_null),
        _ => false,
    })
}
