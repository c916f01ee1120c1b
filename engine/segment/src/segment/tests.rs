use super::*;
use quiver_types::{Condition, Distance, FieldCondition, FieldPredicate, JsonPath, Match, ValueVariant};
use rand::{Rng, SeedableRng};
use serde_json::json;

fn config(distance: Distance, dim: usize) -> SegmentConfig {
    let mut c = SegmentConfig::default();
    c.vectors
        .insert(String::new(), VectorSpec::Dense { size: dim, distance });
    c.vectors.insert("sparse".into(), VectorSpec::Sparse);
    c
}

fn dense(v: Vec<f32>) -> NamedVectors {
    NamedVectors::from([(String::new(), VectorData::Dense(v))])
}

fn request(q: Vec<f32>, limit: usize) -> SearchRequest {
    SearchRequest {
        vector_name: String::new(),
        query: VectorData::Dense(q),
        filter: None,
        limit,
        offset: 0,
        score_threshold: None,
        with_payload: WithPayload::All,
        with_vector: WithVector::None,
        params: Default::default(),
    }
}

fn random_segment(distance: Distance, n: u64, dim: usize, seed: u64) -> (Segment, Vec<Vec<f32>>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut seg = Segment::new(config(distance, dim));
    let mut raw = Vec::new();
    for i in 0..n {
        let v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        seg.upsert(
            PointId::Num(i),
            i,
            &dense(v.clone()),
            json!({"g": i % 3}).as_object().unwrap().clone(),
        );
        raw.push(v);
    }
    (seg, raw)
}

fn brute_force(distance: Distance, raw: &[Vec<f32>], q: &[f32], k: usize) -> Vec<u64> {
    let norm = |v: &[f32]| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let mut scored: Vec<(f32, u64)> = raw
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let s = match distance {
                Distance::Cosine => norm(v).iter().zip(norm(q)).map(|(a, b)| a * b).sum(),
                Distance::Dot => v.iter().zip(q).map(|(a, b)| a * b).sum(),
                Distance::Euclid => -v
                    .iter()
                    .zip(q)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>()
                    .sqrt(),
                Distance::Manhattan => -v.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f32>(),
            };
            (s, i as u64)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(k).map(|s| s.1).collect()
}

#[test]
fn exact_search_equals_brute_force_for_every_distance() {
    for distance in [
        Distance::Cosine,
        Distance::Dot,
        Distance::Euclid,
        Distance::Manhattan,
    ] {
        let (seg, raw) = random_segment(distance, 500, 24, 7);
        let q: Vec<f32> = (0..24).map(|i| (i as f32 * 0.37).sin()).collect();
        let got: Vec<u64> = seg
            .search(&request(q.clone(), 10))
            .unwrap()
            .iter()
            .map(|p| match p.id {
                PointId::Num(n) => n,
                PointId::Uuid(_) => unreachable!(),
            })
            .collect();
        assert_eq!(got, brute_force(distance, &raw, &q, 10), "{distance:?}");
        let hits = seg.search(&request(q.clone(), 10)).unwrap();
        if !distance.higher_is_better() {
            assert!(
                hits[0].score >= 0.0 && hits[0].score <= hits[9].score,
                "distances ascend"
            );
        }
    }
}

#[test]
fn filter_threshold_and_offset() {
    let (seg, _) = random_segment(Distance::Dot, 300, 8, 3);
    let mut req = request(vec![1.0; 8], 5);
    req.filter = Some(Filter {
        must: vec![Condition::Field(FieldCondition {
            key: JsonPath::parse("g").unwrap(),
            predicates: vec![FieldPredicate::Match(Match::Value(ValueVariant::Integer(1)))],
        })],
        ..Filter::default()
    });
    let hits = seg.search(&req).unwrap();
    assert_eq!(hits.len(), 5);
    assert!(hits.iter().all(|h| h.payload.as_ref().unwrap()["g"] == json!(1)));
    req.score_threshold = Some(hits[2].score);
    assert_eq!(
        seg.search(&req).unwrap().len(),
        2,
        "the threshold itself is excluded"
    );
    let mut paged = request(vec![1.0; 8], 3);
    paged.offset = 2;
    assert_eq!(
        seg.search(&paged).unwrap().len(),
        5,
        "segment returns limit+offset; caller skips"
    );
}

#[test]
fn upsert_replaces_delete_removes_and_scroll_is_ordered() {
    let (mut seg, _) = random_segment(Distance::Cosine, 50, 4, 1);
    seg.upsert(
        PointId::Num(3),
        99,
        &dense(vec![1.0, 0.0, 0.0, 0.0]),
        Payload::new(),
    );
    assert_eq!(seg.version_of(&PointId::Num(3)), Some(99));
    assert!(seg.delete(&PointId::Num(4)));
    assert!(!seg.delete(&PointId::Num(4)));
    assert_eq!(seg.len(), 49);
    let page = seg.scroll(Some(PointId::Num(2)), 3, None);
    assert_eq!(page, vec![PointId::Num(2), PointId::Num(3), PointId::Num(5)]);
    let r = seg
        .retrieve(&PointId::Num(3), &WithPayload::All, &WithVector::All)
        .unwrap();
    assert_eq!(r.payload, Some(Payload::new()));
    assert_eq!(
        r.vectors.unwrap()[""],
        VectorData::Dense(vec![1.0, 0.0, 0.0, 0.0])
    );
}

#[test]
fn named_vectors_are_optional_and_deletable() {
    let mut seg = Segment::new(config(Distance::Dot, 2));
    let sparse = quiver_types::SparseVector::new(vec![1, 7], vec![0.5, 2.0]).unwrap();
    let mut both = dense(vec![1.0, 2.0]);
    both.insert("sparse".into(), VectorData::Sparse(sparse.clone()));
    seg.upsert(PointId::Num(1), 1, &both, Payload::new());
    seg.upsert(PointId::Num(2), 1, &dense(vec![1.0, 1.0]), Payload::new());
    let mut req = request(vec![], 10);
    req.vector_name = "sparse".into();
    req.query = VectorData::Sparse(quiver_types::SparseVector::new(vec![7], vec![1.0]).unwrap());
    let hits = seg.search(&req).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].score, 2.0);
    seg.delete_vectors(&PointId::Num(1), 2, &["sparse".to_string()]);
    assert!(seg.search(&req).unwrap().is_empty());
}

#[test]
fn wrong_dimension_and_unknown_name_are_errors() {
    let (seg, _) = random_segment(Distance::Dot, 5, 4, 1);
    assert!(seg.search(&request(vec![1.0; 3], 1)).is_err());
    let mut req = request(vec![1.0; 4], 1);
    req.vector_name = "nope".into();
    assert!(seg.search(&req).is_err());
}

#[test]
fn file_round_trip_compacts_and_detects_corruption() {
    let (mut seg, _) = random_segment(Distance::Euclid, 100, 6, 5);
    for i in 0..50 {
        seg.delete(&PointId::Num(i * 2));
    }
    let uuid = PointId::Uuid(uuid::Uuid::from_u128(42));
    seg.upsert(
        uuid,
        7,
        &dense(vec![0.5; 6]),
        json!({"a": [1, {"b": null}]}).as_object().unwrap().clone(),
    );
    let dir = tempfile::tempdir().unwrap();
    seg.save(dir.path()).unwrap();
    let back = Segment::open(dir.path()).unwrap();
    assert_eq!(back.len(), seg.len());
    assert_eq!(back.capacity(), seg.len(), "holes are not written");
    for id in seg.ids() {
        assert_eq!(
            back.retrieve(&id, &WithPayload::All, &WithVector::All),
            seg.retrieve(&id, &WithPayload::All, &WithVector::All)
        );
        assert_eq!(back.version_of(&id), seg.version_of(&id));
    }
    let path = dir.path().join("segment.qvs");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    assert!(matches!(
        Segment::from_bytes(&bytes, &path),
        Err(SegmentError::Corrupt { .. })
    ));
    for cut in [0, 10, 23, bytes.len() - 1] {
        assert!(Segment::from_bytes(&bytes[..cut], &path).is_err());
    }
}
