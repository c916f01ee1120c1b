//! One server process: open the storage, bind both ports, serve until shutdown, then checkpoint.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use quiver_cluster::{ClusterNode, ClusterOptions};

use crate::cluster::Distributed;
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

/// Starts this node's cluster member (its internal services on the p2p port), then forms a
/// cluster or joins the one at `cluster.bootstrap`. Returns once the node is a member.
async fn start_cluster(
    settings: &Settings,
    catalog: Arc<Catalog>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(Distributed, SocketAddr, tokio::task::JoinHandle<()>)> {
    let slot = Arc::new(std::sync::OnceLock::new());
    let host = settings.service.host.as_str();
    let p2p = TcpListener::bind((host, settings.cluster.p2p.port))
        .await
        .with_context(|| format!("binding the p2p port on {host}:{}", settings.cluster.p2p.port))?;
    let p2p_addr = p2p.local_addr()?;
    let own_ip: Option<IpAddr> = host.parse().ok().filter(|ip: &IpAddr| !ip.is_unspecified());
    let uri = match (&settings.cluster.uri, own_ip) {
        (Some(u), _) => u.clone(),
        (None, Some(ip)) => format!("http://{}", SocketAddr::new(ip, p2p_addr.port())),
        (None, None) => anyhow::bail!(
            "cluster.uri (--uri): this node's address for other members is required when service.host is `{host}`"
        ),
    };
    let node = ClusterNode::start(ClusterOptions {
        dir: settings.storage.path.join("raft"),
        node_id: settings.cluster.node_id,
        uri,
        local_ip: settings.cluster.p2p.source_address.or(own_ip),
        heartbeat_ms: settings.cluster.consensus.tick_period_ms,
        join_as_learner: settings.cluster.join_as_learner,
    })
    .await
    .context("starting the cluster member")?;
    let mut stop = stop;
    let (raft, membership) = quiver_cluster::service::services(Arc::clone(&node));
    let incoming = tonic::transport::server::TcpIncoming::from(p2p).with_nodelay(Some(true));
    let router = tonic::transport::Server::builder()
        .add_service(raft)
        .add_service(membership)
        .add_service(crate::cluster::service::server(Arc::clone(&slot)));
    let served = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async move {
        let _ = stop.wait_for(|v| *v).await;
    }));
    let served = tokio::spawn(async move {
        if let Ok(Err(e)) = served.await {
            tracing::error!("p2p service stopped: {e}");
        }
    });
    match &settings.cluster.bootstrap {
        Some(peer) => node
            .join_via(peer)
            .await
            .with_context(|| format!("joining the cluster via {peer}"))?,
        None => node.bootstrap().await.context("forming the cluster")?,
    }
    let window = settings
        .cluster
        .wal_delta_window_mb
        .map_or(crate::cluster::journal::WINDOW_BYTES, |mb| (mb as usize) << 20);
    let timeout =
        std::time::Duration::from_millis(settings.cluster.grpc_timeout_ms.unwrap_or(30_000).max(100));
    let distributed = Distributed::start(Arc::clone(&node), catalog, window, timeout).await?;
    let _ = slot.set(distributed.clone());
    tracing::info!("cluster member {} ready", node.id());
    Ok((distributed, p2p_addr, served))
}

/// How long a stop waits for the client requests in flight.
const CLIENT_DRAIN: std::time::Duration = std::time::Duration::from_secs(15);

/// Waits (up to [`CLIENT_DRAIN`]) for a client-facing service to finish its requests in flight,
/// then cuts it off.
async fn drain<T>(task: tokio::task::JoinHandle<T>, what: &str) {
    let abort = task.abort_handle();
    if tokio::time::timeout(CLIENT_DRAIN, task).await.is_err() {
        tracing::warn!("{what} requests still running after {CLIENT_DRAIN:?}; cut off");
        abort.abort();
    }
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
    let own_ip: Option<IpAddr> = settings
        .service
        .host
        .parse()
        .ok()
        .filter(|ip: &IpAddr| !ip.is_unspecified());
    // In a cluster, downloads leave from the node's own address like its other connections
    // (tests cut links per address pair); a single node uses the system's choice, so a
    // loopback service.host does not keep it from reaching other hosts.
    let source = settings
        .cluster
        .p2p
        .source_address
        .or(own_ip)
        .filter(|_| settings.cluster.enabled);
    let mut api = Api::new(Arc::clone(&catalog)).with_source_address(source);
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
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Other nodes are served until this one has stepped out of the write path (after the
    // client-facing services stopped).
    let (p2p_stop_tx, p2p_stop_rx) = tokio::sync::watch::channel(false);
    let cluster = match settings.cluster.enabled {
        true => Some(start_cluster(&settings, Arc::clone(&catalog), p2p_stop_rx).await?),
        false => None,
    };
    if let Some((d, _, _)) = &cluster {
        api = api.with_cluster(d.clone());
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
    let p2p = cluster
        .as_ref()
        .map(|(d, addr, _)| format!(" p2p={addr} peer_id={}", d.node().id()))
        .unwrap_or_default();
    tracing::info!("listening rest={} grpc={}{p2p}", addrs.http, addrs.grpc);
    eprintln!("listening rest={} grpc={}{p2p}", addrs.http, addrs.grpc);

    let max_bytes = settings.service.max_request_size_mb.max(1) << 20;
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
    // Requests in flight finish (bounded: a client that never reads its answer does not hold
    // the stop up).
    drain(rest_task, "REST").await;
    drain(grpc_task, "gRPC").await;
    tracing::info!("client-facing services stopped");
    if let Some((d, _, served)) = cluster {
        d.step_down().await;
        let _ = p2p_stop_tx.send(true);
        d.node().shutdown().await;
        let _ = served.await;
        tracing::info!("raft and node-to-node services stopped");
        // Only once every write is checkpointed: a saved position never runs ahead of the data.
        tokio::task::spawn_blocking(move || catalog.close())
            .await?
            .context("checkpoint at shutdown")?;
        d.save_positions();
    } else {
        tokio::task::spawn_blocking(move || catalog.close())
            .await?
            .context("checkpoint at shutdown")?;
    }
    tracing::info!("stopped cleanly");
    Ok(())
}
