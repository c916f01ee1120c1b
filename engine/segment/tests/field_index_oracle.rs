//! Property: a search answered through payload field indexes (an exact scan of their candidates)
//! returns exactly the points a brute-force filter check selects, for every indexed field type
//! (keyword, uuid, numbers, bool, datetime, text, geo, a path through an array of objects) and
//! filters of every shape (must, should, must_not, nested, min_should), before and after payload edits
//! of the indexed segment; a filtered graph traversal over the candidates (the full graph, or a
//! value graph of the filtered field, on original or int8 vectors) returns only matching points,
//! and most of them.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use proptest::prelude::*;
use quiver_segment::{FieldKind, IndexSettings, Int8Params, Segment, SegmentConfig, VectorSpec};
use quiver_types::{
    Condition, Distance, FieldCondition, FieldPredicate, Filter, GeoBoundingBox, GeoPoint, GeoPolygon,
    GeoRadius, JsonPath, Match, PointId, Range, SearchParams, SearchRequest, ValueVariant, VectorData,
    WithPayload, WithVector,
};
use serde_json::{json, Value};

fn payload_strategy() -> impl Strategy<Value = Value> {
    let kw = prop_oneof![
        Just(json!("a")),
        Just(json!("b")),
        Just(json!(["a", "c"])),
        Just(json!(null)),
        Just(json!(3))
    ];
    let num = prop_oneof![
        (0i64..10).prop_map(|i| json!(i)),
        (0.0f64..10.0).prop_map(|x| json!(x)),
        Just(json!("7"))
    ];
    let flag = prop_oneof![Just(json!(true)), Just(json!(false)), Just(json!([true, false]))];
    let when = prop_oneof![
        (0u32..28).prop_map(|d| json!(format!("2024-02-{:02}T10:00:00Z", d + 1))),
        Just(json!("2024-02-05 08:30:00")),
        Just(json!("2024-02-05T12:00:00+02:00")),
        Just(json!(["2024-01-01", "2024-03-01T00:00:00Z"])),
        Just(json!("not a date")),
        Just(json!(5))
    ];
    let text = prop_oneof![
        Just(json!("The quick brown fox")),
        Just(json!("quick-fox: jumps!")),
        Just(json!("brown dog")),
        Just(json!(["fox", "Lazy DOG"])),
        Just(json!("")),
        Just(json!(7))
    ];
    // Around the antimeridian, near a pole, out of range, several points, not a point.
    let place = prop_oneof![
        (-60.0f64..60.0, -180.0f64..180.0).prop_map(|(lat, lon)| json!({"lat": lat, "lon": lon})),
        (-1.0f64..1.0, 179.0f64..180.0).prop_map(|(lat, lon)| json!({"lat": lat, "lon": lon})),
        (-1.0f64..1.0, -180.0f64..-179.0).prop_map(|(lat, lon)| json!({"lat": lat, "lon": lon})),
        (88.0f64..90.0, -180.0f64..180.0).prop_map(|(lat, lon)| json!({"lat": lat, "lon": lon})),
        Just(json!({"lat": 95.0, "lon": 10.0})),
        Just(json!([{"lat": 0.5, "lon": 179.5}, {"lat": 10, "lon": 10}])),
        Just(json!({"lat": "1", "lon": 2})),
        Just(json!(3))
    ];
    let uuid = prop_oneof![
        Just(json!("550e8400-e29b-41d4-a716-446655440000")),
        Just(json!("6ba7b810-9dad-11d1-80b4-00c04fd430c8")),
        Just(json!([
            "550e8400-e29b-41d4-a716-446655440000",
            "00000000-0000-0000-0000-000000000001"
        ])),
        Just(json!("not-a-uuid"))
    ];
    // An array of objects, indexed through `o[].k`.
    let objects = prop::collection::vec(
        prop_oneof![
            Just(json!({"k": "a"})),
            Just(json!({"k": "b"})),
            Just(json!({"j": "a"}))
        ],
        0..3,
    )
    .prop_map(Value::from);
    ((kw, num, flag, when, text, place), (uuid, objects)).prop_map(|((k, n, b, d, t, g), (u, o))| {
        json!({"k": k, "n": n, "b": b, "d": d, "t": t, "g": g, "u": u, "o": o})
    })
}

fn predicate_strategy() -> impl Strategy<Value = (String, FieldPredicate)> {
    prop_oneof![
        prop_oneof![Just("a"), Just("b"), Just("c"), Just("z")].prop_map(|s| (
            "k".to_string(),
            FieldPredicate::Match(Match::Value(ValueVariant::Keyword(s.into())))
        )),
        Just((
            "k".to_string(),
            FieldPredicate::Match(Match::Any(vec![
                ValueVariant::Keyword("b".into()),
                ValueVariant::Keyword("c".into())
            ]))
        )),
        (0i64..10).prop_map(|i| (
            "n".to_string(),
            FieldPredicate::Match(Match::Value(ValueVariant::Integer(i)))
        )),
        (0.0f64..10.0, 0.0f64..6.0).prop_map(|(lo, w)| (
            "n".to_string(),
            FieldPredicate::Range(Range {
                gte: Some(lo),
                lt: Some(lo + w),
                ..Range::default()
            })
        )),
        any::<bool>().prop_map(|b| (
            "b".to_string(),
            FieldPredicate::Match(Match::Value(ValueVariant::Bool(b)))
        )),
        // Microseconds: February 2024 is 1_706_745_600_000_000 onwards.
        (0i64..30, 0i64..10).prop_map(|(day, w)| {
            let base = 1_706_745_600_000_000i64 + day * 86_400_000_000;
            (
                "d".to_string(),
                FieldPredicate::DatetimeRange(Range {
                    gte: Some(base as f64),
                    lt: Some((base + w * 86_400_000_000) as f64),
                    ..Range::default()
                }),
            )
        }),
        prop_oneof![
            Just("fox"),
            Just("quick fox"),
            Just("brown"),
            Just("dog lazy"),
            Just("!!"),
            Just("cat")
        ]
        .prop_flat_map(|q| prop_oneof![
            Just(("t".to_string(), FieldPredicate::Match(Match::Text(q.into())))),
            Just(("t".to_string(), FieldPredicate::Match(Match::TextAny(q.into())))),
            Just(("t".to_string(), FieldPredicate::Match(Match::Phrase(q.into())))),
        ]),
        geo_predicate_strategy().prop_map(|p| ("g".to_string(), p)),
        prop_oneof![
            Just("550e8400-e29b-41d4-a716-446655440000"),
            Just("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
        ]
        .prop_map(|u| (
            "u".to_string(),
            FieldPredicate::Match(Match::Value(ValueVariant::Keyword(u.into())))
        )),
        prop_oneof![Just("a"), Just("b")].prop_map(|k| (
            "o[].k".to_string(),
            FieldPredicate::Match(Match::Value(ValueVariant::Keyword(k.into())))
        )),
        Just((
            "n".to_string(),
            FieldPredicate::Match(Match::Any(vec![
                ValueVariant::Integer(2),
                ValueVariant::Integer(7)
            ]))
        )),
        Just((
            "k".to_string(),
            FieldPredicate::Match(Match::Except(vec![ValueVariant::Keyword("a".into())]))
        )),
        (0.0f64..3.0).prop_map(|lo| (
            "o".to_string(),
            FieldPredicate::ValuesCount(Range {
                gte: Some(lo),
                ..Range::default()
            })
        )),
        any::<bool>().prop_map(|e| ("k".to_string(), FieldPredicate::IsEmpty(e))),
    ]
}

/// How the predicates are joined: all `must`; one `should`; the first a `must` and the others
/// `must_not`; a nested filter of `should`; at least two of them (`min_should`).
fn shaped(shape: u8, conditions: Vec<Condition>) -> Filter {
    let mut it = conditions.clone().into_iter();
    match shape {
        0 => Filter {
            must: conditions,
            ..Filter::default()
        },
        1 => Filter {
            should: conditions,
            ..Filter::default()
        },
        2 => Filter {
            must: it.next().into_iter().collect(),
            must_not: it.collect(),
            ..Filter::default()
        },
        3 => Filter {
            must: vec![Condition::Filter(Box::new(Filter {
                should: conditions,
                ..Filter::default()
            }))],
            ..Filter::default()
        },
        _ => Filter {
            min_should: Some(quiver_types::MinShould {
                conditions,
                min_count: 2,
            }),
            ..Filter::default()
        },
    }
}

fn geo_predicate_strategy() -> impl Strategy<Value = FieldPredicate> {
    let point = |lat: f64, lon: f64| GeoPoint { lat, lon };
    prop_oneof![
        (-60.0f64..60.0, -180.0f64..180.0, 1.0f64..8_000_000.0).prop_map(move |(lat, lon, r)| {
            FieldPredicate::GeoRadius(GeoRadius {
                center: point(lat, lon),
                radius: r,
            })
        }),
        (-1.0f64..1.0, 179.0f64..180.0, 1.0f64..300_000.0).prop_map(move |(lat, lon, r)| {
            FieldPredicate::GeoRadius(GeoRadius {
                center: point(lat, lon),
                radius: r,
            })
        }),
        (89.0f64..90.0, -180.0f64..180.0, 1.0f64..500_000.0).prop_map(move |(lat, lon, r)| {
            FieldPredicate::GeoRadius(GeoRadius {
                center: point(lat, lon),
                radius: r,
            })
        }),
        (-60.0f64..60.0, -180.0f64..180.0, 0.0f64..40.0, 0.0f64..90.0).prop_map(move |(s, w, h, wd)| {
            // Wider than 360 - w wraps across the antimeridian.
            let e = w + wd;
            let e = if e > 180.0 { e - 360.0 } else { e };
            FieldPredicate::GeoBoundingBox(GeoBoundingBox {
                top_left: point(s + h, w),
                bottom_right: point(s, e),
            })
        }),
        (-60.0f64..60.0, -180.0f64..150.0, 1.0f64..30.0).prop_map(move |(lat, lon, d)| {
            FieldPredicate::GeoPolygon(GeoPolygon {
                exterior: vec![
                    point(lat, lon),
                    point(lat + d, lon + d / 2.0),
                    point(lat, lon + d),
                ],
                interiors: vec![],
            })
        }),
    ]
}

fn search_ids(seg: &Segment, filter: &Filter) -> BTreeSet<PointId> {
    let req = SearchRequest {
        vector_name: String::new(),
        query: VectorData::Dense(vec![1.0, 0.5, 0.25, 0.0]),
        filter: Some(filter.clone()),
        limit: 10_000,
        offset: 0,
        score_threshold: None,
        with_payload: WithPayload::None,
        with_vector: WithVector::None,
        params: SearchParams {
            hnsw_ef: Some(10_000),
            ..SearchParams::default()
        },
    };
    seg.search(&req).unwrap().into_iter().map(|p| p.id).collect()
}

/// The exact plan (candidates from the field indexes) must equal the oracle; a graph traversal is
/// approximate (HNSW does not promise every node is reachable), so it must return only matching
/// points, and most of them.
fn check(
    seg: &Segment,
    filter: &Filter,
    oracle: &BTreeSet<PointId>,
    graph: bool,
) -> Result<(), TestCaseError> {
    let got = search_ids(seg, filter);
    if graph {
        prop_assert!(
            got.is_subset(oracle),
            "graph returned a point that does not match"
        );
        prop_assert!(
            got.len() * 10 >= oracle.len() * 8,
            "graph found {} of {} ({got:?} of {oracle:?})",
            got.len(),
            oracle.len()
        );
    } else {
        prop_assert_eq!(&got, oracle);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn indexed_filters_equal_brute_force(
        payloads in prop::collection::vec(payload_strategy(), 1..120),
        preds in prop::collection::vec(predicate_strategy(), 1..4),
        shape in 0u8..5,
        edits in prop::collection::vec((0usize..120, payload_strategy()), 0..20),
        full_scan_kb in prop_oneof![Just(0usize), Just(1_000_000usize)],
        payload_m in prop_oneof![Just(0usize), Just(6usize)],
        quantize in any::<bool>(),
    ) {
        let mut config = SegmentConfig::default();
        config.vectors.insert(String::new(), VectorSpec::Dense { size: 4, distance: Distance::Cosine });
        let mut seg = Segment::new(config);
        for (i, p) in payloads.iter().enumerate() {
            let v = vec![(i % 7) as f32, (i % 3) as f32, 1.0, (i % 5) as f32];
            seg.upsert(PointId::Num(i as u64), 1, &[(String::new(), VectorData::Dense(v))].into(), p.as_object().unwrap().clone());
        }
        let path = |s: &str| JsonPath::parse(s).unwrap();
        let declared = vec![
            (path("k"), FieldKind::Keyword),
            (path("n"), FieldKind::Numeric),
            (path("b"), FieldKind::Bool),
            (path("d"), FieldKind::Datetime),
            (path("t"), FieldKind::Text),
            (path("g"), FieldKind::Geo),
            (path("u"), FieldKind::Keyword),
            (path("o[].k"), FieldKind::Keyword),
        ];
        // A low full-scan threshold sends filters to the graph; a high one to the exact scan.
        // payload_m > 0 builds value graphs (every value is a group at threshold 0), so covered
        // filters walk them; edits that add a value to a group must make it fall back.
        let settings = IndexSettings { m: 8, ef_construct: 32, full_scan_threshold_kb: full_scan_kb, max_indexing_threads: 1, payload_m };
        let quantization = if quantize {
            [(String::new(), Int8Params::default())].into()
        } else {
            Default::default()
        };
        let index = seg.build_index(settings, &declared, &quantization);
        prop_assert_eq!(index.value_graphs.is_empty(), payload_m == 0 || full_scan_kb > 0);
        seg.set_index(index);
        let conditions = preds.iter().map(|(k, p)| Condition::Field(FieldCondition { key: path(k), predicates: vec![p.clone()] })).collect();
        let filter = shaped(shape, conditions);
        let oracle: BTreeSet<PointId> = seg.matching_ids(Some(&filter)).into_iter().collect();
        check(&seg, &filter, &oracle, full_scan_kb == 0)?;
        // The planner's bounds from the indexes hold the true count.
        let (card, _) = seg.cardinality(&filter);
        prop_assert!(card.min <= oracle.len() && oracle.len() <= card.max, "{card:?} against {}", oracle.len());
        for (i, p) in &edits {
            let new = p.as_object().unwrap().clone();
            seg.edit_payload(&PointId::Num(*i as u64), 2, |old| *old = new);
        }
        let oracle: BTreeSet<PointId> = seg.matching_ids(Some(&filter)).into_iter().collect();
        check(&seg, &filter, &oracle, full_scan_kb == 0)?;
        let (card, _) = seg.cardinality(&filter);
        prop_assert!(card.min <= oracle.len() && oracle.len() <= card.max, "after edits: {card:?} against {}", oracle.len());
    }
}
