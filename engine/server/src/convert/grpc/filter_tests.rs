//! Every condition kind of the gRPC filter, converted, and the field-naming errors.

use std::collections::BTreeSet;

use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::condition::ConditionOneOf;
use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::r#match::MatchValue;
use quiver_types::{Condition, FieldPredicate, GeoPoint, JsonPath, Match, PointId, Range, ValueVariant};

use super::*;

fn cond(c: ConditionOneOf) -> pb::Condition {
    pb::Condition {
        condition_one_of: Some(c),
    }
}

fn field(key: &str, set: impl FnOnce(&mut pb::FieldCondition)) -> pb::Condition {
    let mut f = pb::FieldCondition {
        key: key.into(),
        ..Default::default()
    };
    set(&mut f);
    cond(ConditionOneOf::Field(f))
}

fn must(c: pb::Condition) -> pb::Filter {
    pb::Filter {
        must: vec![c],
        ..Default::default()
    }
}

/// The predicates of the one field condition of `must`.
fn predicates(c: pb::Condition) -> Vec<FieldPredicate> {
    let f = filter(&must(c), "filter").unwrap();
    match f.must.into_iter().next() {
        Some(Condition::Field(fc)) => fc.predicates,
        other => panic!("expected a field condition, got {other:?}"),
    }
}

fn one_match(m: MatchValue) -> Match {
    let p = predicates(field("k", |f| {
        f.r#match = Some(pb::Match { match_value: Some(m) })
    }));
    match p.as_slice() {
        [FieldPredicate::Match(m)] => m.clone(),
        other => panic!("expected one match, got {other:?}"),
    }
}

fn gp(lon: f64, lat: f64) -> pb::GeoPoint {
    pb::GeoPoint { lon, lat }
}

fn err(f: pb::Filter) -> String {
    filter(&f, "filter").unwrap_err().to_string()
}

#[test]
fn every_match_kind() {
    use ValueVariant::*;
    assert_eq!(
        one_match(MatchValue::Keyword("a".into())),
        Match::Value(Keyword("a".into()))
    );
    assert_eq!(one_match(MatchValue::Integer(-4)), Match::Value(Integer(-4)));
    assert_eq!(one_match(MatchValue::Boolean(true)), Match::Value(Bool(true)));
    assert_eq!(
        one_match(MatchValue::Text("t x".into())),
        Match::Text("t x".into())
    );
    assert_eq!(
        one_match(MatchValue::Phrase("p q".into())),
        Match::Phrase("p q".into())
    );
    assert_eq!(
        one_match(MatchValue::TextAny("a b".into())),
        Match::TextAny("a b".into())
    );
    let strings = pb::RepeatedStrings {
        strings: vec!["x".into(), "y".into()],
    };
    let ints = pb::RepeatedIntegers { integers: vec![1, 2] };
    let kw = vec![Keyword("x".into()), Keyword("y".into())];
    let int = vec![Integer(1), Integer(2)];
    assert_eq!(
        one_match(MatchValue::Keywords(strings.clone())),
        Match::Any(kw.clone())
    );
    assert_eq!(
        one_match(MatchValue::Integers(ints.clone())),
        Match::Any(int.clone())
    );
    assert_eq!(one_match(MatchValue::ExceptKeywords(strings)), Match::Except(kw));
    assert_eq!(one_match(MatchValue::ExceptIntegers(ints)), Match::Except(int));
}

#[test]
fn ranges_values_count_and_flags() {
    let p = predicates(field("n", |f| {
        f.range = Some(pb::Range {
            gt: Some(1.5),
            lte: Some(3.0),
            ..Default::default()
        });
        f.values_count = Some(pb::ValuesCount {
            gte: Some(2),
            ..Default::default()
        });
        f.is_empty = Some(false);
        f.is_null = Some(true);
    }));
    assert_eq!(
        p,
        vec![
            FieldPredicate::Range(Range {
                gt: Some(1.5),
                lte: Some(3.0),
                ..Default::default()
            }),
            FieldPredicate::ValuesCount(Range {
                gte: Some(2.0),
                ..Default::default()
            }),
            FieldPredicate::IsEmpty(false),
            FieldPredicate::IsNull(true),
        ]
    );
}

#[test]
fn datetime_range_is_in_microseconds() {
    let p = predicates(field("d", |f| {
        f.datetime_range = Some(pb::DatetimeRange {
            gte: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_789,
            }),
            lt: Some(prost_types::Timestamp {
                seconds: -1,
                nanos: 500_000_000,
            }),
            ..Default::default()
        })
    }));
    assert_eq!(
        p,
        vec![FieldPredicate::DatetimeRange(Range {
            gte: Some(1_700_000_000_123_456.0),
            lt: Some(-500_000.0),
            ..Default::default()
        })]
    );
}

#[test]
fn geo_conditions() {
    let ring = pb::GeoLineString {
        points: vec![gp(0.0, 0.0), gp(1.0, 0.0), gp(1.0, 1.0), gp(0.0, 0.0)],
    };
    let p = predicates(field("loc", |f| {
        f.geo_bounding_box = Some(pb::GeoBoundingBox {
            top_left: Some(gp(-1.0, 2.0)),
            bottom_right: Some(gp(2.0, -1.0)),
        });
        f.geo_radius = Some(pb::GeoRadius {
            center: Some(gp(13.4, 52.5)),
            radius: 1000.0,
        });
        f.geo_polygon = Some(pb::GeoPolygon {
            exterior: Some(ring.clone()),
            interiors: vec![ring],
        });
    }));
    let pt = |lon, lat| GeoPoint { lon, lat };
    match p.as_slice() {
        [FieldPredicate::GeoBoundingBox(b), FieldPredicate::GeoRadius(r), FieldPredicate::GeoPolygon(poly)] =>
        {
            assert_eq!((b.top_left, b.bottom_right), (pt(-1.0, 2.0), pt(2.0, -1.0)));
            assert_eq!((r.center, r.radius), (pt(13.4, 52.5), 1000.0));
            assert_eq!(poly.exterior.len(), 4);
            assert_eq!(poly.interiors.len(), 1);
        }
        other => panic!("unexpected {other:?}"),
    }
    let open = field("loc", |f| {
        f.geo_polygon = Some(pb::GeoPolygon {
            exterior: Some(pb::GeoLineString {
                points: vec![gp(0.0, 0.0), gp(1.0, 0.0), gp(1.0, 1.0), gp(0.5, 0.5)],
            }),
            interiors: vec![],
        })
    });
    assert!(err(must(open)).contains("filter.must[0].field.geo_polygon.exterior.points"));
    let bad_lat = field("loc", |f| {
        f.geo_radius = Some(pb::GeoRadius {
            center: Some(gp(0.0, 91.0)),
            radius: 1.0,
        })
    });
    assert!(err(must(bad_lat)).contains("geo_radius.center.lat"));
    let no_corner = field("loc", |f| {
        f.geo_bounding_box = Some(pb::GeoBoundingBox {
            top_left: Some(gp(0.0, 0.0)),
            bottom_right: None,
        })
    });
    assert!(err(must(no_corner)).contains("geo_bounding_box.bottom_right"));
}

#[test]
fn other_conditions_and_nesting() {
    let id = |n| pb::PointId {
        point_id_options: Some(PointIdOptions::Num(n)),
    };
    let inner = pb::Filter {
        should: vec![cond(ConditionOneOf::IsNull(pb::IsNullCondition {
            key: "z".into(),
        }))],
        ..Default::default()
    };
    let f = pb::Filter {
        must: vec![
            cond(ConditionOneOf::IsEmpty(pb::IsEmptyCondition {
                key: "a.b".into(),
            })),
            cond(ConditionOneOf::HasId(pb::HasIdCondition {
                has_id: vec![id(3), id(1)],
            })),
            cond(ConditionOneOf::HasVector(pb::HasVectorCondition {
                has_vector: "img".into(),
            })),
        ],
        should: vec![cond(ConditionOneOf::Nested(pb::NestedCondition {
            key: "items[]".into(),
            filter: Some(inner.clone()),
        }))],
        must_not: vec![cond(ConditionOneOf::Filter(inner))],
        min_should: Some(pb::MinShould {
            conditions: vec![field("x", |f| f.is_empty = Some(true))],
            min_count: 1,
        }),
    };
    let got = filter(&f, "filter").unwrap();
    let path = |s: &str| JsonPath::parse(s).unwrap();
    assert_eq!(got.must[0], Condition::IsEmpty(path("a.b")));
    assert_eq!(
        got.must[1],
        Condition::HasId(BTreeSet::from([PointId::Num(1), PointId::Num(3)]))
    );
    assert_eq!(got.must[2], Condition::HasVector("img".into()));
    let inner_tree = quiver_types::Filter {
        should: vec![Condition::IsNull(path("z"))],
        ..Default::default()
    };
    assert_eq!(
        got.should[0],
        Condition::Nested {
            key: path("items[]"),
            filter: Box::new(inner_tree.clone())
        }
    );
    assert_eq!(got.must_not[0], Condition::Filter(Box::new(inner_tree)));
    let ms = got.min_should.unwrap();
    assert_eq!(ms.min_count, 1);
    assert_eq!(ms.conditions.len(), 1);
}

#[test]
fn errors_name_the_field() {
    // A bad key deep inside a nested filter.
    let deep = pb::Filter {
        must_not: vec![
            field("ok", |f| f.is_null = Some(true)),
            cond(ConditionOneOf::Nested(pb::NestedCondition {
                key: "n".into(),
                filter: Some(must(field("a..b", |f| f.is_empty = Some(true)))),
            })),
        ],
        ..Default::default()
    };
    let e = err(deep);
    assert!(
        e.contains("filter.must_not[1].nested.filter.must[0].field.key"),
        "{e}"
    );
    // A field condition without any predicate.
    assert!(err(must(field("k", |_| {}))).contains("filter.must[0].field"));
    // An empty condition, an empty match, a nested condition without a filter.
    assert!(err(must(pb::Condition::default())).contains("filter.must[0]"));
    let empty_match = field("k", |f| f.r#match = Some(pb::Match::default()));
    assert!(err(must(empty_match)).contains("filter.must[0].field.match"));
    let nested = cond(ConditionOneOf::Nested(pb::NestedCondition {
        key: "n".into(),
        filter: None,
    }));
    assert!(err(must(nested)).contains("filter.must[0].nested.filter"));
    let prefix = field("k", |f| {
        f.r#match = Some(pb::Match {
            match_value: Some(MatchValue::Prefix("ab".into())),
        })
    });
    assert!(err(must(prefix)).contains("not supported"));
    let bad_ts = field("d", |f| {
        f.datetime_range = Some(pb::DatetimeRange {
            gt: Some(prost_types::Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            }),
            ..Default::default()
        })
    });
    assert!(err(must(bad_ts)).contains("datetime_range.gt"));
}
