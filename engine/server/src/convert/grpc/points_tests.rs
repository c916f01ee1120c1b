//! Point update requests and batch operations -> engine operations, and their errors.

use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::points_selector::PointsSelectorOneOf;
use qdrant_client::qdrant::points_update_operation as op;
use qdrant_client::qdrant::value::Kind;
use qdrant_client::qdrant::vectors::VectorsOptions;
use quiver_types::{JsonPath, PointId, PointSelector, VectorData};
use serde_json::json;

use super::*;

fn id(n: u64) -> Option<pb::PointId> {
    Some(pb::PointId {
        point_id_options: Some(PointIdOptions::Num(n)),
    })
}

fn ids(list: &[u64]) -> Option<pb::PointsSelector> {
    Some(pb::PointsSelector {
        points_selector_one_of: Some(PointsSelectorOneOf::Points(pb::PointsIdsList {
            ids: list.iter().map(|n| id(*n).unwrap()).collect(),
        })),
    })
}

#[allow(deprecated)]
fn dense(d: &[f32]) -> Option<pb::Vectors> {
    Some(pb::Vectors {
        vectors_options: Some(VectorsOptions::Vector(pb::Vector {
            data: d.to_vec(),
            ..Default::default()
        })),
    })
}

fn point(n: u64, v: &[f32]) -> pb::PointStruct {
    pb::PointStruct {
        id: id(n),
        payload: HashMap::from([(
            "a".to_string(),
            pb::Value {
                kind: Some(Kind::IntegerValue(n as i64)),
            },
        )]),
        vectors: dense(v),
    }
}

#[test]
fn upsert_points() {
    let req = pb::UpsertPoints {
        collection_name: "c".into(),
        wait: Some(true),
        points: vec![point(1, &[1.0, 2.0]), point(2, &[3.0, 4.0])],
        ..Default::default()
    };
    let UpdateOperation::Upsert(records) = upsert(&req).unwrap() else {
        panic!("expected an upsert")
    };
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].id, PointId::Num(2));
    assert_eq!(records[1].vectors[""], VectorData::Dense(vec![3.0, 4.0]));
    assert_eq!(records[1].payload["a"], json!(2));
}

#[test]
fn upsert_errors_name_the_point() {
    let mut bad_point = point(4, &[1.0]);
    bad_point.id = None;
    let req = pb::UpsertPoints {
        points: vec![point(1, &[1.0]), point(2, &[1.0]), point(3, &[1.0]), bad_point],
        ..Default::default()
    };
    let e = upsert(&req).unwrap_err().to_string();
    assert!(e.contains("points[3].id"), "{e}");
    let mut nan = point(1, &[1.0]);
    nan.payload.insert(
        "x".into(),
        pb::Value {
            kind: Some(Kind::DoubleValue(f64::INFINITY)),
        },
    );
    let req = pb::UpsertPoints {
        points: vec![nan],
        ..Default::default()
    };
    assert!(upsert(&req)
        .unwrap_err()
        .to_string()
        .contains("points[0].payload.x"));
    let conditional = pb::UpsertPoints {
        points: vec![point(1, &[1.0])],
        update_filter: Some(pb::Filter::default()),
        ..Default::default()
    };
    assert!(upsert(&conditional)
        .unwrap_err()
        .to_string()
        .contains("update_filter"));
    let keyed = pb::UpsertPoints {
        points: vec![point(1, &[1.0])],
        shard_key_selector: Some(pb::ShardKeySelector {
            shard_keys: vec![pb::ShardKey::default()],
            fallback: None,
        }),
        ..Default::default()
    };
    assert!(upsert(&keyed)
        .unwrap_err()
        .to_string()
        .contains("shard_key_selector"));
}

#[test]
fn payload_and_vector_operations() {
    let req = pb::SetPayloadPoints {
        payload: HashMap::from([(
            "k".to_string(),
            pb::Value {
                kind: Some(Kind::BoolValue(true)),
            },
        )]),
        points_selector: ids(&[1]),
        key: Some("nested.obj".into()),
        ..Default::default()
    };
    let UpdateOperation::SetPayload {
        selector,
        payload,
        key,
    } = set_payload(&req).unwrap()
    else {
        panic!("expected set_payload")
    };
    assert_eq!(selector, PointSelector::Ids(vec![PointId::Num(1)]));
    assert_eq!(payload["k"], json!(true));
    assert_eq!(key, Some(JsonPath::parse("nested.obj").unwrap()));
    assert!(overwrite_payload(&req).unwrap_err().to_string().contains("key"));
    let no_sel = pb::SetPayloadPoints::default();
    assert!(set_payload(&no_sel)
        .unwrap_err()
        .to_string()
        .contains("points_selector"));

    let del = pb::DeletePayloadPoints {
        keys: vec!["a".into(), "b[]".into()],
        points_selector: ids(&[2]),
        ..Default::default()
    };
    assert!(
        matches!(delete_payload(&del).unwrap(), UpdateOperation::DeletePayload { keys, .. } if keys.len() == 2)
    );
    let clear = pb::ClearPayloadPoints {
        points: ids(&[3]),
        ..Default::default()
    };
    assert!(matches!(
        clear_payload(&clear).unwrap(),
        UpdateOperation::ClearPayload(_)
    ));
    let dv = pb::DeletePointVectors {
        points_selector: ids(&[1]),
        vectors: Some(pb::VectorsSelector {
            names: vec!["img".into()],
        }),
        ..Default::default()
    };
    assert!(
        matches!(delete_vectors(&dv).unwrap(), UpdateOperation::DeleteVectors { names, .. } if names == ["img"])
    );
    let uv = pb::UpdatePointVectors {
        points: vec![pb::PointVectors {
            id: id(5),
            vectors: dense(&[0.5]),
        }],
        ..Default::default()
    };
    let UpdateOperation::UpdateVectors(v) = update_vectors(&uv).unwrap() else {
        panic!("expected update_vectors")
    };
    assert_eq!(v[0].0, PointId::Num(5));
    let missing = pb::UpdatePointVectors {
        points: vec![pb::PointVectors {
            id: id(5),
            vectors: None,
        }],
        ..Default::default()
    };
    assert!(update_vectors(&missing)
        .unwrap_err()
        .to_string()
        .contains("points[0].vectors"));
    let d = pb::DeletePoints {
        points: ids(&[7]),
        ..Default::default()
    };
    assert_eq!(
        delete(&d).unwrap(),
        UpdateOperation::Delete(PointSelector::Ids(vec![PointId::Num(7)]))
    );
}

#[test]
#[allow(deprecated)]
fn every_batch_operation_kind() {
    let sel = ids(&[1]);
    let ops = vec![
        Operation::Upsert(op::PointStructList {
            points: vec![point(1, &[1.0])],
            ..Default::default()
        }),
        Operation::DeleteDeprecated(sel.clone().unwrap()),
        Operation::SetPayload(op::SetPayload {
            points_selector: sel.clone(),
            ..Default::default()
        }),
        Operation::OverwritePayload(op::OverwritePayload {
            points_selector: sel.clone(),
            ..Default::default()
        }),
        Operation::DeletePayload(op::DeletePayload {
            keys: vec!["a".into()],
            points_selector: sel.clone(),
            ..Default::default()
        }),
        Operation::ClearPayloadDeprecated(sel.clone().unwrap()),
        Operation::UpdateVectors(op::UpdateVectors {
            points: vec![pb::PointVectors {
                id: id(1),
                vectors: dense(&[1.0]),
            }],
            ..Default::default()
        }),
        Operation::DeleteVectors(op::DeleteVectors {
            points_selector: sel.clone(),
            vectors: Some(pb::VectorsSelector {
                names: vec!["".into()],
            }),
            ..Default::default()
        }),
        Operation::DeletePoints(op::DeletePoints {
            points: sel.clone(),
            ..Default::default()
        }),
        Operation::ClearPayload(op::ClearPayload {
            points: sel,
            ..Default::default()
        }),
    ];
    let req = pb::UpdateBatchPoints {
        operations: ops
            .into_iter()
            .map(|o| pb::PointsUpdateOperation { operation: Some(o) })
            .collect(),
        ..Default::default()
    };
    let got = batch(&req).unwrap();
    let kinds: Vec<&str> = got
        .iter()
        .map(|o| match o {
            UpdateOperation::Upsert(_) => "upsert",
            UpdateOperation::Delete(_) => "delete",
            UpdateOperation::SetPayload { .. } => "set",
            UpdateOperation::OverwritePayload { .. } => "overwrite",
            UpdateOperation::DeletePayload { .. } => "delete_payload",
            UpdateOperation::ClearPayload(_) => "clear",
            UpdateOperation::UpdateVectors(_) => "update_vectors",
            UpdateOperation::DeleteVectors { .. } => "delete_vectors",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "upsert",
            "delete",
            "set",
            "overwrite",
            "delete_payload",
            "clear",
            "update_vectors",
            "delete_vectors",
            "delete",
            "clear"
        ]
    );
    let bad_batch = pb::UpdateBatchPoints {
        operations: vec![
            pb::PointsUpdateOperation {
                operation: Some(Operation::ClearPayload(op::ClearPayload {
                    points: ids(&[1]),
                    ..Default::default()
                })),
            },
            pb::PointsUpdateOperation {
                operation: Some(Operation::DeletePoints(op::DeletePoints::default())),
            },
        ],
        ..Default::default()
    };
    let e = batch(&bad_batch).unwrap_err().to_string();
    assert!(e.contains("operations[1].delete_points.points"), "{e}");
}

#[test]
fn update_results() {
    let r = update_result_out(&UpdateResult {
        operation_id: 9,
        status: UpdateStatus::Completed,
    });
    assert_eq!(
        (r.operation_id, r.status),
        (Some(9), pb::UpdateStatus::Completed as i32)
    );
}
