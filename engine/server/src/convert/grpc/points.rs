//! Point updates: every request of the Points service that changes points, and every kind of
//! `PointsUpdateOperation` of a batch, -> one [`UpdateOperation`]; update results -> the wire.
//!
//! Conditional updates (`update_filter`, `update_mode` other than upsert) and shard keys are refused
//! with a message naming the field instead of being silently ignored.

use std::collections::HashMap;

use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::points_update_operation::Operation;
use quiver_collection::{UpdateResult, UpdateStatus};
use quiver_types::{PointRecord, UpdateOperation};

use super::ids::{points_selector, required_id, selector};
use super::payload::{json_path, json_paths, object};
use super::routing::shard_keys;
use super::vectors::vectors;
use super::{bad, index, join};
use crate::error::ApiResult;

/// Refuses what the engine cannot do yet rather than doing something else.
fn plain_upsert(update_filter: &Option<pb::Filter>, update_mode: Option<i32>, path: &str) -> ApiResult<()> {
    if update_filter.is_some() {
        return Err(bad(
            &join(path, "update_filter"),
            "conditional updates are not supported yet",
        ));
    }
    match update_mode {
        Some(m) if m != pb::UpdateMode::Upsert as i32 => Err(bad(
            &join(path, "update_mode"),
            "only the default mode (upsert) is supported yet",
        )),
        _ => Ok(()),
    }
}

fn points(list: &[pb::PointStruct], path: &str) -> ApiResult<UpdateOperation> {
    let pp = join(path, "points");
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            let ip = index(&pp, i);
            Ok(PointRecord {
                id: required_id(&p.id, &ip, "id")?,
                vectors: vectors(&p.vectors, &join(&ip, "vectors"))?,
                payload: object(&p.payload, &join(&ip, "payload"))?,
            })
        })
        .collect::<ApiResult<_>>()
        .map(UpdateOperation::Upsert)
}

pub fn upsert(req: &pb::UpsertPoints) -> ApiResult<UpdateOperation> {
    shard_keys(&req.shard_key_selector, "")?;
    plain_upsert(&req.update_filter, req.update_mode, "")?;
    points(&req.points, "")
}

pub fn delete(req: &pb::DeletePoints) -> ApiResult<UpdateOperation> {
    shard_keys(&req.shard_key_selector, "")?;
    Ok(UpdateOperation::Delete(selector(&req.points, "", "points")?))
}

fn point_vectors(list: &[pb::PointVectors], path: &str) -> ApiResult<UpdateOperation> {
    let pp = join(path, "points");
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            let ip = index(&pp, i);
            let id = required_id(&p.id, &ip, "id")?;
            if p.vectors.is_none() {
                return Err(bad(&join(&ip, "vectors"), "is required"));
            }
            Ok((id, vectors(&p.vectors, &join(&ip, "vectors"))?))
        })
        .collect::<ApiResult<_>>()
        .map(UpdateOperation::UpdateVectors)
}

pub fn update_vectors(req: &pb::UpdatePointVectors) -> ApiResult<UpdateOperation> {
    shard_keys(&req.shard_key_selector, "")?;
    plain_upsert(&req.update_filter, None, "")?;
    point_vectors(&req.points, "")
}

fn names(v: &Option<pb::VectorsSelector>, path: &str) -> ApiResult<Vec<String>> {
    v.as_ref().map(|s| s.names.clone()).ok_or_else(|| {
        bad(
            &join(path, "vectors"),
            "is required (the names of the vectors to delete)",
        )
    })
}

pub fn delete_vectors(req: &pb::DeletePointVectors) -> ApiResult<UpdateOperation> {
    shard_keys(&req.shard_key_selector, "")?;
    Ok(UpdateOperation::DeleteVectors {
        selector: selector(&req.points_selector, "", "points_selector")?,
        names: names(&req.vectors, "")?,
    })
}

fn set(
    payload: &HashMap<String, pb::Value>,
    sel: &Option<pb::PointsSelector>,
    key: &Option<String>,
    path: &str,
) -> ApiResult<UpdateOperation> {
    Ok(UpdateOperation::SetPayload {
        selector: selector(sel, path, "points_selector")?,
        payload: object(payload, &join(path, "payload"))?,
        key: key
            .as_ref()
            .map(|k| json_path(k, &join(path, "key")))
            .transpose()?,
    })
}

fn overwrite(
    payload: &HashMap<String, pb::Value>,
    sel: &Option<pb::PointsSelector>,
    key: &Option<String>,
    path: &str,
) -> ApiResult<UpdateOperation> {
    if key.is_some() {
        return Err(bad(
            &join(path, "key"),
            "overwriting the payload under a key is not supported yet: use set_payload with a key",
        ));
    }
    Ok(UpdateOperation::OverwritePayload {
        selector: selector(sel, path, "points_selector")?,
        payload: object(payload, &join(path, "payload"))?,
    })
}

pub fn set_payload(req: &pb::SetPayloadPoints) -> ApiResult<UpdateOperation> {
    shard_keys(&req.shard_key_selector, "")?;
    set(&req.payload, &req.points_selector, &req.key, "")
}

pub fn overwrite_payload(req: &pb::SetPayloadPoints) -> ApiResult<UpdateOperation> {
    shard_keys(&req.shard_key_selector, "")?;
    overwrite(&req.payload, &req.points_selector, &req.key, "")
}

pub fn delete_payload(req: &pb::DeletePayloadPoints) -> ApiResult<UpdateOperation> {
    shard_keys(&req.shard_key_selector, "")?;
    Ok(UpdateOperation::DeletePayload {
        selector: selector(&req.points_selector, "", "points_selector")?,
        keys: json_paths(&req.keys, "keys")?,
    })
}

pub fn clear_payload(req: &pb::ClearPayloadPoints) -> ApiResult<UpdateOperation> {
    shard_keys(&req.shard_key_selector, "")?;
    Ok(UpdateOperation::ClearPayload(selector(
        &req.points,
        "",
        "points",
    )?))
}

/// One operation of `UpdateBatch`, at `path` (`operations[i]`).
#[allow(deprecated)] // The deprecated delete/clear forms are still sent by older clients.
pub fn batch_operation(op: &pb::PointsUpdateOperation, path: &str) -> ApiResult<UpdateOperation> {
    match &op.operation {
        Some(Operation::Upsert(u)) => {
            let p = join(path, "upsert");
            shard_keys(&u.shard_key_selector, &p)?;
            plain_upsert(&u.update_filter, u.update_mode, &p)?;
            points(&u.points, &p)
        }
        Some(Operation::DeleteDeprecated(s)) => Ok(UpdateOperation::Delete(points_selector(
            s,
            &join(path, "delete_deprecated"),
        )?)),
        Some(Operation::DeletePoints(d)) => {
            let p = join(path, "delete_points");
            shard_keys(&d.shard_key_selector, &p)?;
            Ok(UpdateOperation::Delete(selector(&d.points, &p, "points")?))
        }
        Some(Operation::SetPayload(s)) => {
            let p = join(path, "set_payload");
            shard_keys(&s.shard_key_selector, &p)?;
            set(&s.payload, &s.points_selector, &s.key, &p)
        }
        Some(Operation::OverwritePayload(s)) => {
            let p = join(path, "overwrite_payload");
            shard_keys(&s.shard_key_selector, &p)?;
            overwrite(&s.payload, &s.points_selector, &s.key, &p)
        }
        Some(Operation::DeletePayload(d)) => {
            let p = join(path, "delete_payload");
            shard_keys(&d.shard_key_selector, &p)?;
            Ok(UpdateOperation::DeletePayload {
                selector: selector(&d.points_selector, &p, "points_selector")?,
                keys: json_paths(&d.keys, &join(&p, "keys"))?,
            })
        }
        Some(Operation::ClearPayloadDeprecated(s)) => Ok(UpdateOperation::ClearPayload(points_selector(
            s,
            &join(path, "clear_payload_deprecated"),
        )?)),
        Some(Operation::ClearPayload(c)) => {
            let p = join(path, "clear_payload");
            shard_keys(&c.shard_key_selector, &p)?;
            Ok(UpdateOperation::ClearPayload(selector(&c.points, &p, "points")?))
        }
        Some(Operation::UpdateVectors(u)) => {
            let p = join(path, "update_vectors");
            shard_keys(&u.shard_key_selector, &p)?;
            plain_upsert(&u.update_filter, None, &p)?;
            point_vectors(&u.points, &p)
        }
        Some(Operation::DeleteVectors(d)) => {
            let p = join(path, "delete_vectors");
            shard_keys(&d.shard_key_selector, &p)?;
            Ok(UpdateOperation::DeleteVectors {
                selector: selector(&d.points_selector, &p, "points_selector")?,
                names: names(&d.vectors, &p)?,
            })
        }
        None => Err(bad(path, "empty operation")),
    }
}

pub fn batch(req: &pb::UpdateBatchPoints) -> ApiResult<Vec<UpdateOperation>> {
    req.operations
        .iter()
        .enumerate()
        .map(|(i, op)| batch_operation(op, &index("operations", i)))
        .collect()
}

pub fn update_result_out(r: &UpdateResult) -> pb::UpdateResult {
    let status = match r.status {
        UpdateStatus::Acknowledged => pb::UpdateStatus::Acknowledged,
        UpdateStatus::Completed => pb::UpdateStatus::Completed,
    };
    pb::UpdateResult {
        operation_id: Some(r.operation_id),
        status: status as i32,
    }
}

#[cfg(test)]
#[path = "points_tests.rs"]
mod tests;
