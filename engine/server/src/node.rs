//! One server process: open the storage, bind both ports, serve until shutdown, then checkpoint.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use quiver_collection::{Catalog, CatalogOptions};
use tokio::net::TcpListener;

use crate::api::Api;
use crate::settings::Settings;

/// Addresses the node actually listens on (ports may have been chosen by the OS).
#[derive(Debug, Clone, Copy)]
pub struct BoundAddrs {
    pub http: SocketAddr,
    pub grpc: SocketAddr,
}

/// Runs a node until `shutdown` resolves. The chosen addresses are logged as
/// `listening rest=<addr> grpc=<addr>` (tests read this line when they ask for port 0).
pub async fn run(
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let storage = settings.storage.path.clone();
    let catalog = tokio::task::spawn_blocking(move || Catalog::open(&storage, CatalogOptions::default()))
        .await?
        .with_context(|| format!("opening storage at {}", settings.storage.path.display()))?;
    let catalog = Arc::new(catalog);
    let mut api = Api::new(Arc::clone(&catalog));
    match settings.storage.snapshots_config.snapshots_storage.as_str() {
        "local" => {}
        "s3" => {
            let remote = crate::snapshot_store::RemoteSnapshots::from_settings(
                &settings.storage.snapshots_config.s3_config,
            )?;
            api = api.with_remote_snapshots(remote);
        }
        other => anyhow::bail!("storage.snapshots_config.snapshots_storage: `local` or `s3`, not `{other}`"),
    }
    let host = settings.service.host.clone();
    let http = TcpListener::bind((host.as_str(), settings.service.http_port))
        .await
        .with_context(|| format!("binding REST on {host}:{}", settings.service.http_port))?;
    let grpc = TcpListener::bind((host.as_str(), settings.service.grpc_port))
        .await
        .with_context(|| format!("binding gRPC on {host}:{}", settings.service.grpc_port))?;
    let addrs = BoundAddrs {
        http: http.local_addr()?,
        grpc: grpc.local_addr()?,
    };
    tracing::info!("listening rest={} grpc={}", addrs.http, addrs.grpc);
    eprintln!("listening rest={} grpc={}", addrs.http, addrs.grpc);

    let max_bytes = settings.service.max_request_size_mb.max(1) << 20;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait_stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let grpc_task = tokio::spawn(crate::grpc::serve_with_api_key(
        api.clone(),
        grpc,
        max_bytes,
        settings.service.api_key.clone(),
        wait_stop(stop_rx.clone()),
    ));
    let router = crate::rest::router(api, &settings);
    let rest_task = tokio::spawn(async move {
        axum::serve(http, router)
            .with_graceful_shutdown(wait_stop(stop_rx))
            .await
    });
    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = rest_task.await;
    let _ = grpc_task.await;
    tokio::task::spawn_blocking(move || catalog.close())
        .await?
        .context("checkpoint at shutdown")?;
    tracing::info!("stopped cleanly");
    Ok(())
}
