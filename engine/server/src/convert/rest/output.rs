//! Engine results -> Qdrant's REST JSON shapes.

use quiver_collection::{CollectionInfo, UpdateResult, UpdateStatus};
use quiver_types::{NamedVectors, PointId, Record, ScoredPoint, VectorData};
use serde_json::{json, Value};

pub fn point_id(id: &PointId) -> Value {
    match id {
        PointId::Num(n) => json!(n),
        PointId::Uuid(u) => json!(u.to_string()),
    }
}

fn vector_data(v: &VectorData) -> Value {
    match v {
        VectorData::Dense(d) => json!(d),
        VectorData::Sparse(s) => json!({"indices": s.indices, "values": s.values}),
    }
}

/// The unnamed vector alone is a plain list; named vectors are an object.
pub fn vectors(v: &Option<NamedVectors>) -> Value {
    match v {
        None => Value::Null,
        Some(map) if map.len() == 1 && map.contains_key("") => vector_data(&map[""]),
        Some(map) => Value::Object(map.iter().map(|(k, d)| (k.clone(), vector_data(d))).collect()),
    }
}

pub fn scored_point(p: &ScoredPoint) -> Value {
    json!({
        "id": point_id(&p.id),
        "version": p.version,
        "score": p.score,
        "payload": p.payload,
        "vector": vectors(&p.vectors),
        "shard_key": null,
        "order_value": p.order_value,
    })
}

pub fn record(r: &Record) -> Value {
    let order_value = r.order_value.map(|v| {
        if v.fract() == 0.0 && v.abs() < 9e15 {
            json!(v as i64)
        } else {
            json!(v)
        }
    });
    json!({
        "id": point_id(&r.id),
        "payload": r.payload,
        "vector": vectors(&r.vectors),
        "shard_key": null,
        "order_value": order_value,
    })
}

pub fn update_result(r: &UpdateResult) -> Value {
    let status = match r.status {
        UpdateStatus::Completed => "completed",
        UpdateStatus::Acknowledged => "acknowledged",
    };
    json!({"operation_id": r.operation_id, "status": status})
}

pub fn collection_info(info: &CollectionInfo) -> Value {
    let schema: serde_json::Map<String, Value> = info
        .payload_schema
        .iter()
        .map(|(field, (s, points))| {
            let mut entry = json!({"data_type": s.data_type, "points": points});
            if let Some(p) = &s.params {
                entry["params"] = p.clone();
            }
            (field.clone(), entry)
        })
        .collect();
    json!({
        "status": info.status,
        "optimizer_status": match &info.optimizer_error {
            None => json!("ok"),
            Some(e) => json!({"error": e}),
        },
        "indexed_vectors_count": info.indexed_vectors_count,
        "points_count": info.points_count,
        "segments_count": info.segments_count,
        "config": info.config,
        "payload_schema": schema,
    })
}

/// The planner's decisions (`POST /points/query?explain=true`, and the gRPC `x-quiver-explain`
/// answer header).
pub fn explain(stages: &[quiver_collection::StageExplain]) -> Value {
    use quiver_segment::Plan;
    Value::Array(
        stages
            .iter()
            .map(|st| {
                let shards: Vec<Value> = st
                    .shards
                    .iter()
                    .map(|(shard_id, segments)| {
                        let segments: Vec<Value> = segments
                            .iter()
                            .map(|p| {
                                let strategy = match p.plan {
                                    Plan::Exact => "exact_scan",
                                    Plan::Graph { filtered: false } => "hnsw",
                                    Plan::Graph { filtered: true } => "hnsw_filtered",
                                    Plan::ValueGraph => "hnsw_payload_links",
                                    Plan::GraphPostCheck => "hnsw_then_filter",
                                };
                                let e = &p.estimate;
                                let source = match (e.from_index, e.sampled) {
                                    (true, true) => "payload_index+sample",
                                    (true, false) => "payload_index",
                                    (false, true) => "sample",
                                    (false, false) => "none",
                                };
                                json!({
                                    "points": p.points,
                                    "indexed": p.indexed,
                                    "estimated_matches": p.estimate.cardinality.exp,
                                    "estimate": {
                                        "min": e.cardinality.min,
                                        "exp": e.cardinality.exp,
                                        "max": e.cardinality.max,
                                        "source": source,
                                    },
                                    "strategy": strategy,
                                })
                            })
                            .collect();
                        json!({"shard_id": shard_id, "segments": segments})
                    })
                    .collect();
                json!({"stage": st.stage, "using": st.using, "shards": shards})
            })
            .collect(),
    )
}
