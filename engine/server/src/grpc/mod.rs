//! The gRPC surface: Qdrant's four public services (`qdrant.Qdrant`, `qdrant.Collections`,
//! `qdrant.Points`, `qdrant.Snapshots`) over [`Api`], using the server traits generated in the
//! `qdrant-client` crate, so the wire is Qdrant's by construction.
//!
//! - [`qdrant`]: health check.
//! - [`collections`]: collections, aliases, cluster info of the single local node.
//! - [`points`]: point updates, reads, search and query.
//! - [`snapshots`]: collection and full-storage snapshots.
//!
//! Handlers convert with [`crate::convert::grpc`], call [`Api`], and turn errors into statuses with
//! [`crate::error::ApiError::to_status`] (only "not implemented" statuses are built here). Every
//! answer's `time` is the handler's elapsed seconds. Messages up to `max_message_bytes` are
//! accepted and sent; gzip is accepted, and used for answers when the client accepts it. With an
//! API key configured, every service but the health check requires it.

mod collections;
mod points;
mod qdrant;
mod snapshots;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use qdrant_client::qdrant::collections_server::CollectionsServer;
use qdrant_client::qdrant::points_server::PointsServer;
use qdrant_client::qdrant::qdrant_server::QdrantServer;
use qdrant_client::qdrant::snapshots_server::SnapshotsServer;
use tonic::codec::CompressionEncoding;
use tonic::service::interceptor::{InterceptedService, Interceptor};
use tonic::transport::server::TcpIncoming;

use crate::api::Api;
use crate::error::ApiError;

/// Serves the four services on `listener` until `shutdown` completes, then lets in-flight calls
/// finish. No API key is required.
pub async fn serve(
    api: Api,
    listener: tokio::net::TcpListener,
    max_message_bytes: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with_api_key(api, listener, max_message_bytes, None, shutdown).await
}

/// [`serve`], and when `api_key` is set every call except the health check must carry it as
/// `api-key` metadata or an `authorization: Bearer <key>` header (as the REST surface requires).
pub async fn serve_with_api_key(
    api: Api,
    listener: tokio::net::TcpListener,
    max_message_bytes: usize,
    api_key: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let gzip = CompressionEncoding::Gzip;
    let check = ApiKeyCheck {
        key: api_key.map(Arc::from),
    };
    let qdrant = QdrantServer::new(qdrant::QdrantService)
        .accept_compressed(gzip)
        .send_compressed(gzip)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes);
    let collections = CollectionsServer::new(collections::CollectionsService::new(api.clone()))
        .accept_compressed(gzip)
        .send_compressed(gzip)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes);
    let points = PointsServer::new(points::PointsService::new(api.clone()))
        .accept_compressed(gzip)
        .send_compressed(gzip)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes);
    let snapshots = SnapshotsServer::new(snapshots::SnapshotsService::new(api))
        .accept_compressed(gzip)
        .send_compressed(gzip)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(qdrant)
        .add_service(InterceptedService::new(collections, check.clone()))
        .add_service(InterceptedService::new(points, check.clone()))
        .add_service(InterceptedService::new(snapshots, check))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}

/// Rejects calls without the configured API key (a no-op when none is configured).
#[derive(Clone)]
struct ApiKeyCheck {
    key: Option<Arc<str>>,
}

impl Interceptor for ApiKeyCheck {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let Some(expected) = &self.key else {
            return Ok(request);
        };
        let meta = request.metadata();
        let given = meta.get("api-key").and_then(|v| v.to_str().ok()).or_else(|| {
            meta.get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        });
        if given == Some(&**expected) {
            Ok(request)
        } else {
            Err(
                ApiError::Unauthorized("Must provide an API key or an Authorization bearer token".into())
                    .to_status(),
            )
        }
    }
}

/// Seconds since `started`, for the `time` field of every answer.
fn elapsed(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

/// The status of an operation Quiver does not offer (yet).
fn unimplemented(what: &str, why: &str) -> tonic::Status {
    tonic::Status::unimplemented(format!("{what} is not implemented: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(key: Option<&str>, header: Option<(&'static str, &str)>) -> Result<(), tonic::Code> {
        let mut check = ApiKeyCheck {
            key: key.map(Arc::from),
        };
        let mut req = tonic::Request::new(());
        if let Some((name, value)) = header {
            req.metadata_mut().insert(name, value.parse().unwrap());
        }
        check.call(req).map(|_| ()).map_err(|s| s.code())
    }

    #[test]
    fn api_key_check() {
        assert_eq!(call(None, None), Ok(()));
        assert_eq!(call(Some("k"), None), Err(tonic::Code::Unauthenticated));
        assert_eq!(call(Some("k"), Some(("api-key", "k"))), Ok(()));
        assert_eq!(
            call(Some("k"), Some(("api-key", "x"))),
            Err(tonic::Code::Unauthenticated)
        );
        assert_eq!(call(Some("k"), Some(("authorization", "Bearer k"))), Ok(()));
        assert_eq!(
            call(Some("k"), Some(("authorization", "k"))),
            Err(tonic::Code::Unauthenticated)
        );
    }
}
