//! Differential test against Qdrant's reference evaluator. `testdata/reference_cases.json` holds
//! random payloads and random filters (in Qdrant's REST JSON) with the verdict of the Python
//! client's local mode (`qdrant_client.local.payload_filters.check_filter`) for every pair; this
//! test converts the filters to the filter tree and requires the same verdicts.
//!
//! The reference sets one predicate per field condition (it checks only the first one set), so the
//! cases do too.

use quiver_types::{
    Condition, FieldCondition, FieldPredicate, Filter, GeoBoundingBox, GeoPoint, GeoPolygon, GeoRadius,
    Match, MinShould, PointId, Range, ValueVariant,
};
use serde_json::Value;

use super::tests::{key, TestPoint};
use super::{check, parse_datetime};

fn list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    }
}

fn filter(v: &Value) -> Filter {
    let conditions = |name: &str| list(v.get(name)).into_iter().map(condition).collect();
    Filter {
        must: conditions("must"),
        should: conditions("should"),
        must_not: conditions("must_not"),
        min_should: v.get("min_should").filter(|m| !m.is_null()).map(|m| MinShould {
            conditions: list(m.get("conditions")).into_iter().map(condition).collect(),
            min_count: m["min_count"].as_u64().unwrap() as usize,
        }),
    }
}

fn condition(v: &Value) -> Condition {
    if let Some(k) = v.get("key").and_then(Value::as_str) {
        return Condition::Field(FieldCondition {
            key: key(k),
            predicates: vec![predicate(v)],
        });
    }
    if let Some(inner) = v.get("is_empty") {
        return Condition::IsEmpty(key(inner["key"].as_str().unwrap()));
    }
    if let Some(inner) = v.get("is_null") {
        return Condition::IsNull(key(inner["key"].as_str().unwrap()));
    }
    if let Some(ids) = v.get("has_id") {
        let ids = ids.as_array().unwrap();
        return Condition::HasId(ids.iter().map(|i| PointId::Num(i.as_u64().unwrap())).collect());
    }
    if let Some(name) = v.get("has_vector") {
        return Condition::HasVector(name.as_str().unwrap().to_string());
    }
    if let Some(n) = v.get("nested") {
        return Condition::Nested {
            key: key(n["key"].as_str().unwrap()),
            filter: Box::new(filter(&n["filter"])),
        };
    }
    Condition::Filter(Box::new(filter(v)))
}

fn predicate(v: &Value) -> FieldPredicate {
    if let Some(m) = v.get("match") {
        let text = |name: &str| m.get(name).and_then(Value::as_str).map(str::to_string);
        let variants = |name: &str| {
            m.get(name)
                .map(|l| list(Some(l)).into_iter().map(variant).collect())
        };
        let m = if let Some(x) = m.get("value") {
            Match::Value(variant(x))
        } else if let Some(q) = text("text") {
            Match::Text(q)
        } else if let Some(q) = text("text_any") {
            Match::TextAny(q)
        } else if let Some(q) = text("phrase") {
            Match::Phrase(q)
        } else if let Some(l) = variants("any") {
            Match::Any(l)
        } else {
            Match::Except(variants("except").unwrap())
        };
        return FieldPredicate::Match(m);
    }
    if let Some(r) = v.get("range") {
        let is_datetime = r.as_object().unwrap().values().any(Value::is_string);
        let bound = |name: &str| {
            r.get(name).map(|b| match b {
                Value::String(s) => parse_datetime(s).unwrap() as f64,
                n => n.as_f64().unwrap(),
            })
        };
        let range = Range {
            lt: bound("lt"),
            gt: bound("gt"),
            gte: bound("gte"),
            lte: bound("lte"),
        };
        return if is_datetime {
            FieldPredicate::DatetimeRange(range)
        } else {
            FieldPredicate::Range(range)
        };
    }
    if let Some(r) = v.get("values_count") {
        let bound = |name: &str| r.get(name).and_then(Value::as_f64);
        return FieldPredicate::ValuesCount(Range {
            lt: bound("lt"),
            gt: bound("gt"),
            gte: bound("gte"),
            lte: bound("lte"),
        });
    }
    if let Some(b) = v.get("is_empty") {
        return FieldPredicate::IsEmpty(b.as_bool().unwrap());
    }
    if let Some(b) = v.get("is_null") {
        return FieldPredicate::IsNull(b.as_bool().unwrap());
    }
    if let Some(g) = v.get("geo_radius") {
        return FieldPredicate::GeoRadius(GeoRadius {
            center: geo(&g["center"]),
            radius: g["radius"].as_f64().unwrap(),
        });
    }
    if let Some(g) = v.get("geo_bounding_box") {
        return FieldPredicate::GeoBoundingBox(GeoBoundingBox {
            top_left: geo(&g["top_left"]),
            bottom_right: geo(&g["bottom_right"]),
        });
    }
    let g = &v["geo_polygon"];
    let ring = |r: &Value| {
        r["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(geo)
            .collect::<Vec<_>>()
    };
    FieldPredicate::GeoPolygon(GeoPolygon {
        exterior: ring(&g["exterior"]),
        interiors: list(g.get("interiors")).into_iter().map(ring).collect(),
    })
}

fn variant(v: &Value) -> ValueVariant {
    match v {
        Value::Bool(b) => ValueVariant::Bool(*b),
        Value::String(s) => ValueVariant::Keyword(s.clone()),
        n => ValueVariant::Integer(n.as_i64().unwrap()),
    }
}

fn geo(v: &Value) -> GeoPoint {
    GeoPoint {
        lon: v["lon"].as_f64().unwrap(),
        lat: v["lat"].as_f64().unwrap(),
    }
}

#[test]
fn verdicts_equal_the_reference() {
    let data: Value = serde_json::from_str(include_str!("testdata/reference_cases.json")).unwrap();
    let payloads = data["payloads"].as_array().unwrap();
    let vectors = data["vectors"].as_array().unwrap();
    let points: Vec<TestPoint> = payloads
        .iter()
        .zip(vectors)
        .enumerate()
        .map(|(i, (p, v))| TestPoint {
            id: PointId::Num(i as u64),
            payload: p.as_object().unwrap().clone(),
            vectors: v
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect(),
        })
        .collect();
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 100);
    let mut wrong = Vec::new();
    for case in cases {
        let f = filter(&case["filter"]);
        let expected = case["results"].as_str().unwrap().as_bytes();
        assert_eq!(expected.len(), points.len());
        for (p, want) in points.iter().zip(expected) {
            if check(&f, p) != (*want == b'1') {
                wrong.push(format!(
                    "filter {} on payload {:?}: want {}",
                    case["filter"], p.payload, *want as char
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} mismatches, first: {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}
