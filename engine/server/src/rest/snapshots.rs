//! Snapshot routes (Qdrant's `/snapshots...`, `/collections/{name}/snapshots...` and
//! `/collections/{name}/shards/{shard}/snapshots...`).

use std::time::Instant;

use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use futures_util::TryStreamExt;

use super::{ok, AppState, Body};
use crate::api::{SnapshotPriority, SnapshotScope};
use crate::error::{ApiError, ApiResult};
use crate::snapshot_store::save_stream;
use quiver_types::ShardId;

pub(crate) async fn create(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    let started = Instant::now();
    let d = s.api.create_snapshot(Some(name)).await?;
    Ok(ok(json!(d), started))
}

pub(crate) async fn list(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    let started = Instant::now();
    let all = s.api.list_snapshots(Some(name)).await?;
    Ok(ok(json!(all), started))
}

pub(crate) async fn download(
    State(s): State<AppState>,
    Path((name, snapshot)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(octets(s.api.snapshot_stream(Some(name), snapshot).await?))
}

pub(crate) async fn delete(
    State(s): State<AppState>,
    Path((name, snapshot)): Path<(String, String)>,
) -> ApiResult<Response> {
    let started = Instant::now();
    s.api.delete_snapshot(Some(name), snapshot).await?;
    Ok(ok(json!(true), started))
}

/// `POST /snapshots`: every collection and the aliases in one archive.
pub(crate) async fn create_full(State(s): State<AppState>) -> ApiResult<Response> {
    let started = Instant::now();
    let d = s.api.create_snapshot(None).await?;
    Ok(ok(json!(d), started))
}

pub(crate) async fn list_full(State(s): State<AppState>) -> ApiResult<Response> {
    let started = Instant::now();
    let all = s.api.list_snapshots(None).await?;
    Ok(ok(json!(all), started))
}

pub(crate) async fn download_full(
    State(s): State<AppState>,
    Path(snapshot): Path<String>,
) -> ApiResult<Response> {
    Ok(octets(s.api.snapshot_stream(None, snapshot).await?))
}

pub(crate) async fn delete_full(
    State(s): State<AppState>,
    Path(snapshot): Path<String>,
) -> ApiResult<Response> {
    let started = Instant::now();
    s.api.delete_snapshot(None, snapshot).await?;
    Ok(ok(json!(true), started))
}

/// An archive as a download, streamed.
fn octets(stream: crate::snapshot_store::ByteStream) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// An archive named by `location` (`file://`, `http://`, `s3://`) as a local file, and the
/// temporary copy to remove afterwards when it was downloaded.
async fn fetch_location(
    s: &AppState,
    body: &serde_json::Value,
) -> ApiResult<(std::path::PathBuf, Option<std::path::PathBuf>)> {
    let location = body.get("location").and_then(|v| v.as_str()).ok_or_else(|| {
        ApiError::invalid("Wrong input: location: a snapshot location is required".to_string())
    })?;
    if let Some(p) = location.strip_prefix("file://") {
        return Ok((std::path::PathBuf::from(p), None));
    }
    if !(location.starts_with("s3://") || location.starts_with("http://")) {
        return Err(ApiError::invalid(format!(
            "Wrong input: location: file://, http:// and s3:// locations are supported, not {location}"
        )));
    }
    let tmp = temp_archive(s)?;
    let got = if location.starts_with("s3://") {
        s.api.fetch_remote_location(location, tmp.clone()).await
    } else {
        fetch_url(&s.api.http_client()?, location, &tmp).await
    };
    match got {
        Ok(()) => Ok((tmp.clone(), Some(tmp))),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// `checksum` of a recovery request: absent, or a string.
fn checksum_of(body: &serde_json::Value) -> ApiResult<Option<String>> {
    match body.get("checksum") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(c)) => Ok(Some(c.clone())),
        Some(_) => Err(ApiError::invalid(
            "Wrong input: checksum: must be a string".to_string(),
        )),
    }
}

/// `priority` of a recovery: `replica` (default), `snapshot` or `no_sync`.
fn priority_of(v: Option<&str>) -> ApiResult<SnapshotPriority> {
    match v {
        None | Some("replica") => Ok(SnapshotPriority::Replica),
        Some("snapshot") => Ok(SnapshotPriority::Snapshot),
        Some("no_sync") => Ok(SnapshotPriority::NoSync),
        Some(other) => Err(ApiError::invalid(format!(
            "Wrong input: priority: expected replica, snapshot or no_sync, got {other:?}"
        ))),
    }
}

/// `PUT /collections/{name}/snapshots/recover` with `{"location": "file:///...", "checksum": ...}`.
pub(crate) async fn recover(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Body(body): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let checksum = checksum_of(&body)?;
    let (path, fetched) = fetch_location(&s, &body).await?;
    let result = s.api.recover_snapshot(name, path, checksum).await;
    if let Some(tmp) = fetched {
        let _ = std::fs::remove_file(tmp);
    }
    result?;
    Ok(ok(json!(true), started))
}

/// `PUT /collections/{name}/shards/{shard}/snapshots/recover` with `location`, `checksum` and
/// `priority`.
pub(crate) async fn recover_shard(
    State(s): State<AppState>,
    Path((name, shard)): Path<(String, ShardId)>,
    Body(body): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let checksum = checksum_of(&body)?;
    let priority = priority_of(body.get("priority").and_then(|v| v.as_str()))?;
    let (path, fetched) = fetch_location(&s, &body).await?;
    let result = s
        .api
        .recover_shard_snapshot(name, shard, path, checksum, priority)
        .await;
    if let Some(tmp) = fetched {
        let _ = std::fs::remove_file(tmp);
    }
    result?;
    Ok(ok(json!(true), started))
}

/// Query of the snapshot uploads (`wait` is accepted and needs nothing: recovery is done
/// before the answer).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct UploadQuery {
    checksum: Option<String>,
    priority: Option<String>,
}

/// The multipart field `snapshot`, written to a temporary file as it arrives.
async fn receive_upload(s: &AppState, mut form: Multipart) -> ApiResult<std::path::PathBuf> {
    let tmp = temp_archive(s)?;
    let interrupted = |e| ApiError::invalid(format!("Wrong input: snapshot: upload interrupted: {e}"));
    let received = async {
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| ApiError::invalid(format!("Wrong input: snapshot: bad multipart body: {e}")))?
        {
            if field.name() == Some("snapshot") {
                let chunks = Box::pin(field.map_err(std::io::Error::other));
                return save_stream(chunks, &tmp, interrupted).await;
            }
        }
        Err(ApiError::invalid(
            "Wrong input: snapshot: the form has no `snapshot` file".to_string(),
        ))
    }
    .await;
    match received {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// `POST /collections/{name}/snapshots/upload` (multipart, field `snapshot`): the archive is
/// received, recovered from, and removed.
pub(crate) async fn upload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<UploadQuery>,
    form: Multipart,
) -> ApiResult<Response> {
    let started = Instant::now();
    priority_of(q.priority.as_deref())?;
    let tmp = receive_upload(&s, form).await?;
    let result = s.api.recover_snapshot(name, tmp.clone(), q.checksum).await;
    let _ = std::fs::remove_file(&tmp);
    result?;
    Ok(ok(json!(true), started))
}

/// `POST /collections/{name}/shards/{shard}/snapshots/upload`.
pub(crate) async fn upload_shard(
    State(s): State<AppState>,
    Path((name, shard)): Path<(String, ShardId)>,
    Query(q): Query<UploadQuery>,
    form: Multipart,
) -> ApiResult<Response> {
    let started = Instant::now();
    let priority = priority_of(q.priority.as_deref())?;
    let tmp = receive_upload(&s, form).await?;
    let result = s
        .api
        .recover_shard_snapshot(name, shard, tmp.clone(), q.checksum, priority)
        .await;
    let _ = std::fs::remove_file(&tmp);
    result?;
    Ok(ok(json!(true), started))
}

pub(crate) async fn create_shard(
    State(s): State<AppState>,
    Path((name, shard)): Path<(String, ShardId)>,
) -> ApiResult<Response> {
    let started = Instant::now();
    let d = s.api.create_snapshot(SnapshotScope::Shard(name, shard)).await?;
    Ok(ok(json!(d), started))
}

pub(crate) async fn list_shard(
    State(s): State<AppState>,
    Path((name, shard)): Path<(String, ShardId)>,
) -> ApiResult<Response> {
    let started = Instant::now();
    let all = s.api.list_snapshots(SnapshotScope::Shard(name, shard)).await?;
    Ok(ok(json!(all), started))
}

pub(crate) async fn download_shard(
    State(s): State<AppState>,
    Path((name, shard, snapshot)): Path<(String, ShardId, String)>,
) -> ApiResult<Response> {
    Ok(octets(
        s.api
            .snapshot_stream(SnapshotScope::Shard(name, shard), snapshot)
            .await?,
    ))
}

pub(crate) async fn delete_shard(
    State(s): State<AppState>,
    Path((name, shard, snapshot)): Path<(String, ShardId, String)>,
) -> ApiResult<Response> {
    let started = Instant::now();
    s.api
        .delete_snapshot(SnapshotScope::Shard(name, shard), snapshot)
        .await?;
    Ok(ok(json!(true), started))
}

/// A fresh path for an archive in transit (upload or download), under `snapshots/.uploads/`,
/// which the catalog empties at start.
fn temp_archive(s: &AppState) -> ApiResult<std::path::PathBuf> {
    let dir = s.api.catalog().full_snapshots_dir().join(".uploads");
    std::fs::create_dir_all(&dir)
        .map_err(|e| ApiError::Internal(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir.join(format!("{}.snapshot", uuid::Uuid::new_v4())))
}

/// Streams `url` into `to`; a status other than 200, or a broken transfer, is a 400 naming the
/// location.
async fn fetch_url(client: &reqwest::Client, url: &str, to: &std::path::Path) -> ApiResult<()> {
    let bad = |why: String| ApiError::invalid(format!("Wrong input: location: cannot download {url}: {why}"));
    let resp = client.get(url).send().await.map_err(|e| bad(e.to_string()))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(bad(format!("HTTP {}", resp.status())));
    }
    let chunks = futures_util::stream::try_unfold(resp, |mut resp| async move {
        let chunk = resp.chunk().await.map_err(std::io::Error::other)?;
        Ok(chunk.map(|c| (c, resp)))
    });
    save_stream(Box::pin(chunks), to, |e| bad(e.to_string())).await
}
