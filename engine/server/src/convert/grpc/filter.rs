//! Qdrant's gRPC filter -> the engine's filter tree: must / should / must_not / min_should over
//! field conditions (match, range, datetime range, geo box / radius / polygon, values count,
//! is_empty, is_null), is_empty / is_null / has_id / has_vector / nested conditions and sub-filters.

use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::condition::ConditionOneOf;
use qdrant_client::qdrant::r#match::MatchValue;
use quiver_types::{
    Condition, FieldCondition, FieldPredicate, Filter, GeoBoundingBox, GeoPoint, GeoPolygon, GeoRadius,
    Match, MinShould, Range, ValueVariant,
};

use super::ids::point_ids;
use super::payload::json_path;
use super::{bad, index, join, required};
use crate::error::ApiResult;

/// Microseconds per second, for timestamps.
const MICROS: i64 = 1_000_000;

pub fn filter(f: &pb::Filter, path: &str) -> ApiResult<Filter> {
    let list = |conds: &[pb::Condition], key: &str| -> ApiResult<Vec<Condition>> {
        let p = join(path, key);
        conds
            .iter()
            .enumerate()
            .map(|(i, c)| condition(c, &index(&p, i)))
            .collect()
    };
    let min_should = match &f.min_should {
        None => None,
        Some(m) => Some(MinShould {
            conditions: list(&m.conditions, "min_should.conditions")?,
            min_count: usize::try_from(m.min_count)
                .map_err(|_| bad(&join(path, "min_should.min_count"), "is too large"))?,
        }),
    };
    Ok(Filter {
        must: list(&f.must, "must")?,
        should: list(&f.should, "should")?,
        must_not: list(&f.must_not, "must_not")?,
        min_should,
    })
}

/// An optional filter field.
pub fn opt_filter(f: &Option<pb::Filter>, path: &str, key: &str) -> ApiResult<Option<Filter>> {
    f.as_ref().map(|f| filter(f, &join(path, key))).transpose()
}

fn condition(c: &pb::Condition, path: &str) -> ApiResult<Condition> {
    match &c.condition_one_of {
        Some(ConditionOneOf::Field(f)) => field_condition(f, &join(path, "field")),
        Some(ConditionOneOf::IsEmpty(e)) => Ok(Condition::IsEmpty(json_path(
            &e.key,
            &join(path, "is_empty.key"),
        )?)),
        Some(ConditionOneOf::IsNull(e)) => {
            Ok(Condition::IsNull(json_path(&e.key, &join(path, "is_null.key"))?))
        }
        Some(ConditionOneOf::HasId(h)) => Ok(Condition::HasId(
            point_ids(&h.has_id, &join(path, "has_id.has_id"))?
                .into_iter()
                .collect(),
        )),
        Some(ConditionOneOf::HasVector(h)) => Ok(Condition::HasVector(h.has_vector.clone())),
        Some(ConditionOneOf::Nested(n)) => {
            let p = join(path, "nested");
            Ok(Condition::Nested {
                key: json_path(&n.key, &join(&p, "key"))?,
                filter: Box::new(filter(required(&n.filter, &p, "filter")?, &join(&p, "filter"))?),
            })
        }
        Some(ConditionOneOf::Filter(f)) => Ok(Condition::Filter(Box::new(filter(f, &join(path, "filter"))?))),
        Some(ConditionOneOf::Slice(_)) => Err(bad(
            &join(path, "slice"),
            "slice conditions are not supported yet",
        )),
        None => Err(bad(
            path,
            "empty condition: expected one of field, is_empty, is_null, has_id, has_vector, nested, filter",
        )),
    }
}

fn field_condition(f: &pb::FieldCondition, path: &str) -> ApiResult<Condition> {
    let key = json_path(&f.key, &join(path, "key"))?;
    let mut predicates = Vec::new();
    if let Some(m) = &f.r#match {
        predicates.push(FieldPredicate::Match(parse_match(m, &join(path, "match"))?));
    }
    if let Some(r) = &f.range {
        predicates.push(FieldPredicate::Range(Range {
            lt: r.lt,
            gt: r.gt,
            gte: r.gte,
            lte: r.lte,
        }));
    }
    if let Some(r) = &f.datetime_range {
        let p = join(path, "datetime_range");
        let t = |ts: &Option<prost_types::Timestamp>, k: &str| -> ApiResult<Option<f64>> {
            ts.as_ref()
                .map(|ts| timestamp_micros(ts, &join(&p, k)))
                .transpose()
        };
        predicates.push(FieldPredicate::DatetimeRange(Range {
            lt: t(&r.lt, "lt")?,
            gt: t(&r.gt, "gt")?,
            gte: t(&r.gte, "gte")?,
            lte: t(&r.lte, "lte")?,
        }));
    }
    if let Some(g) = &f.geo_bounding_box {
        let p = join(path, "geo_bounding_box");
        predicates.push(FieldPredicate::GeoBoundingBox(GeoBoundingBox {
            top_left: geo_point(required(&g.top_left, &p, "top_left")?, &join(&p, "top_left"))?,
            bottom_right: geo_point(
                required(&g.bottom_right, &p, "bottom_right")?,
                &join(&p, "bottom_right"),
            )?,
        }));
    }
    if let Some(g) = &f.geo_radius {
        let p = join(path, "geo_radius");
        let radius = f64::from(g.radius);
        if !radius.is_finite() || radius < 0.0 {
            return Err(bad(
                &join(&p, "radius"),
                "must be a non-negative number of meters",
            ));
        }
        predicates.push(FieldPredicate::GeoRadius(GeoRadius {
            center: geo_point(required(&g.center, &p, "center")?, &join(&p, "center"))?,
            radius,
        }));
    }
    if let Some(g) = &f.geo_polygon {
        let p = join(path, "geo_polygon");
        let exterior = ring(required(&g.exterior, &p, "exterior")?, &join(&p, "exterior"))?;
        let interiors = g
            .interiors
            .iter()
            .enumerate()
            .map(|(i, r)| ring(r, &index(&join(&p, "interiors"), i)))
            .collect::<ApiResult<_>>()?;
        predicates.push(FieldPredicate::GeoPolygon(GeoPolygon { exterior, interiors }));
    }
    if let Some(c) = &f.values_count {
        let b = |v: Option<u64>| v.map(|x| x as f64);
        predicates.push(FieldPredicate::ValuesCount(Range {
            lt: b(c.lt),
            gt: b(c.gt),
            gte: b(c.gte),
            lte: b(c.lte),
        }));
    }
    if let Some(b) = f.is_empty {
        predicates.push(FieldPredicate::IsEmpty(b));
    }
    if let Some(b) = f.is_null {
        predicates.push(FieldPredicate::IsNull(b));
    }
    if predicates.is_empty() {
        return Err(bad(
            path,
            "a field condition needs one of match, range, datetime_range, geo_bounding_box, geo_radius, geo_polygon, values_count, is_empty, is_null",
        ));
    }
    Ok(Condition::Field(FieldCondition { key, predicates }))
}

fn parse_match(m: &pb::Match, path: &str) -> ApiResult<Match> {
    let keywords = |v: &[String]| v.iter().cloned().map(ValueVariant::Keyword).collect();
    let integers = |v: &[i64]| v.iter().copied().map(ValueVariant::Integer).collect();
    Ok(match &m.match_value {
        Some(MatchValue::Keyword(s)) => Match::Value(ValueVariant::Keyword(s.clone())),
        Some(MatchValue::Integer(i)) => Match::Value(ValueVariant::Integer(*i)),
        Some(MatchValue::Boolean(b)) => Match::Value(ValueVariant::Bool(*b)),
        Some(MatchValue::Text(t)) => Match::Text(t.clone()),
        Some(MatchValue::Phrase(t)) => Match::Phrase(t.clone()),
        Some(MatchValue::TextAny(t)) => Match::TextAny(t.clone()),
        Some(MatchValue::Keywords(k)) => Match::Any(keywords(&k.strings)),
        Some(MatchValue::Integers(k)) => Match::Any(integers(&k.integers)),
        Some(MatchValue::ExceptKeywords(k)) => Match::Except(keywords(&k.strings)),
        Some(MatchValue::ExceptIntegers(k)) => Match::Except(integers(&k.integers)),
        Some(MatchValue::Prefix(_)) => {
            return Err(bad(&join(path, "prefix"), "prefix matching is not supported yet"))
        }
        Some(MatchValue::Substring(_)) => {
            return Err(bad(
                &join(path, "substring"),
                "substring matching is not supported yet",
            ))
        }
        None => return Err(bad(path, "empty match: set one of its values")),
    })
}

/// A protobuf timestamp -> microseconds since the Unix epoch (UTC).
pub fn timestamp_micros(ts: &prost_types::Timestamp, path: &str) -> ApiResult<f64> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(bad(path, "nanos must be between 0 and 999,999,999"));
    }
    ts.seconds
        .checked_mul(MICROS)
        .and_then(|s| s.checked_add(i64::from(ts.nanos) / 1000))
        .map(|us| us as f64)
        .ok_or_else(|| bad(path, "timestamp is out of range"))
}

fn geo_point(p: &pb::GeoPoint, path: &str) -> ApiResult<GeoPoint> {
    if !(-180.0..=180.0).contains(&p.lon) {
        return Err(bad(&join(path, "lon"), "longitude must be between -180 and 180"));
    }
    if !(-90.0..=90.0).contains(&p.lat) {
        return Err(bad(&join(path, "lat"), "latitude must be between -90 and 90"));
    }
    Ok(GeoPoint {
        lon: p.lon,
        lat: p.lat,
    })
}

fn ring(r: &pb::GeoLineString, path: &str) -> ApiResult<Vec<GeoPoint>> {
    let pp = join(path, "points");
    let ring: Vec<GeoPoint> = r
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| geo_point(p, &index(&pp, i)))
        .collect::<ApiResult<_>>()?;
    match crate::convert::ring_problem(&ring) {
        Some(why) => Err(bad(&pp, why)),
        None => Ok(ring),
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
