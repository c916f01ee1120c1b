//! Collection snapshot routes (Qdrant's `/collections/{name}/snapshots...`).

use std::time::Instant;

use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ok, AppState, Body};
use crate::error::{ApiError, ApiResult};

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

/// `PUT /collections/{name}/snapshots/recover` with `{"location": "file:///...", "checksum": ...}`.
pub(crate) async fn recover(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Body(body): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let location = body.get("location").and_then(|v| v.as_str()).ok_or_else(|| {
        ApiError::invalid("Wrong input: location: a snapshot location is required".to_string())
    })?;
    let mut fetched = None;
    let path = if let Some(p) = location.strip_prefix("file://") {
        std::path::PathBuf::from(p)
    } else if location.starts_with("s3://") || location.starts_with("http://") {
        let dir = s.api.catalog().full_snapshots_dir().join(".uploads");
        std::fs::create_dir_all(&dir)
            .map_err(|e| ApiError::Internal(format!("cannot create {}: {e}", dir.display())))?;
        let tmp = dir.join(format!("{}.snapshot", uuid::Uuid::new_v4()));
        fetched = Some(tmp.clone());
        let got = if location.starts_with("s3://") {
            s.api.fetch_remote_location(location, tmp.clone()).await
        } else {
            fetch_url(location, &tmp).await
        };
        if let Err(e) = got {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        tmp
    } else {
        return Err(ApiError::invalid(format!(
            "Wrong input: location: file://, http:// and s3:// locations are supported, not {location}"
        )));
    };
    let checksum = match body.get("checksum") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(c)) => Some(c.clone()),
        Some(_) => {
            return Err(ApiError::invalid(
                "Wrong input: checksum: must be a string".to_string(),
            ))
        }
    };
    let result = s.api.recover_snapshot(name, path, checksum).await;
    if let Some(tmp) = fetched {
        let _ = std::fs::remove_file(tmp);
    }
    result?;
    Ok(ok(json!(true), started))
}

/// Query of `POST /collections/{name}/snapshots/upload` (`wait` and `priority` are accepted and
/// need nothing: recovery is done before the answer, and this node has no replicas to prefer).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct UploadQuery {
    checksum: Option<String>,
}

/// `POST /collections/{name}/snapshots/upload` (multipart, field `snapshot`): the archive is
/// written to a temporary file as it arrives, recovered from, and removed.
pub(crate) async fn upload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<UploadQuery>,
    mut form: Multipart,
) -> ApiResult<Response> {
    use std::io::Write;
    let started = Instant::now();
    let dir = s.api.catalog().full_snapshots_dir().join(".uploads");
    std::fs::create_dir_all(&dir)
        .map_err(|e| ApiError::Internal(format!("cannot create {}: {e}", dir.display())))?;
    let tmp = dir.join(format!("{}.snapshot", uuid::Uuid::new_v4()));
    let received =
        async {
            let mut file = None;
            while let Some(mut field) = form
                .next_field()
                .await
                .map_err(|e| ApiError::invalid(format!("Wrong input: snapshot: bad multipart body: {e}")))?
            {
                if field.name() != Some("snapshot") {
                    continue;
                }
                let mut out = std::fs::File::create(&tmp)
                    .map_err(|e| ApiError::Internal(format!("cannot create {}: {e}", tmp.display())))?;
                while let Some(chunk) = field.chunk().await.map_err(|e| {
                    ApiError::invalid(format!("Wrong input: snapshot: upload interrupted: {e}"))
                })? {
                    out.write_all(&chunk)
                        .map_err(|e| ApiError::Internal(format!("cannot write {}: {e}", tmp.display())))?;
                }
                out.sync_all()
                    .map_err(|e| ApiError::Internal(format!("cannot sync {}: {e}", tmp.display())))?;
                file = Some(());
            }
            file.ok_or_else(|| {
                ApiError::invalid("Wrong input: snapshot: the form has no `snapshot` file".to_string())
            })
        }
        .await;
    let result = match received {
        Ok(()) => s.api.recover_snapshot(name, tmp.clone(), q.checksum).await,
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&tmp);
    result?;
    Ok(ok(json!(true), started))
}

/// Streams `url` into `to`; a status other than 200 is a 400 naming the location.
async fn fetch_url(url: &str, to: &std::path::Path) -> ApiResult<()> {
    use std::io::Write;
    let bad = |why: String| ApiError::invalid(format!("Wrong input: location: cannot download {url}: {why}"));
    let mut resp = reqwest::get(url).await.map_err(|e| bad(e.to_string()))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(bad(format!("HTTP {}", resp.status())));
    }
    let mut out = std::fs::File::create(to)
        .map_err(|e| ApiError::Internal(format!("cannot create {}: {e}", to.display())))?;
    while let Some(chunk) = resp.chunk().await.map_err(|e| bad(e.to_string()))? {
        out.write_all(&chunk)
            .map_err(|e| ApiError::Internal(format!("cannot write {}: {e}", to.display())))?;
    }
    out.sync_all()
        .map_err(|e| ApiError::Internal(format!("cannot sync {}: {e}", to.display())))
}
