//! The REST surface (axum) on Qdrant's paths, answering in Qdrant's envelope
//! `{"result": ..., "status": "ok", "time": seconds}`.

mod admin;
mod collections;
mod points;
mod service;
mod shard_keys;
mod snapshots;

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::Api;
use crate::error::{ApiError, ApiResult};
use crate::settings::Settings;

/// Shared state of the handlers.
#[derive(Clone)]
pub(crate) struct AppState {
    pub api: Api,
}

/// Wraps a result in Qdrant's envelope.
pub(crate) fn ok(result: Value, started: Instant) -> Response {
    Json(json!({"result": result, "status": "ok", "time": started.elapsed().as_secs_f64()})).into_response()
}

/// A JSON body; malformed or oversized bodies become Qdrant-shaped errors.
pub(crate) struct Body(pub Value);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(format!(
                    "Payload error: request body is larger than the limit ({e})"
                ))
            } else {
                ApiError::invalid(format!("Payload error: {e}"))
            }
        })?;
        if bytes.is_empty() {
            return Ok(Body(Value::Object(Default::default())));
        }
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| ApiError::invalid(format!("Json deserialize error: {e}")))
    }
}

/// `?wait=true` (Qdrant's default for REST is false), checking the write's other parameter,
/// `ordering`, on the way: `weak`, `medium` and `strong` are all honoured as strong, since each
/// shard's primary orders every write.
pub(crate) fn wait_flag(q: &HashMap<String, String>) -> ApiResult<bool> {
    if let Some(other) = q
        .get("ordering")
        .filter(|o| !matches!(o.as_str(), "weak" | "medium" | "strong"))
    {
        return Err(ApiError::invalid(format!(
            "Query deserialize error: ordering: unknown variant `{other}`, expected one of `weak`, `medium`, `strong`"
        )));
    }
    match q.get("wait").map(String::as_str) {
        None => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(ApiError::invalid(format!(
            "Query deserialize error: wait: `{other}` is not a boolean"
        ))),
    }
}

async fn check_api_key(key: Option<String>, headers: HeaderMap, req: Request, next: Next) -> Response {
    if let Some(expected) = key {
        let given = headers
            .get("api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| {
                headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
            });
        let open = matches!(req.uri().path(), "/healthz" | "/livez" | "/readyz");
        if !open && given.as_deref() != Some(expected.as_str()) {
            return ApiError::Unauthorized("Must provide an API key or an Authorization bearer token".into())
                .into_response();
        }
    }
    next.run(req).await
}

async fn fallback() -> ApiError {
    ApiError::NotFound("Not found: no such endpoint".into())
}

/// Every REST route.
pub fn router(api: Api, settings: &Settings) -> Router {
    let key = settings.service.api_key.clone();
    let limit = settings.service.max_request_size_mb.max(1) << 20;
    let c = "/collections/{name}";
    Router::new()
        .route("/", get(service::root))
        .route("/healthz", get(service::healthz))
        .route("/livez", get(service::healthz))
        .route("/readyz", get(service::readyz))
        .route("/quiver/node", get(service::node_status))
        .route("/quiver/cluster/leader", post(admin::transfer_leader))
        .route("/quiver/cluster/peers/{peer}/promote", post(admin::promote))
        .route("/quiver/cluster/peers/{peer}/demote", post(admin::demote))
        .route("/quiver/cluster/peers/{peer}/drain", post(admin::drain))
        .route("/cluster", get(service::cluster))
        .route("/telemetry", get(service::telemetry))
        .route("/metrics", get(service::metrics))
        .route("/collections", get(collections::list))
        .route("/collections/aliases", post(collections::update_aliases))
        .route("/aliases", get(collections::list_aliases))
        .route(
            c,
            get(collections::get)
                .put(collections::create)
                .patch(collections::update)
                .delete(collections::delete),
        )
        .route(&format!("{c}/exists"), get(collections::exists))
        .route(&format!("{c}/aliases"), get(collections::collection_aliases))
        .route(
            &format!("{c}/cluster"),
            get(collections::cluster_info).post(collections::update_cluster),
        )
        .route(
            &format!("{c}/shards"),
            get(shard_keys::list).put(shard_keys::create),
        )
        .route(&format!("{c}/shards/delete"), post(shard_keys::delete))
        .route(
            &format!("{c}/shards/{{shard}}/snapshots"),
            get(snapshots::list_shard).post(snapshots::create_shard),
        )
        .route(
            &format!("{c}/shards/{{shard}}/snapshots/recover"),
            put(snapshots::recover_shard),
        )
        .route(
            &format!("{c}/shards/{{shard}}/snapshots/upload"),
            post(snapshots::upload_shard).layer(DefaultBodyLimit::disable()),
        )
        .route(
            &format!("{c}/shards/{{shard}}/snapshots/{{snapshot}}"),
            get(snapshots::download_shard).delete(snapshots::delete_shard),
        )
        .route("/cluster/peer/{peer}", delete(collections::remove_peer))
        .route(
            "/quiver/collections/{name}/replicas",
            get(collections::replica_reports),
        )
        .route(
            "/snapshots",
            get(snapshots::list_full).post(snapshots::create_full),
        )
        .route(
            "/snapshots/{snapshot}",
            get(snapshots::download_full).delete(snapshots::delete_full),
        )
        .route(
            &format!("{c}/snapshots"),
            get(snapshots::list).post(snapshots::create),
        )
        .route(&format!("{c}/snapshots/recover"), put(snapshots::recover))
        // Archives are as large as the data: no body limit here.
        .route(
            &format!("{c}/snapshots/upload"),
            post(snapshots::upload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            &format!("{c}/snapshots/{{snapshot}}"),
            get(snapshots::download).delete(snapshots::delete),
        )
        .route(&format!("{c}/index"), put(collections::create_index))
        .route(&format!("{c}/index/{{field}}"), delete(collections::delete_index))
        .route(&format!("{c}/points"), put(points::upsert).post(points::retrieve))
        .route(&format!("{c}/points/{{id}}"), get(points::get_one))
        .route(&format!("{c}/points/delete"), post(points::delete))
        .route(&format!("{c}/points/vectors"), put(points::update_vectors))
        .route(
            &format!("{c}/points/vectors/delete"),
            post(points::delete_vectors),
        )
        .route(
            &format!("{c}/points/payload"),
            post(points::set_payload).put(points::overwrite_payload),
        )
        .route(
            &format!("{c}/points/payload/delete"),
            post(points::delete_payload),
        )
        .route(&format!("{c}/points/payload/clear"), post(points::clear_payload))
        .route(&format!("{c}/points/batch"), post(points::batch))
        .route(&format!("{c}/points/scroll"), post(points::scroll))
        .route(&format!("{c}/points/count"), post(points::count))
        .route(&format!("{c}/points/search"), post(points::search))
        .route(&format!("{c}/points/search/batch"), post(points::search_batch))
        .route(&format!("{c}/points/query"), post(points::query))
        .route(&format!("{c}/points/query/batch"), post(points::query_batch))
        .fallback(fallback)
        // Inside the API key check: only an authorised client's oversized body is read.
        .layer(axum::middleware::from_fn(move |req: Request, next: Next| {
            reject_oversized(limit, req, next)
        }))
        .layer(axum::middleware::from_fn(
            move |headers: HeaderMap, req: Request, next: Next| {
                check_api_key(key.clone(), headers, req, next)
            },
        ))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(AppState { api })
}

/// A body announced larger than `limit` is refused with 413, but read (and dropped) first, up to
/// a few times the limit: a server that answers before the client has finished sending makes
/// the client see a reset connection instead of the answer.
async fn reject_oversized(limit: usize, req: Request, next: Next) -> Response {
    let announced = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Snapshot uploads are as large as the data they restore.
    let unlimited = req.uri().path().ends_with("/snapshots/upload");
    let Some(len) = announced.filter(|&n| n > limit as u64 && !unlimited) else {
        return next.run(req).await;
    };
    let drain_cap = limit.saturating_mul(4).min(256 << 20);
    if len <= drain_cap as u64 {
        let _ = axum::body::to_bytes(req.into_body(), drain_cap).await;
    }
    ApiError::TooLarge(format!(
        "Payload error: request body is larger than the limit ({len} bytes, limit {limit})"
    ))
    .into_response()
}
