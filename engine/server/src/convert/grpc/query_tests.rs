//! Read requests and their defaults; results to the wire.

use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::vector_input::Variant as V;
use quiver_types::{JsonPath, NamedVectors, VectorData};
use serde_json::json;

use super::*;

fn dense(d: &[f32]) -> pb::Query {
    pb::Query {
        variant: Some(Variant::Nearest(pb::VectorInput {
            variant: Some(V::Dense(pb::DenseVector { data: d.to_vec() })),
        })),
    }
}

#[test]
fn search_becomes_a_nearest_query() {
    let req = pb::SearchPoints {
        collection_name: "c".into(),
        vector: vec![1.0, 2.0],
        limit: 5,
        offset: Some(2),
        vector_name: Some("img".into()),
        score_threshold: Some(0.5),
        ..Default::default()
    };
    let q = search(&req, "").unwrap();
    assert_eq!(q.query, Some(Query::Nearest(VectorInput::Dense(vec![1.0, 2.0]))));
    assert_eq!((q.using.as_str(), q.limit, q.offset), ("img", 5, 2));
    assert_eq!(q.score_threshold, Some(0.5));
    assert_eq!(
        (q.with_payload, q.with_vector),
        (WithPayload::None, WithVector::None)
    );
    let sparse = pb::SearchPoints {
        vector: vec![0.5, 0.25],
        sparse_indices: Some(pb::SparseIndices { data: vec![7, 3] }),
        limit: 1,
        ..Default::default()
    };
    let q = search(&sparse, "").unwrap();
    assert_eq!(
        q.query,
        Some(Query::Nearest(VectorInput::Sparse(
            SparseVector::new(vec![3, 7], vec![0.25, 0.5]).unwrap()
        )))
    );
    let batch = pb::SearchBatchPoints {
        search_points: vec![req.clone(), pb::SearchPoints::default()],
        ..Default::default()
    };
    let e = search_batch(&batch).unwrap_err().to_string();
    assert!(e.contains("search_points[1].limit"), "{e}");
}

#[test]
fn query_defaults_prefetch_and_fusion() {
    let req = pb::QueryPoints {
        collection_name: "c".into(),
        prefetch: vec![pb::PrefetchQuery {
            query: Some(dense(&[1.0])),
            using: Some("a".into()),
            limit: Some(20),
            ..Default::default()
        }],
        query: Some(pb::Query {
            variant: Some(Variant::Fusion(pb::Fusion::Dbsf as i32)),
        }),
        ..Default::default()
    };
    let q = query(&req, "").unwrap();
    assert_eq!(q.query, Some(Query::Fusion(Fusion::Dbsf)));
    assert_eq!((q.limit, q.offset, q.using.as_str()), (10, 0, ""));
    assert_eq!(q.prefetch[0].using, "a");
    assert_eq!(q.prefetch[0].limit, 20);
    assert_eq!(q.with_payload, WithPayload::None);
    let rrf = pb::Query {
        variant: Some(Variant::Rrf(pb::Rrf {
            k: None,
            weights: vec![],
        })),
    };
    assert_eq!(query_variant(&rrf, "query").unwrap(), Query::Fusion(Fusion::Rrf));
    let weighted = pb::Query {
        variant: Some(Variant::Rrf(pb::Rrf {
            k: Some(60),
            weights: vec![],
        })),
    };
    assert!(query_variant(&weighted, "query")
        .unwrap_err()
        .to_string()
        .contains("query.rrf"));
    let by_id = pb::Query {
        variant: Some(Variant::Nearest(pb::VectorInput {
            variant: Some(V::Id(point_id_out(&PointId::Num(3)))),
        })),
    };
    assert_eq!(
        query_variant(&by_id, "q").unwrap(),
        Query::Nearest(VectorInput::Id(PointId::Num(3)))
    );
    let sample = pb::Query {
        variant: Some(Variant::Sample(0)),
    };
    assert!(query_variant(&sample, "q")
        .unwrap_err()
        .to_string()
        .contains("sample"));
}

#[test]
fn query_batch_names_each_request() {
    let bad_query = pb::QueryPoints {
        query: Some(pb::Query {
            variant: Some(Variant::Nearest(pb::VectorInput::default())),
        }),
        ..Default::default()
    };
    let req = pb::QueryBatchPoints {
        query_points: vec![pb::QueryPoints::default(), bad_query],
        ..Default::default()
    };
    let e = query_batch(&req).unwrap_err().to_string();
    assert!(e.contains("query_points[1].query.nearest"), "{e}");
    let big = pb::QueryPoints {
        limit: Some(MAX_LIMIT + 1),
        ..Default::default()
    };
    assert!(query(&big, "").unwrap_err().to_string().contains("limit"));
}

#[test]
fn scroll_get_and_count() {
    let req = pb::ScrollPoints {
        offset: Some(point_id_out(&PointId::Num(4))),
        order_by: Some(pb::OrderBy {
            key: "price".into(),
            direction: Some(pb::Direction::Desc as i32),
            start_from: Some(pb::StartFrom {
                value: Some(Start::Datetime("1970-01-01T00:00:01Z".into())),
            }),
        }),
        ..Default::default()
    };
    let s = scroll(&req).unwrap();
    assert_eq!((s.offset, s.limit), (Some(PointId::Num(4)), 10));
    assert_eq!(
        (s.with_payload, s.with_vector),
        (WithPayload::All, WithVector::None)
    );
    let o = s.order_by.unwrap();
    assert_eq!(
        (o.key, o.descending, o.start_from),
        (JsonPath::parse("price").unwrap(), true, Some(1e6))
    );

    let g = pb::GetPoints {
        ids: vec![pb::PointId {
            point_id_options: Some(PointIdOptions::Num(1)),
        }],
        ..Default::default()
    };
    let (ids, wp, wv) = get(&g).unwrap();
    assert_eq!(
        (ids, wp, wv),
        (vec![PointId::Num(1)], WithPayload::All, WithVector::None)
    );
    assert_eq!(count(&pb::CountPoints::default()).unwrap(), None);
    let bad_dt = pb::ScrollPoints {
        order_by: Some(pb::OrderBy {
            key: "d".into(),
            direction: None,
            start_from: Some(pb::StartFrom {
                value: Some(Start::Datetime("yesterday".into())),
            }),
        }),
        ..Default::default()
    };
    assert!(scroll(&bad_dt)
        .unwrap_err()
        .to_string()
        .contains("order_by.start_from.datetime"));
}

#[test]
fn results_to_the_wire() {
    let payload = json!({"a": 1, "b": 2.5}).as_object().unwrap().clone();
    let p = ScoredPoint {
        id: PointId::Num(3),
        version: 7,
        score: 0.5,
        payload: Some(payload.clone()),
        vectors: Some(NamedVectors::from([(
            "".to_string(),
            VectorData::Dense(vec![1.0]),
        )])),
        order_value: None,
    };
    let out = scored_point_out(&p);
    assert_eq!((out.version, out.score), (7, 0.5));
    assert_eq!(out.payload.len(), 2);
    assert!(out.vectors.is_some());
    let r = Record {
        id: PointId::Num(3),
        payload: None,
        vectors: None,
        order_value: Some(4.0),
    };
    let out = record_out(&r);
    assert!(out.payload.is_empty() && out.vectors.is_none());
    assert_eq!(
        out.order_value.and_then(|v| v.variant),
        Some(pb::order_value::Variant::Int(4))
    );
    assert_eq!(
        order_value_out(1.5).variant,
        Some(pb::order_value::Variant::Float(1.5))
    );
}
