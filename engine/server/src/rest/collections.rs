//! Collection, alias and payload index endpoints.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;

use super::{ok, wait_flag, AppState, Body};
use crate::convert::rest::{collections as conv, output};
use crate::error::{ApiError, ApiResult};

pub(crate) async fn list(State(s): State<AppState>) -> Response {
    let started = Instant::now();
    let names = s.api.list_collections().await;
    ok(
        json!({"collections": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}),
        started,
    )
}

pub(crate) async fn get(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    let started = Instant::now();
    let info = s.api.collection_info(name).await?;
    Ok(ok(output::collection_info(&info), started))
}

pub(crate) async fn create(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Body(body): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let config = conv::create_body(&body)?;
    s.api.create_collection(name, config).await?;
    Ok(ok(json!(true), started))
}

pub(crate) async fn update(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Body(body): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let diff = conv::update_body(&body)?;
    s.api.update_collection(name, diff).await?;
    Ok(ok(json!(true), started))
}

pub(crate) async fn delete(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    let started = Instant::now();
    let deleted = s.api.delete_collection(name).await?;
    Ok(ok(json!(deleted), started))
}

pub(crate) async fn exists(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let started = Instant::now();
    ok(json!({"exists": s.api.collection_exists(&name).await}), started)
}

fn alias_list(pairs: Vec<(String, String)>) -> serde_json::Value {
    json!({"aliases": pairs.into_iter().map(|(a, c)| json!({"alias_name": a, "collection_name": c})).collect::<Vec<_>>()})
}

pub(crate) async fn update_aliases(State(s): State<AppState>, Body(body): Body) -> ApiResult<Response> {
    let started = Instant::now();
    let ops = conv::alias_actions(&body)?;
    s.api.update_aliases(ops).await?;
    Ok(ok(json!(true), started))
}

pub(crate) async fn list_aliases(State(s): State<AppState>) -> Response {
    let started = Instant::now();
    ok(alias_list(s.api.list_aliases().await), started)
}

pub(crate) async fn collection_aliases(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let started = Instant::now();
    Ok(ok(alias_list(s.api.collection_aliases(name).await?), started))
}

pub(crate) async fn cluster_info(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    let started = Instant::now();
    let layout = s.api.shard_layout(name).await?;
    let state = |r: quiver_cluster::metadata::ReplicaState| format!("{r:?}");
    let local: Vec<_> = layout
        .local
        .iter()
        .map(|(id, points, r)| {
            json!({"shard_id": id, "shard_key": layout.keys.get(id), "points_count": points, "state": state(*r)})
        })
        .collect();
    let remote: Vec<_> = layout
        .remote
        .iter()
        .map(|(id, peer, r)| {
            json!({"shard_id": id, "shard_key": layout.keys.get(id), "peer_id": peer, "state": state(*r)})
        })
        .collect();
    let transfers: Vec<_> = layout
        .transfers
        .iter()
        .map(|t| {
            json!({"shard_id": t.shard_id, "from": t.from, "to": t.to, "sync": false, "method": t.method})
        })
        .collect();
    Ok(ok(
        json!({"peer_id": layout.peer_id, "shard_count": layout.shard_count, "local_shards": local,
               "remote_shards": remote, "shard_transfers": transfers}),
        started,
    ))
}

/// Qdrant's `POST /collections/{c}/cluster`: move, replicate or drop a shard replica, or abort
/// a transfer (cluster mode).
pub(crate) async fn update_cluster(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Body(body): Body,
) -> ApiResult<Response> {
    use crate::cluster::coordinator::{transfer_method, ReplicaChange};
    let started = Instant::now();
    if let Some(done) = super::shard_keys::cluster_operation(&s, &name, &body).await {
        done?;
        return Ok(ok(json!(true), started));
    }
    let Some(d) = s.api.distributed() else {
        return Err(ApiError::invalid("cluster operations need cluster mode"));
    };
    let field = |op: &serde_json::Value, key: &str, path: &str| -> ApiResult<u64> {
        op.get(key)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| ApiError::invalid(format!("{path}.{key}: a non-negative integer is required")))
    };
    let shard = |op: &serde_json::Value, path: &str| -> ApiResult<u32> {
        u32::try_from(field(op, "shard_id", path)?)
            .map_err(|_| ApiError::invalid(format!("{path}.shard_id: out of range")))
    };
    let method = |op: &serde_json::Value, path: &str| -> ApiResult<_> {
        match op.get("method") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(m)) => transfer_method(m, &format!("{path}.method")).map(Some),
            Some(_) => Err(ApiError::invalid(format!("{path}.method: a string is required"))),
        }
    };
    let change = if let Some(op) = body.get("move_shard") {
        ReplicaChange::Move {
            shard: shard(op, "move_shard")?,
            from: field(op, "from_peer_id", "move_shard")?,
            to: field(op, "to_peer_id", "move_shard")?,
            method: method(op, "move_shard")?,
        }
    } else if let Some(op) = body.get("replicate_shard") {
        ReplicaChange::Replicate {
            shard: shard(op, "replicate_shard")?,
            to: field(op, "to_peer_id", "replicate_shard")?,
            method: method(op, "replicate_shard")?,
        }
    } else if let Some(op) = body.get("abort_transfer") {
        ReplicaChange::Abort {
            shard: shard(op, "abort_transfer")?,
            to: field(op, "to_peer_id", "abort_transfer")?,
        }
    } else if let Some(op) = body.get("drop_replica") {
        ReplicaChange::Drop {
            shard: shard(op, "drop_replica")?,
            peer: field(op, "peer_id", "drop_replica")?,
        }
    } else {
        return Err(ApiError::invalid(
            "expected one of move_shard, replicate_shard, abort_transfer, drop_replica, create_sharding_key, drop_sharding_key",
        ));
    };
    d.change_replicas(name, change).await?;
    Ok(ok(json!(true), started))
}

/// Qdrant's `DELETE /cluster/peer/{id}` (`force=true` even while it holds replicas).
pub(crate) async fn remove_peer(
    State(s): State<AppState>,
    Path(peer): Path<u64>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let started = Instant::now();
    let Some(d) = s.api.distributed() else {
        return Err(ApiError::invalid("removing a peer needs cluster mode"));
    };
    let force = q.get("force").is_some_and(|v| v == "true");
    d.remove_peer(peer, force).await?;
    Ok(ok(json!(true), started))
}

/// Quiver's own: every replica of the collection with its state and fingerprint (cluster mode).
pub(crate) async fn replica_reports(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let started = Instant::now();
    let Some(d) = s.api.distributed() else {
        return Err(crate::error::ApiError::invalid(
            "replica reports exist in cluster mode only",
        ));
    };
    let reports = d.replica_reports(name).await?;
    Ok(ok(json!(reports), started))
}

pub(crate) async fn create_index(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Body(body): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    wait_flag(&q)?;
    let (field, schema) = conv::create_index(&body)?;
    let r = s.api.create_payload_index(name, field, schema).await?;
    Ok(ok(output::update_result(&r), started))
}

pub(crate) async fn delete_index(
    State(s): State<AppState>,
    Path((name, field)): Path<(String, String)>,
) -> ApiResult<Response> {
    let started = Instant::now();
    let r = s.api.delete_payload_index(name, field).await?;
    Ok(ok(output::update_result(&r), started))
}
