//! Wires the reconcilers to `kube::runtime::Controller`s: clusters re-reconcile when their pods,
//! claims or settings change; collections and backups when they change. The metrics endpoint
//! and a health check are served beside them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, Client};

use crate::crd::{VectorBackup, VectorCluster, VectorCollection};
use crate::reconcile::{self, Context, Error};

fn on_error<K>(kind: &'static str) -> impl Fn(Arc<K>, &Error, Arc<Context>) -> Action {
    move |_obj, err, ctx| {
        ctx.metrics.failed(kind, err.category());
        tracing::warn!(kind, category = err.category(), "reconcile failed: {err}");
        Action::requeue(Duration::from_secs(3))
    }
}

/// `K` in `namespace`, or in every namespace.
fn scoped<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs the three controllers (in `namespace`, or every namespace) until they stop.
pub async fn run(client: Client, namespace: Option<String>, ctx: Arc<Context>) {
    let clusters: Api<VectorCluster> = scoped(&client, &namespace);
    let collections: Api<VectorCollection> = scoped(&client, &namespace);
    let backups: Api<VectorBackup> = scoped(&client, &namespace);
    let pods: Api<Pod> = scoped(&client, &namespace);
    let pvcs: Api<PersistentVolumeClaim> = scoped(&client, &namespace);
    let config_maps: Api<ConfigMap> = scoped(&client, &namespace);
    let selector = watcher::Config::default().labels("app.kubernetes.io/managed-by=quiver-operator");
    let cluster_loop = Controller::new(clusters, watcher::Config::default())
        .owns(pods, selector.clone())
        .owns(pvcs, selector.clone())
        .owns(config_maps, selector)
        .run(
            reconcile::cluster::reconcile,
            on_error("VectorCluster"),
            Arc::clone(&ctx),
        )
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!("cluster controller: {e}");
            }
        });
    let collection_loop = Controller::new(collections, watcher::Config::default())
        .run(
            reconcile::collection::reconcile,
            on_error("VectorCollection"),
            Arc::clone(&ctx),
        )
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!("collection controller: {e}");
            }
        });
    let backup_loop = Controller::new(backups, watcher::Config::default())
        .run(reconcile::backup::reconcile, on_error("VectorBackup"), ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!("backup controller: {e}");
            }
        });
    tokio::join!(cluster_loop, collection_loop, backup_loop);
}

/// Serves `/metrics` and `/healthz` on `addr`.
pub async fn serve_metrics(addr: SocketAddr, ctx: Arc<Context>) -> std::io::Result<()> {
    use axum::routing::get;
    let metrics = Arc::clone(&ctx.metrics);
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = Arc::clone(&metrics);
                async move { m.render() }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
