//! Qdrant's filter JSON -> the engine's filter tree.

use quiver_segment::filter::parse_datetime;
use quiver_types::{
    Condition, FieldCondition, FieldPredicate, Filter, GeoBoundingBox, GeoPoint, GeoPolygon, GeoRadius,
    JsonPath, Match, MinShould, Range, ValueVariant,
};
use serde_json::Value;

use super::json::{array, bad, field, index, join, number, object, string, unsigned};
use super::points::point_id;
use crate::error::ApiResult;

/// Parses an optional filter field (`filter`, `query_filter`...).
pub fn opt_filter(obj: &Value, key: &str, path: &str) -> ApiResult<Option<Filter>> {
    field(obj, key).map(|v| filter(v, &join(path, key))).transpose()
}

pub fn filter(v: &Value, path: &str) -> ApiResult<Filter> {
    object(v, path)?;
    let list = |key: &str| -> ApiResult<Vec<Condition>> {
        let p = join(path, key);
        match field(v, key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, c)| condition(c, &index(&p, i)))
                .collect(),
            Some(single) => Ok(vec![condition(single, &p)?]),
        }
    };
    let min_should = match field(v, "min_should") {
        None => None,
        Some(m) => {
            let p = join(path, "min_should");
            let conds = field(m, "conditions").ok_or_else(|| bad(&p, "`conditions` is required"))?;
            let cp = join(&p, "conditions");
            let conditions = array(conds, &cp)?
                .iter()
                .enumerate()
                .map(|(i, c)| condition(c, &index(&cp, i)))
                .collect::<ApiResult<_>>()?;
            let count = field(m, "min_count").ok_or_else(|| bad(&p, "`min_count` is required"))?;
            Some(MinShould {
                conditions,
                min_count: unsigned(count, &join(&p, "min_count"))? as usize,
            })
        }
    };
    Ok(Filter {
        must: list("must")?,
        should: list("should")?,
        must_not: list("must_not")?,
        min_should,
    })
}

pub fn json_path(v: &Value, path: &str) -> ApiResult<JsonPath> {
    JsonPath::parse(string(v, path)?).map_err(|e| bad(path, e))
}

fn condition(v: &Value, path: &str) -> ApiResult<Condition> {
    object(v, path)?;
    if let Some(key) = field(v, "key") {
        return field_condition(v, json_path(key, &join(path, "key"))?, path);
    }
    if let Some(e) = field(v, "is_empty") {
        let p = join(path, "is_empty");
        return Ok(Condition::IsEmpty(json_path(
            field(e, "key").ok_or_else(|| bad(&p, "`key` is required"))?,
            &p,
        )?));
    }
    if let Some(e) = field(v, "is_null") {
        let p = join(path, "is_null");
        return Ok(Condition::IsNull(json_path(
            field(e, "key").ok_or_else(|| bad(&p, "`key` is required"))?,
            &p,
        )?));
    }
    if let Some(ids) = field(v, "has_id") {
        let p = join(path, "has_id");
        let ids = array(ids, &p)?
            .iter()
            .enumerate()
            .map(|(i, id)| point_id(id, &index(&p, i)))
            .collect::<ApiResult<_>>()?;
        return Ok(Condition::HasId(ids));
    }
    if let Some(name) = field(v, "has_vector") {
        return Ok(Condition::HasVector(
            string(name, &join(path, "has_vector"))?.to_string(),
        ));
    }
    if let Some(n) = field(v, "nested") {
        let p = join(path, "nested");
        let key = json_path(
            field(n, "key").ok_or_else(|| bad(&p, "`key` is required"))?,
            &join(&p, "key"),
        )?;
        let inner = filter(
            field(n, "filter").ok_or_else(|| bad(&p, "`filter` is required"))?,
            &join(&p, "filter"),
        )?;
        return Ok(Condition::Nested {
            key,
            filter: Box::new(inner),
        });
    }
    if ["must", "should", "must_not", "min_should"]
        .iter()
        .any(|k| v.get(k).is_some())
    {
        return Ok(Condition::Filter(Box::new(filter(v, path)?)));
    }
    Err(bad(
        path,
        "unknown condition: expected one of key, is_empty, is_null, has_id, has_vector, nested, or a filter",
    ))
}

fn field_condition(v: &Value, key: JsonPath, path: &str) -> ApiResult<Condition> {
    let mut predicates = Vec::new();
    if let Some(m) = field(v, "match") {
        predicates.push(FieldPredicate::Match(parse_match(m, &join(path, "match"))?));
    }
    if let Some(r) = field(v, "range") {
        predicates.push(parse_range(r, &join(path, "range"))?);
    }
    if let Some(g) = field(v, "geo_radius") {
        let p = join(path, "geo_radius");
        let center = geo_point(
            field(g, "center").ok_or_else(|| bad(&p, "`center` is required"))?,
            &join(&p, "center"),
        )?;
        let radius = number(
            field(g, "radius").ok_or_else(|| bad(&p, "`radius` is required"))?,
            &join(&p, "radius"),
        )?;
        predicates.push(FieldPredicate::GeoRadius(GeoRadius { center, radius }));
    }
    if let Some(g) = field(v, "geo_bounding_box") {
        let p = join(path, "geo_bounding_box");
        let corner = |k: &str| {
            geo_point(
                field(g, k).ok_or_else(|| bad(&p, format!("`{k}` is required")))?,
                &join(&p, k),
            )
        };
        predicates.push(FieldPredicate::GeoBoundingBox(GeoBoundingBox {
            top_left: corner("top_left")?,
            bottom_right: corner("bottom_right")?,
        }));
    }
    if let Some(g) = field(v, "geo_polygon") {
        let p = join(path, "geo_polygon");
        let ext = field(g, "exterior").ok_or_else(|| bad(&p, "`exterior` is required"))?;
        let exterior = ring(ext, &join(&p, "exterior"))?;
        let mut interiors = Vec::new();
        if let Some(ints) = field(g, "interiors") {
            let ip = join(&p, "interiors");
            for (i, r) in array(ints, &ip)?.iter().enumerate() {
                interiors.push(ring(r, &index(&ip, i))?);
            }
        }
        predicates.push(FieldPredicate::GeoPolygon(GeoPolygon { exterior, interiors }));
    }
    if let Some(c) = field(v, "values_count") {
        predicates.push(FieldPredicate::ValuesCount(numeric_range(
            c,
            &join(path, "values_count"),
        )?));
    }
    if let Some(b) = field(v, "is_empty") {
        predicates.push(FieldPredicate::IsEmpty(super::json::boolean(
            b,
            &join(path, "is_empty"),
        )?));
    }
    if let Some(b) = field(v, "is_null") {
        predicates.push(FieldPredicate::IsNull(super::json::boolean(
            b,
            &join(path, "is_null"),
        )?));
    }
    if predicates.is_empty() {
        return Err(bad(path, "a field condition needs one of match, range, geo_radius, geo_bounding_box, geo_polygon, values_count, is_empty, is_null"));
    }
    Ok(Condition::Field(FieldCondition { key, predicates }))
}

fn value_variant(v: &Value, path: &str) -> ApiResult<ValueVariant> {
    match v {
        Value::String(s) => Ok(ValueVariant::Keyword(s.clone())),
        Value::Bool(b) => Ok(ValueVariant::Bool(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(ValueVariant::Integer)
            .ok_or_else(|| bad(path, "match values must be strings, integers or booleans")),
        _ => Err(bad(path, "match values must be strings, integers or booleans")),
    }
}

fn variants(v: &Value, path: &str) -> ApiResult<Vec<ValueVariant>> {
    array(v, path)?
        .iter()
        .enumerate()
        .map(|(i, x)| value_variant(x, &index(path, i)))
        .collect()
}

fn parse_match(m: &Value, path: &str) -> ApiResult<Match> {
    object(m, path)?;
    if let Some(v) = m.get("value") {
        return Ok(Match::Value(value_variant(v, &join(path, "value"))?));
    }
    if let Some(t) = field(m, "text") {
        return Ok(Match::Text(string(t, &join(path, "text"))?.to_string()));
    }
    if let Some(t) = field(m, "phrase") {
        return Ok(Match::Phrase(string(t, &join(path, "phrase"))?.to_string()));
    }
    if let Some(t) = field(m, "text_any") {
        return Ok(Match::TextAny(string(t, &join(path, "text_any"))?.to_string()));
    }
    if let Some(a) = field(m, "any") {
        return Ok(Match::Any(variants(a, &join(path, "any"))?));
    }
    if let Some(a) = field(m, "except") {
        return Ok(Match::Except(variants(a, &join(path, "except"))?));
    }
    Err(bad(
        path,
        "expected one of value, text, phrase, text_any, any, except",
    ))
}

fn parse_range(r: &Value, path: &str) -> ApiResult<FieldPredicate> {
    object(r, path)?;
    let is_datetime = ["lt", "gt", "gte", "lte"]
        .iter()
        .any(|k| field(r, k).is_some_and(Value::is_string));
    if !is_datetime {
        return Ok(FieldPredicate::Range(numeric_range(r, path)?));
    }
    let bound = |k: &str| -> ApiResult<Option<f64>> {
        field(r, k)
            .map(|v| {
                let p = join(path, k);
                let s = string(v, &p)?;
                parse_datetime(s)
                    .map(|us| us as f64)
                    .ok_or_else(|| bad(&p, format!("`{s}` is not a datetime (RFC 3339 expected)")))
            })
            .transpose()
    };
    Ok(FieldPredicate::DatetimeRange(Range {
        lt: bound("lt")?,
        gt: bound("gt")?,
        gte: bound("gte")?,
        lte: bound("lte")?,
    }))
}

fn numeric_range(r: &Value, path: &str) -> ApiResult<Range> {
    object(r, path)?;
    let bound = |k: &str| field(r, k).map(|v| number(v, &join(path, k))).transpose();
    Ok(Range {
        lt: bound("lt")?,
        gt: bound("gt")?,
        gte: bound("gte")?,
        lte: bound("lte")?,
    })
}

fn geo_point(v: &Value, path: &str) -> ApiResult<GeoPoint> {
    object(v, path)?;
    let lon = number(
        field(v, "lon").ok_or_else(|| bad(path, "`lon` is required"))?,
        &join(path, "lon"),
    )?;
    let lat = number(
        field(v, "lat").ok_or_else(|| bad(path, "`lat` is required"))?,
        &join(path, "lat"),
    )?;
    if !(-180.0..=180.0).contains(&lon) {
        return Err(bad(&join(path, "lon"), "longitude must be between -180 and 180"));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(bad(&join(path, "lat"), "latitude must be between -90 and 90"));
    }
    Ok(GeoPoint { lon, lat })
}

fn ring(v: &Value, path: &str) -> ApiResult<Vec<GeoPoint>> {
    let pts = field(v, "points").ok_or_else(|| bad(path, "`points` is required"))?;
    let pp = join(path, "points");
    let ring: Vec<GeoPoint> = array(pts, &pp)?
        .iter()
        .enumerate()
        .map(|(i, p)| geo_point(p, &index(&pp, i)))
        .collect::<ApiResult<_>>()?;
    match crate::convert::ring_problem(&ring) {
        Some(why) => Err(bad(&pp, why)),
        None => Ok(ring),
    }
}
