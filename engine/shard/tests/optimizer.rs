//! The optimizer on a real shard: segments past the threshold are sealed and indexed while the
//! shard keeps serving; graph answers match exact ones; deletes, re-upserts and vector updates of
//! points in sealed segments stay correct; the index survives a checkpoint and reopen, and a crash
//! before the checkpoint loses nothing (the build is redone).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use quiver_segment::{FieldKind, IndexSettings, Plan, SegmentConfig, VectorSpec};
use quiver_shard::{LocalShard, OptimizerOptions, ShardOptions};
use quiver_types::{
    Distance, JsonPath, PointId, PointRecord, PointSelector, ScoredPoint, SearchParams, SearchRequest,
    UpdateOperation, VectorData, WithPayload, WithVector,
};
use rand::{Rng, SeedableRng};
use serde_json::json;

const DIM: usize = 16;

fn config() -> SegmentConfig {
    let mut c = SegmentConfig::default();
    c.vectors.insert(
        String::new(),
        VectorSpec::Dense {
            size: DIM,
            distance: Distance::Cosine,
        },
    );
    c
}

fn options(threshold_kb: usize) -> ShardOptions {
    ShardOptions {
        max_segment_points: 1500,
        indexing: OptimizerOptions {
            threshold_kb,
            settings: IndexSettings {
                m: 12,
                ef_construct: 64,
                full_scan_threshold_kb: 4,
                max_indexing_threads: 2,
                payload_m: 12,
            },
            target_segments: 2,
            max_segment_points: 100_000,
            deleted_threshold: 0.2,
            vacuum_min_vectors: 100,
            fields: vec![(JsonPath::parse("g").unwrap(), FieldKind::Numeric)],
            quantization: Default::default(),
            layout: Vec::new(),
        },
        ..ShardOptions::default()
    }
}

/// Clustered vectors (like embeddings); point i is in cluster i % 10.
fn vector(rng: &mut rand::rngs::StdRng, i: u64) -> Vec<f32> {
    let c = (i % 10) as f32;
    (0..DIM)
        .map(|d| ((c * 1.7 + d as f32).sin()) + rng.random_range(-0.3f32..0.3))
        .collect()
}

fn upsert(shard: &LocalShard, ids: std::ops::Range<u64>, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let points = ids
        .map(|i| PointRecord {
            id: PointId::Num(i),
            vectors: [(String::new(), VectorData::Dense(vector(&mut rng, i)))].into(),
            payload: json!({"g": i % 4, "i": i}).as_object().unwrap().clone(),
        })
        .collect();
    shard.update(&UpdateOperation::Upsert(points), false).unwrap();
}

fn search(shard: &LocalShard, q: &[f32], filter: Option<serde_json::Value>, exact: bool) -> Vec<ScoredPoint> {
    shard.search(&request(q, filter, exact)).unwrap()
}

fn request(q: &[f32], filter: Option<serde_json::Value>, exact: bool) -> SearchRequest {
    let filter = filter.map(|f| {
        let g = f["g"].as_u64().unwrap();
        quiver_types::Filter {
            must: vec![quiver_types::Condition::Field(quiver_types::FieldCondition {
                key: quiver_types::JsonPath::parse("g").unwrap(),
                predicates: vec![quiver_types::FieldPredicate::Match(quiver_types::Match::Value(
                    quiver_types::ValueVariant::Integer(g as i64),
                ))],
            })],
            ..Default::default()
        }
    });
    SearchRequest {
        vector_name: String::new(),
        query: VectorData::Dense(q.to_vec()),
        filter,
        limit: 10,
        offset: 0,
        score_threshold: None,
        with_payload: WithPayload::None,
        with_vector: WithVector::None,
        params: SearchParams {
            hnsw_ef: Some(128),
            exact,
            ..SearchParams::default()
        },
    }
}

fn optimize_all(shard: &LocalShard) -> usize {
    let mut n = 0;
    while shard.optimize_once().unwrap() {
        n += 1;
        assert!(n < 100, "the optimizer does not settle");
    }
    n
}

fn ids(hits: &[ScoredPoint]) -> Vec<PointId> {
    hits.iter().map(|h| h.id).collect()
}

/// Share of the exact top-10 the graph returns, over 20 queries.
fn recall(shard: &LocalShard, filter: Option<serde_json::Value>) -> f64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let mut hit = 0;
    for q in 0..20 {
        let query = vector(&mut rng, q);
        let truth = ids(&search(shard, &query, filter.clone(), true));
        let got = search(shard, &query, filter.clone(), false);
        assert!(got.windows(2).all(|w| w[0].score >= w[1].score));
        hit += got.iter().filter(|h| truth.contains(&h.id)).count();
    }
    hit as f64 / 200.0
}

#[test]
fn segments_are_indexed_and_stay_correct_through_edits_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let shard_dir = dir.path().join("s");
    // 16 dims x 4 bytes = 64 B a point: 1 KB = 16 points, so full segments pass the threshold.
    let shard = LocalShard::create(&shard_dir, config(), options(40)).unwrap();
    upsert(&shard, 0..4000, 1);
    assert_eq!(shard.stats().indexed_vectors, 0);
    assert!(shard.optimizing(), "segments past the threshold are due");
    let built = optimize_all(&shard);
    assert!(built >= 2, "full segments get graphs ({built})");
    let stats = shard.stats();
    assert!(!stats.optimizing);
    assert_eq!(stats.points, 4000);
    assert!(stats.indexed_vectors >= 3000, "{}", stats.indexed_vectors);

    assert!(recall(&shard, None) >= 0.95);
    assert!(
        recall(&shard, Some(json!({"g": 1}))) >= 0.95,
        "filtered graph search"
    );
    // The planner: graphs for unfiltered and broad filters in indexed segments; an exact scan for
    // the unindexed tail segment.
    let probe = |filter| request(&[0.5; DIM], filter, false);
    let plans = shard.explain(&probe(None));
    assert!(
        plans
            .iter()
            .any(|p| p.indexed && p.plan == Plan::Graph { filtered: false }),
        "{plans:?}"
    );
    assert!(
        plans.iter().all(|p| p.indexed || p.plan == Plan::Exact),
        "{plans:?}"
    );
    // g has a field index and payload_m > 0: its values have value graphs, which a filter
    // on one value walks.
    let plans = shard.explain(&probe(Some(json!({"g": 1}))));
    assert!(plans.iter().any(|p| p.plan == Plan::ValueGraph), "{plans:?}");
    for p in plans.iter().filter(|p| p.indexed) {
        assert!(p.estimate.from_index, "g has a field index: {p:?}");
        let share = p.estimate.cardinality.exp as f64 / p.points as f64;
        assert!(
            (0.15..0.35).contains(&share),
            "g == 1 selects about a quarter: {p:?}"
        );
    }
    // An exact request never uses a graph.
    assert!(shard
        .explain(&request(&[0.5; DIM], None, true))
        .iter()
        .all(|p| p.plan == Plan::Exact));

    // A payload edit in a sealed segment updates its field index: the point is found by its new
    // value and no longer by its old one.
    let set_g = |id: u64, g: u64| {
        let payload = json!({"g": g}).as_object().unwrap().clone();
        shard
            .update(
                &UpdateOperation::SetPayload {
                    selector: PointSelector::Ids(vec![PointId::Num(id)]),
                    payload,
                    key: None,
                },
                false,
            )
            .unwrap();
    };
    set_g(701, 99);
    let found = search(&shard, &[0.5; DIM], Some(json!({"g": 99})), false);
    assert_eq!(ids(&found), vec![PointId::Num(701)]);
    let plans = shard.explain(&request(&[0.5; DIM], Some(json!({"g": 99})), false));
    assert!(
        plans.iter().all(|p| p.plan == Plan::Exact),
        "one candidate: exact scan {plans:?}"
    );
    // An integer match is an upper bound (a float payload 99.0 would not match it).
    assert_eq!(plans.iter().map(|p| p.estimate.cardinality.max).sum::<usize>(), 1);
    let old = search(&shard, &[0.5; DIM], Some(json!({"g": 1})), true);
    assert!(!ids(&old).contains(&PointId::Num(701)));

    // Edits of points in sealed segments: delete some, re-upsert others (they move), update vectors.
    shard
        .update(
            &UpdateOperation::Delete(PointSelector::Ids((0..200).map(PointId::Num).collect())),
            false,
        )
        .unwrap();
    upsert(&shard, 200..400, 7);
    let moved = PointId::Num(500);
    let target: Vec<f32> = (0..DIM).map(|d| if d == 0 { 1.0 } else { 0.0 }).collect();
    shard
        .update(
            &UpdateOperation::UpdateVectors(vec![(
                moved,
                [(String::new(), VectorData::Dense(target.clone()))].into(),
            )]),
            false,
        )
        .unwrap();
    let top = search(&shard, &target, None, false);
    assert_eq!(top[0].id, moved, "the updated vector is found");
    assert!((top[0].score - 1.0).abs() < 1e-5);
    let all = search(&shard, &target, None, true);
    assert_eq!(ids(&all)[0], moved);
    for q in 0..5u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(q);
        let hits = search(&shard, &vector(&mut rng, q), None, false);
        assert!(
            hits.iter().all(|h| !matches!(h.id, PointId::Num(n) if n < 200)),
            "deleted points never return"
        );
    }
    assert_eq!(shard.count(None), 3800);
    let before: Vec<Vec<PointId>> = (0..5u64)
        .map(|q| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(q + 50);
            ids(&search(&shard, &vector(&mut rng, q), None, false))
        })
        .collect();

    // Checkpoint and reopen: the graphs come back from disk (nothing left to build).
    shard.checkpoint().unwrap();
    let indexed = shard.stats().indexed_vectors;
    drop(shard);
    let shard = LocalShard::open(&shard_dir, config(), options(40)).unwrap();
    assert_eq!(shard.stats().indexed_vectors, indexed);
    assert_eq!(optimize_all(&shard), 0, "persisted graphs are not rebuilt");
    let after: Vec<Vec<PointId>> = (0..5u64)
        .map(|q| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(q + 50);
            ids(&search(&shard, &vector(&mut rng, q), None, false))
        })
        .collect();
    assert_eq!(before, after, "the reopened graphs answer the same");
    assert_eq!(shard.count(None), 3800);

    // More writes, an index built but never checkpointed, then a "crash" (drop without checkpoint):
    // the log replays every write and the build is simply redone.
    upsert(&shard, 4000..6000, 3);
    optimize_all(&shard);
    let exact_before = ids(&search(&shard, &target, None, true));
    drop(shard);
    let shard = LocalShard::open(&shard_dir, config(), options(40)).unwrap();
    assert_eq!(shard.count(None), 5800);
    assert_eq!(ids(&search(&shard, &target, None, true)), exact_before);
    assert!(shard.optimizing(), "unpersisted builds are due again");
    optimize_all(&shard);
    assert!(recall(&shard, None) >= 0.95);
}

#[test]
fn threshold_zero_disables_indexing_and_settings_changes_reindex() {
    let dir = tempfile::tempdir().unwrap();
    let shard = LocalShard::create(&dir.path().join("s"), config(), options(0)).unwrap();
    for batch in 0..30 {
        upsert(&shard, batch * 100..(batch + 1) * 100, batch);
    }
    assert!(!shard.optimizing());
    assert_eq!(optimize_all(&shard), 0);
    assert_eq!(shard.stats().indexed_vectors, 0);
    // Ingestion only appended: 30 batches filled two segments (1500 points each), no more.
    let segments = shard.stats().segments;
    assert_eq!(segments, 2, "{:?}", shard.stats());
    // Restoring the threshold indexes each of them once (a job per segment, no merge or
    // rebuild after).
    shard.set_optimizer(options(40).indexing);
    assert_eq!(optimize_all(&shard), segments);
    assert_eq!(shard.stats().indexed_segments, segments);
    let indexed = shard.stats().indexed_vectors;
    assert!(indexed > 0);
    // Other HNSW settings re-index every indexed segment.
    let mut changed = options(40).indexing;
    changed.settings.m = 8;
    shard.set_optimizer(changed);
    assert!(shard.optimizing());
    assert!(optimize_all(&shard) >= 1);
    assert_eq!(shard.stats().indexed_vectors, indexed);
    assert!(recall(&shard, None) >= 0.9);
}

#[test]
fn merge_and_vacuum_keep_every_point_and_edit() {
    let dir = tempfile::tempdir().unwrap();
    let shard_dir = dir.path().join("s");
    let shard = LocalShard::create(&shard_dir, config(), options(40)).unwrap();
    upsert(&shard, 0..7000, 1);
    optimize_all(&shard);
    let stats = shard.stats();
    assert!(
        stats.indexed_segments <= 2,
        "merged toward target_segments: {stats:?}"
    );
    assert_eq!(stats.points, 7000);
    // Delete most of the points and edit payloads of others: vacuum rebuilds without holes.
    shard
        .update(
            &UpdateOperation::Delete(PointSelector::Ids((0..5000).map(PointId::Num).collect())),
            false,
        )
        .unwrap();
    let payload = json!({"edited": true}).as_object().unwrap().clone();
    shard
        .update(
            &UpdateOperation::SetPayload {
                selector: PointSelector::Ids(vec![PointId::Num(6000)]),
                payload,
                key: None,
            },
            false,
        )
        .unwrap();
    assert!(shard.stats().deleted_slots >= 5000);
    assert!(shard.optimizing(), "vacuum is due");
    optimize_all(&shard);
    let stats = shard.stats();
    assert_eq!(stats.points, 2000);
    assert!(stats.deleted_slots < 500, "vacuum reclaimed the holes: {stats:?}");
    let rec = shard.retrieve(&[PointId::Num(6000)], &WithPayload::All, &WithVector::None);
    assert_eq!(rec[0].payload.as_ref().unwrap()["edited"], json!(true));
    assert_eq!(shard.count(None), 2000);
    assert!(recall(&shard, None) >= 0.95);
    // And it all persists.
    shard.checkpoint().unwrap();
    drop(shard);
    let shard = LocalShard::open(&shard_dir, config(), options(40)).unwrap();
    assert_eq!(shard.count(None), 2000);
    assert_eq!(optimize_all(&shard), 0);
}

/// With a tenant field in the layout, every segment the optimizer writes (the first index of an
/// appendable segment, a merge, a vacuum) stores its points grouped by tenant, ordered by the
/// principal field within a tenant; filtered searches stay exact.
#[test]
fn tenant_and_principal_fields_order_stored_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(40);
    opts.indexing
        .fields
        .push((JsonPath::parse("t").unwrap(), FieldKind::Keyword));
    opts.indexing.layout = vec![JsonPath::parse("t").unwrap(), JsonPath::parse("i").unwrap()];
    let shard = LocalShard::create(&dir.path().join("s"), config(), opts).unwrap();
    let tenant = |i: u64| format!("tenant{}", (i * 7919) % 5);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    // Ids in descending order, so id order and principal (`i`) order disagree.
    let points = (0..4000u64)
        .rev()
        .map(|i| PointRecord {
            id: PointId::Num(10_000 - i),
            vectors: [(String::new(), VectorData::Dense(vector(&mut rng, i)))].into(),
            payload: json!({"g": i % 4, "i": i, "t": tenant(i)})
                .as_object()
                .unwrap()
                .clone(),
        })
        .collect();
    shard.update(&UpdateOperation::Upsert(points), false).unwrap();
    optimize_all(&shard);
    shard
        .update(
            &UpdateOperation::Delete(PointSelector::Ids((6000..7500).map(PointId::Num).collect())),
            false,
        )
        .unwrap();
    optimize_all(&shard);
    let orders = shard.indexed_storage_orders();
    assert!(!orders.is_empty());
    let mut stored = 0;
    for order in &orders {
        let recs = shard.retrieve(order, &WithPayload::All, &WithVector::None);
        let keys: Vec<(String, u64)> = recs
            .iter()
            .map(|r| {
                let p = r.payload.as_ref().unwrap();
                (p["t"].as_str().unwrap().to_string(), p["i"].as_u64().unwrap())
            })
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "stored out of layout order: {:?}",
            keys.windows(2).find(|w| w[0] > w[1])
        );
        stored += order.len();
    }
    assert_eq!(stored, shard.count(None));
    assert_eq!(shard.count(None), 4000 - 1499, "ids 6001..=7499 deleted");
    // A tenant filter still finds exactly the tenant's points.
    let filter = quiver_types::Filter {
        must: vec![quiver_types::Condition::Field(quiver_types::FieldCondition {
            key: JsonPath::parse("t").unwrap(),
            predicates: vec![quiver_types::FieldPredicate::Match(quiver_types::Match::Value(
                quiver_types::ValueVariant::Keyword("tenant3".into()),
            ))],
        })],
        ..Default::default()
    };
    let want = (0..4000u64)
        .filter(|&i| tenant(i) == "tenant3" && !(6000..7500).contains(&(10_000 - i)))
        .count();
    assert_eq!(shard.count(Some(&filter)), want);
}

/// `indexed_only` skips a segment past `indexing_threshold` that has no graph yet (Qdrant's
/// "not small" segments), and searches it once it is indexed; with indexing off nothing waits
/// for a graph, so nothing is skipped.
#[test]
fn indexed_only_skips_segments_waiting_for_their_graph() {
    let dir = tempfile::tempdir().unwrap();
    let shard = LocalShard::create(&dir.path().join("s"), config(), options(40)).unwrap();
    // 1000 points of 64 B: 62 KB, past the 40 KB threshold, not yet optimized.
    upsert(&shard, 0..1000, 1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let q = vector(&mut rng, 3);
    let mut req = request(&q, None, false);
    assert_eq!(shard.search(&req).unwrap().len(), 10);
    req.params.indexed_only = true;
    assert!(
        shard.search(&req).unwrap().is_empty(),
        "the unindexed segment is skipped"
    );
    optimize_all(&shard);
    assert_eq!(shard.search(&req).unwrap().len(), 10, "indexed now");
    // A few new points in a small appendable segment are searched too.
    upsert(&shard, 5000..5010, 2);
    let hits = shard.search(&request(&q, None, true)).unwrap();
    let mut only = request(&q, None, false);
    only.params.indexed_only = true;
    only.limit = 1010;
    assert_eq!(shard.search(&only).unwrap().len(), 1010, "{}", hits.len());
    // Indexing off: no segment waits for a graph.
    let off = tempfile::tempdir().unwrap();
    let shard = LocalShard::create(&off.path().join("s"), config(), options(0)).unwrap();
    upsert(&shard, 0..1000, 1);
    assert_eq!(shard.search(&req).unwrap().len(), 10);
}

/// A vacuum waits until the segment holds `vacuum_min_vector_number` vectors, whatever its
/// deleted share; settings that only steer searches (`full_scan_threshold`) apply without a
/// rebuild of the graphs.
#[test]
fn vacuum_needs_enough_vectors_and_search_settings_apply_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(40);
    opts.indexing.vacuum_min_vectors = 5000;
    opts.indexing.target_segments = 10;
    let shard = LocalShard::create(&dir.path().join("s"), config(), opts.clone()).unwrap();
    upsert(&shard, 0..3000, 1);
    optimize_all(&shard);
    let delete = |ids: std::ops::Range<u64>| {
        shard
            .update(
                &UpdateOperation::Delete(PointSelector::Ids(ids.map(PointId::Num).collect())),
                false,
            )
            .unwrap();
    };
    delete(0..2000);
    let holes = shard.stats().deleted_slots;
    assert!(holes >= 1000, "{:?}", shard.stats());
    assert!(
        !shard.optimizing(),
        "segments of fewer than 5000 vectors are not vacuumed"
    );
    assert_eq!(optimize_all(&shard), 0);
    assert_eq!(shard.stats().deleted_slots, holes);
    opts.indexing.vacuum_min_vectors = 100;
    shard.set_optimizer(opts.indexing.clone());
    assert!(shard.optimizing());
    optimize_all(&shard);
    assert!(shard.stats().deleted_slots < holes, "{:?}", shard.stats());
    assert_eq!(shard.count(None), 1000);
    // A filter on g (a quarter of the points) traverses the graph; with a full-scan threshold
    // above the segment's size it is scanned exactly, with the same graphs.
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let q = vector(&mut rng, 3);
    let filtered = request(&q, Some(json!({"g": 1})), false);
    let before = shard.explain(&filtered);
    assert!(
        before.iter().any(|p| p.indexed && p.plan != Plan::Exact),
        "{before:?}"
    );
    let indexed = shard.stats().indexed_vectors;
    opts.indexing.settings.full_scan_threshold_kb = 100_000;
    shard.set_optimizer(opts.indexing.clone());
    assert!(shard.optimizing());
    optimize_all(&shard);
    let after = shard.explain(&filtered);
    assert!(after.iter().all(|p| p.plan == Plan::Exact), "{after:?}");
    assert_eq!(shard.stats().indexed_vectors, indexed);
}

/// Searches and writes go on while the optimizer works: a reader and a writer thread run
/// through every job; each search answers 10 points in score order, and every write is there
/// afterwards.
#[test]
fn searches_and_writes_go_on_during_optimization() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let shard = Arc::new(LocalShard::create(&dir.path().join("s"), config(), options(40)).unwrap());
    upsert(&shard, 0..4000, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, writes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let reader = {
        let (shard, stop, reads) = (shard.clone(), stop.clone(), reads.clone());
        std::thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(3);
            while !stop.load(Ordering::Relaxed) {
                let q = vector(&mut rng, reads.load(Ordering::Relaxed));
                let hits = search(&shard, &q, None, false);
                assert_eq!(hits.len(), 10);
                assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let writer = {
        let (shard, stop, writes) = (shard.clone(), stop.clone(), writes.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let b = writes.load(Ordering::Relaxed);
                upsert(&shard, 10_000 + b * 20..10_000 + (b + 1) * 20, b);
                writes.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let (r0, w0) = (reads.load(Ordering::Relaxed), writes.load(Ordering::Relaxed));
    // The writer keeps making work: a bounded number of jobs, then stop.
    let mut jobs = 0;
    while jobs < 6 && shard.optimize_once().unwrap() {
        jobs += 1;
    }
    let (r1, w1) = (reads.load(Ordering::Relaxed), writes.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    writer.join().unwrap();
    assert!(jobs >= 2, "{jobs} jobs");
    assert!(
        r1 > r0 && w1 > w0,
        "reads {r0}..{r1}, writes {w0}..{w1} while the optimizer ran"
    );
    let written = writes.load(Ordering::Relaxed);
    assert_eq!(shard.count(None), 4000 + written as usize * 20);
    optimize_all(&shard);
    assert!(recall(&shard, None) >= 0.95);
}

/// A merge joins the smallest indexed segments beyond `default_segment_number` but never makes
/// one of more than `max_segment_size` points.
#[test]
fn merges_stop_at_the_maximum_segment_size() {
    for (cap, want_segments) in [(2500usize, 4usize), (3000, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(40);
        opts.indexing.target_segments = 1;
        opts.indexing.max_segment_points = cap;
        let shard = LocalShard::create(&dir.path().join("s"), config(), opts).unwrap();
        // Four appended segments of 1500 points each.
        upsert(&shard, 0..6000, 1);
        optimize_all(&shard);
        let sizes: Vec<usize> = shard
            .explain(&request(&[1.0; DIM], None, false))
            .iter()
            .map(|p| p.points)
            .collect();
        assert!(sizes.iter().all(|&n| n <= cap), "cap {cap}: {sizes:?}");
        assert_eq!(sizes.len(), want_segments, "cap {cap}: {sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 6000);
    }
}
