//! Value graphs (filterable HNSW): a filter selecting whole value groups is planned onto the value
//! graph and finds what brute force finds; an edit that adds a point to a group makes the planner
//! fall back to the full graph (the group no longer holds every match); value graphs survive a
//! save and load; int8 traversal with rescoring returns exact scores.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use quiver_segment::{FieldKind, IndexSettings, Int8Params, Plan, Segment, SegmentConfig, VectorSpec};
use quiver_types::{
    Condition, Distance, FieldCondition, FieldPredicate, Filter, JsonPath, Match, PointId, Range,
    SearchParams, SearchRequest, ValueVariant, VectorData, WithPayload, WithVector,
};
use serde_json::json;

const N: usize = 1200;
const DIM: usize = 16;

fn vector(i: usize) -> Vec<f32> {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..DIM)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn segment() -> Segment {
    segment_with_m(8)
}

/// The test segment with `m` links per node in the main graph (0: none, value graphs only).
fn segment_with_m(m: usize) -> Segment {
    let mut config = SegmentConfig::default();
    config.vectors.insert(
        String::new(),
        VectorSpec::Dense {
            size: DIM,
            distance: Distance::Cosine,
        },
    );
    let mut seg = Segment::new(config);
    for i in 0..N {
        // year 2020..2025 in runs, tenant by i % 3: every value has hundreds of points.
        // `score` is distinct per point: no value group, only range graphs.
        let payload = json!({"year": 2020 + (i * 6 / N) as i64, "tenant": format!("t{}", i % 3),
                             "score": i as f64 / 10.0});
        seg.upsert(
            PointId::Num(i as u64),
            1,
            &[(String::new(), VectorData::Dense(vector(i)))].into(),
            payload.as_object().unwrap().clone(),
        );
    }
    let declared = vec![
        (JsonPath::parse("year").unwrap(), FieldKind::Numeric),
        (JsonPath::parse("tenant").unwrap(), FieldKind::Keyword),
        (JsonPath::parse("score").unwrap(), FieldKind::Numeric),
    ];
    // 1 KB of 16-d vectors is 16 points: every value gets a group.
    let settings = IndexSettings {
        m,
        ef_construct: 64,
        full_scan_threshold_kb: 1,
        max_indexing_threads: 2,
        payload_m: 8,
    };
    let quantization = [(String::new(), Int8Params::default())].into();
    let index = seg.build_index(settings, &declared, &quantization);
    seg.set_index(index);
    seg
}

fn request(filter: Filter, query: usize, quantization_ignore: bool) -> SearchRequest {
    SearchRequest {
        vector_name: String::new(),
        query: VectorData::Dense(vector(query)),
        filter: Some(filter),
        limit: 10,
        offset: 0,
        score_threshold: None,
        with_payload: WithPayload::None,
        with_vector: WithVector::None,
        params: SearchParams {
            hnsw_ef: Some(200),
            quantization: quiver_types::QuantizationParams {
                ignore: quantization_ignore,
                ..Default::default()
            },
            ..SearchParams::default()
        },
    }
}

fn field(key: &str, p: FieldPredicate) -> Filter {
    Filter {
        must: vec![Condition::Field(FieldCondition {
            key: JsonPath::parse(key).unwrap(),
            predicates: vec![p],
        })],
        ..Filter::default()
    }
}

fn years_from(y: f64) -> Filter {
    field(
        "year",
        FieldPredicate::Range(Range {
            gte: Some(y),
            ..Range::default()
        }),
    )
}

/// The exact top 10 by brute force (the `exact` param).
fn truth(seg: &Segment, req: &SearchRequest) -> Vec<(PointId, f32)> {
    let mut exact = req.clone();
    exact.params.exact = true;
    seg.search(&exact)
        .unwrap()
        .into_iter()
        .map(|p| (p.id, p.score))
        .collect()
}

fn plan(seg: &Segment, req: &SearchRequest) -> Plan {
    seg.plan(req, seg.dense_storage("").unwrap())
}

/// Recall of the graph answer against brute force over several queries; every returned point
/// must match and carry its exact score.
fn recall(seg: &Segment, filter: &Filter, ignore: bool) -> f64 {
    let (mut hit, mut total) = (0, 0);
    for q in (0..N).step_by(37) {
        let req = request(filter.clone(), q + 5000, ignore);
        let want = truth(seg, &req);
        let got = seg.search(&req).unwrap();
        let matching: BTreeSet<PointId> = seg.matching_ids(Some(filter)).into_iter().collect();
        for p in &got {
            assert!(matching.contains(&p.id), "{:?} does not match", p.id);
            if let Some((_, s)) = want.iter().find(|(id, _)| *id == p.id) {
                assert!(
                    (s - p.score).abs() < 1e-5,
                    "rescored score {} vs exact {s}",
                    p.score
                );
            }
        }
        hit += got
            .iter()
            .filter(|p| want.iter().any(|(id, _)| *id == p.id))
            .count();
        total += want.len();
    }
    hit as f64 / total as f64
}

#[test]
fn whole_groups_walk_the_value_graph() {
    let seg = segment();
    let ix = seg.index().unwrap();
    let per_field = |f: &str| {
        ix.value_graphs
            .iter()
            .filter(|v| v.field == JsonPath::parse(f).unwrap())
            .map(|v| v.groups.len())
            .collect::<Vec<_>>()
    };
    // The year's six values, then its range levels of 2 and 4 spans; the tenant's three values;
    // the score's spans only (no value holds 4 points).
    assert_eq!(per_field("year"), vec![6, 2, 4]);
    assert_eq!(per_field("tenant"), vec![3]);
    assert_eq!(per_field("score"), vec![2, 4]);
    let range = years_from(2023.0);
    assert_eq!(plan(&seg, &request(range.clone(), 0, false)), Plan::ValueGraph);
    let tenant = field(
        "tenant",
        FieldPredicate::Match(Match::Value(ValueVariant::Keyword("t1".into()))),
    );
    assert_eq!(plan(&seg, &request(tenant.clone(), 0, false)), Plan::ValueGraph);
    // A range over values without groups, or a condition on an unindexed field, is not covered.
    let other = field(
        "other",
        FieldPredicate::Match(Match::Value(ValueVariant::Bool(true))),
    );
    let unindexed = Filter {
        must: [other.must.clone(), tenant.must.clone()].concat(),
        ..Filter::default()
    };
    // The tenant condition still covers (the other one is checked on each candidate).
    assert_eq!(plan(&seg, &request(unindexed, 0, false)), Plan::ValueGraph);
    // A value without a group (no point has 1999) leaves the filter to the full graph.
    let with_missing = field(
        "year",
        FieldPredicate::Match(Match::Any(vec![
            ValueVariant::Integer(2020),
            ValueVariant::Integer(1999),
        ])),
    );
    assert_eq!(
        plan(&seg, &request(with_missing, 0, false)),
        Plan::Graph { filtered: true }
    );
    for ignore in [false, true] {
        let r = recall(&seg, &range, ignore);
        assert!(r >= 0.95, "range recall {r} (quantization ignored: {ignore})");
        let r = recall(&seg, &tenant, ignore);
        assert!(r >= 0.95, "tenant recall {r} (quantization ignored: {ignore})");
    }
}

/// Qdrant's multitenant setup, `m: 0` with `payload_m`: no main graph; a filter covered by value
/// groups walks them (bridgeless, so a single group is what it serves well), anything else is
/// scanned exactly.
#[test]
fn without_a_main_graph_only_covered_filters_use_a_graph() {
    let seg = segment_with_m(0);
    assert_eq!(seg.indexed_vectors(), 0, "no main graph");
    let unfiltered = Filter::default();
    assert_eq!(plan(&seg, &request(unfiltered.clone(), 0, false)), Plan::Exact);
    assert!((recall(&seg, &unfiltered, false) - 1.0).abs() < 1e-9);
    let tenant = field(
        "tenant",
        FieldPredicate::Match(Match::Value(ValueVariant::Keyword("t2".into()))),
    );
    assert_eq!(plan(&seg, &request(tenant.clone(), 0, false)), Plan::ValueGraph);
    let r = recall(&seg, &tenant, true);
    assert!(r >= 0.95, "tenant recall {r} on the value graph alone");
    let uncovered = field(
        "year",
        FieldPredicate::Match(Match::Any(vec![
            ValueVariant::Integer(2020),
            ValueVariant::Integer(1999),
        ])),
    );
    assert_eq!(plan(&seg, &request(uncovered.clone(), 0, false)), Plan::Exact);
    assert!((recall(&seg, &uncovered, false) - 1.0).abs() < 1e-9);
}

#[test]
fn a_point_joining_a_group_turns_the_value_graph_off_for_it() {
    let mut seg = segment();
    let range = years_from(2025.0);
    assert_eq!(plan(&seg, &request(range.clone(), 0, false)), Plan::ValueGraph);
    // Point 0 (year 2020) moves to 2025: the 2025 group misses it, so no range that includes
    // 2025 is covered any more; one that stops before 2025 still is.
    assert!(seg.edit_payload(&PointId::Num(0), 2, |p| {
        p.insert("year".into(), json!(2025));
    }));
    assert_eq!(
        plan(&seg, &request(range.clone(), 0, false)),
        Plan::Graph { filtered: true }
    );
    // Most points are from 2021 on: the traversal ignores the filter, which checks its results.
    assert_eq!(
        plan(&seg, &request(years_from(2021.0), 0, false)),
        Plan::GraphPostCheck
    );
    let mid = field(
        "year",
        FieldPredicate::Range(Range {
            gte: Some(2021.0),
            lt: Some(2025.0),
            ..Range::default()
        }),
    );
    assert_eq!(plan(&seg, &request(mid.clone(), 0, false)), Plan::ValueGraph);
    // The moved point is found by the fallback.
    let mut req = request(range, 0, false);
    req.query = VectorData::Dense(vector(0));
    let got = seg.search(&req).unwrap();
    assert_eq!(got.first().map(|p| p.id), Some(PointId::Num(0)));
    let r = recall(&seg, &mid, false);
    assert!(r >= 0.95, "recall {r}");
}

#[test]
fn value_graphs_survive_save_and_load() {
    let seg = segment();
    let bytes = seg.to_bytes().unwrap();
    // Every graph (main and value graphs) starts at an 8-byte aligned offset, so its u32
    // arrays could be read in place from a mapped file.
    let starts: Vec<usize> = bytes
        .windows(8)
        .enumerate()
        .filter(|(_, w)| w == b"QVRHNSW1")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(starts.len(), 1 + seg.index().unwrap().value_graphs.len());
    assert!(starts.iter().all(|o| o % 8 == 0), "{starts:?}");
    let back = Segment::from_bytes(&bytes, Path::new("mem")).unwrap();
    let (a, b) = (seg.index().unwrap(), back.index().unwrap());
    assert_eq!(a.value_graphs.len(), b.value_graphs.len());
    for (x, y) in a.value_graphs.iter().zip(&b.value_graphs) {
        assert_eq!((&x.vector, &x.field, &x.groups), (&y.vector, &y.field, &y.groups));
        assert_eq!(x.graph, y.graph);
    }
    // Codes are derived, not stored: the loaded segment traverses on originals until the
    // optimizer requantizes it, with the same plan.
    assert!(b.codes.is_empty());
    let range = years_from(2023.0);
    assert_eq!(plan(&back, &request(range.clone(), 0, false)), Plan::ValueGraph);
    assert!(recall(&back, &range, false) >= 0.95);
}

fn score_between(lo: f64, hi: f64) -> Filter {
    field(
        "score",
        FieldPredicate::Range(Range {
            gte: Some(lo),
            lt: Some(hi),
            ..Range::default()
        }),
    )
}

/// Range graphs: a range that is exactly a span walks that span's graph with no filter check; a
/// range inside one span, matching at least half of it, walks the span with the filter checked;
/// a range matching too little of any span is left to the main graph.
#[test]
fn ranges_walk_the_span_that_covers_them() {
    let seg = segment();
    let cover = |f: &Filter| seg.value_graph_cover(&request(f.clone(), 0, false));
    // Scores are i / 10 for i in 0..1200, so the four spans of the deeper level hold 300 each:
    // 0..30 is the first, exactly.
    let exact = score_between(0.0, 30.0);
    let c = cover(&exact).expect("an exact span cover");
    assert!(c.exact, "{c:?}");
    assert_eq!((c.points, c.groups.len()), (300, 1));
    // 0..20 is 200 of that span's 300.
    let inside = score_between(0.0, 20.0);
    let c = cover(&inside).expect("a containing cover");
    assert!(!c.exact, "{c:?}");
    assert_eq!(c.points, 200);
    // 0..10 is a third of the smallest span holding it: not worth a walk among the rest.
    assert!(cover(&score_between(0.0, 10.0)).is_none());
    // The upper half is one span of the first level: one exact cover of 600 points.
    let half = score_between(60.0, 200.0);
    let c = cover(&half).expect("an exact cover");
    assert!(c.exact, "{c:?}");
    assert_eq!((c.points, c.groups.len()), (600, 1));
    for f in [&exact, &inside, &half] {
        assert_eq!(plan(&seg, &request(f.clone(), 0, false)), Plan::ValueGraph);
        for ignore in [false, true] {
            let r = recall(&seg, f, ignore);
            assert!(r >= 0.95, "recall {r} for {f:?} (quantization ignored: {ignore})");
        }
    }
}

/// A point moved into a span marks it grown: the span no longer covers, and the range falls back
/// to a graph that finds the point; a point moved within its span keeps the span usable.
#[test]
fn a_point_entering_a_span_turns_it_off() {
    let mut seg = segment();
    let first = score_between(0.0, 30.0);
    let cover = |seg: &Segment, f: &Filter| seg.value_graph_cover(&request(f.clone(), 0, false));
    assert!(cover(&seg, &first).is_some_and(|c| c.exact));
    // Point 3 moves within the first span (0.3 -> 1.0): still covered.
    assert!(seg.edit_payload(&PointId::Num(3), 2, |p| {
        p.insert("score".into(), json!(1.0));
    }));
    assert!(cover(&seg, &first).is_some_and(|c| c.exact && c.points == 300));
    // Point 1199 (119.9) moves into it: the span misses that point.
    assert!(seg.edit_payload(&PointId::Num(1199), 2, |p| {
        p.insert("score".into(), json!(2.0));
    }));
    // Every span holding 0..30 (one per level) missed it: no cover.
    assert_eq!(cover(&seg, &first), None);
    let mut req = request(first.clone(), 0, false);
    req.query = VectorData::Dense(vector(1199));
    let got = seg.search(&req).unwrap();
    assert_eq!(got.first().map(|p| p.id), Some(PointId::Num(1199)));
    assert!(recall(&seg, &first, false) >= 0.95);
}

/// A filter most points pass is checked on the results of an unfiltered traversal, and the
/// estimate it was chosen by comes back from `explain`; when the query's neighbourhood fails the
/// filter, too few results pass and the search traverses with the filter instead.
#[test]
fn broad_filters_are_checked_after_the_traversal() {
    let seg = segment();
    // Indexed: 1000 of the 1200 points are not from 2020, counted exactly by the year's index
    // (a `must_not`, so no value graph covers it; a range, which the index answers exactly,
    // where an integer match could also be missing float payloads).
    let broad = Filter {
        must_not: field(
            "year",
            FieldPredicate::Range(Range {
                gte: Some(2020.0),
                lte: Some(2020.0),
                ..Range::default()
            }),
        )
        .must,
        ..Filter::default()
    };
    let (p, e) = seg.explain(&request(broad.clone(), 0, false));
    assert_eq!(p, Plan::GraphPostCheck);
    assert!(e.from_index && !e.sampled, "{e:?}");
    assert_eq!((e.cardinality.min, e.cardinality.max), (1000, 1000));
    for ignore in [false, true] {
        let r = recall(&seg, &broad, ignore);
        assert!(r >= 0.95, "recall {r} (quantization ignored: {ignore})");
    }
    // Unindexed: no index tells, so the bounds are 0..1200 and a sample sets the expectation.
    let missing = Filter {
        must: vec![Condition::IsEmpty(JsonPath::parse("nowhere").unwrap())],
        ..Filter::default()
    };
    let (p, e) = seg.explain(&request(missing.clone(), 0, false));
    assert_eq!(p, Plan::GraphPostCheck);
    assert!(!e.from_index && e.sampled, "{e:?}");
    assert_eq!(
        (e.cardinality.min, e.cardinality.exp, e.cardinality.max),
        (0, 1200, 1200)
    );
    assert!(recall(&seg, &missing, false) >= 0.95);
    // The 200 points nearest the query fail the filter: a narrow beam (ef 20) finds almost only
    // them, so the search must fall back to traversing with the filter to return 10.
    let mut near = request(Filter::default(), 77, false);
    near.filter = None;
    near.limit = 200;
    let nearest: BTreeSet<PointId> = truth(&seg, &near).into_iter().map(|(id, _)| id).collect();
    let away = Filter {
        must_not: vec![Condition::HasId(nearest.clone())],
        ..Filter::default()
    };
    let mut req = request(away.clone(), 77, false);
    req.params.hnsw_ef = Some(20);
    assert_eq!(seg.explain(&req).0, Plan::GraphPostCheck);
    let got = seg.search(&req).unwrap();
    assert_eq!(got.len(), 10, "the fallback traversal fills the result");
    assert!(got.iter().all(|p| !nearest.contains(&p.id)));
    let want = truth(&seg, &req);
    let hit = got
        .iter()
        .filter(|p| want.iter().any(|(id, _)| *id == p.id))
        .count();
    assert!(hit >= 8, "{hit} of 10");
}
