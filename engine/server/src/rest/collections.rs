//! Collection, alias and payload index endpoints.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;

use super::{ok, wait_flag, AppState, Body};
use crate::convert::rest::{collections as conv, output};
use crate::error::ApiResult;

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
        .map(|(id, points, r)| json!({"shard_id": id, "points_count": points, "state": state(*r)}))
        .collect();
    let remote: Vec<_> = layout
        .remote
        .iter()
        .map(|(id, peer, r)| json!({"shard_id": id, "peer_id": peer, "state": state(*r)}))
        .collect();
    Ok(ok(
        json!({"peer_id": layout.peer_id, "shard_count": layout.shard_count, "local_shards": local,
               "remote_shards": remote, "shard_transfers": []}),
        started,
    ))
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
