//! Shard keys of custom-sharded collections: `PUT /collections/{c}/shards`,
//! `POST /collections/{c}/shards/delete`, `GET /collections/{c}/shards` (and the same two
//! changes as `create_sharding_key` / `drop_sharding_key` of `POST /collections/{c}/cluster`).

use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::{ok, AppState, Body};
use crate::convert::rest::json as j;
use crate::convert::rest::routing::shard_key;
use crate::error::ApiResult;

/// Creates the shard key described by `spec` (the body, or `create_sharding_key` at `path`).
pub(crate) async fn create_from(s: &AppState, name: String, spec: &Value, path: &str) -> ApiResult<()> {
    let key_path = j::join(path, "shard_key");
    let key = j::field(spec, "shard_key").ok_or_else(|| j::bad(&key_path, "is required"))?;
    let key = shard_key(key, &key_path)?;
    let small = |field: &str| -> ApiResult<Option<u32>> {
        j::opt_unsigned(spec, field, path)?
            .map(|n| u32::try_from(n).map_err(|_| j::bad(&j::join(path, field), "out of range")))
            .transpose()
    };
    let shards = small("shards_number")?;
    let replication = small("replication_factor")?;
    let placement = match j::field(spec, "placement") {
        None => None,
        Some(v) => {
            let p = j::join(path, "placement");
            Some(
                j::array(v, &p)?
                    .iter()
                    .enumerate()
                    .map(|(i, n)| j::unsigned(n, &j::index(&p, i)))
                    .collect::<ApiResult<Vec<u64>>>()?,
            )
        }
    };
    s.api
        .create_shard_key(name, key, shards, replication, placement)
        .await
}

/// Deletes the shard key `spec` names.
pub(crate) async fn delete_from(s: &AppState, name: String, spec: &Value, path: &str) -> ApiResult<()> {
    let key_path = j::join(path, "shard_key");
    let key = j::field(spec, "shard_key").ok_or_else(|| j::bad(&key_path, "is required"))?;
    s.api.delete_shard_key(name, shard_key(key, &key_path)?).await
}

pub(crate) async fn create(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    create_from(&s, name, &b, "").await?;
    Ok(ok(json!(true), started))
}

pub(crate) async fn delete(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    delete_from(&s, name, &b, "").await?;
    Ok(ok(json!(true), started))
}

pub(crate) async fn list(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    let started = Instant::now();
    let keys = s.api.list_shard_keys(name).await?;
    let keys: Vec<Value> = keys.iter().map(|k| json!({ "key": k })).collect();
    Ok(ok(json!({ "shard_keys": keys }), started))
}

/// `POST /collections/{c}/cluster` with `create_sharding_key` or `drop_sharding_key`; `None`
/// when the body holds neither.
pub(crate) async fn cluster_operation(s: &AppState, name: &str, body: &Value) -> Option<ApiResult<()>> {
    if let Some(spec) = body.get("create_sharding_key") {
        return Some(create_from(s, name.to_string(), spec, "create_sharding_key").await);
    }
    if let Some(spec) = body.get("drop_sharding_key") {
        return Some(delete_from(s, name.to_string(), spec, "drop_sharding_key").await);
    }
    None
}
