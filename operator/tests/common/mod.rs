//! The simulation harness for the operator's tests: a simulated API server and kubelet
//! (`quiver-kube-sim`) with the operator's real controllers running against them, and a client
//! that writes to the engines and checks every acknowledged write.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use parking_lot::Mutex;
use quiver_kube_sim::{ApiServer, Kubelet, Store};
use quiver_operator::crd::{VectorCluster, VectorCollection};
use serde_json::{json, Value};

/// The `quiver` binary the kubelet runs: `QUIVER_BIN`, else the workspace's debug build (which
/// `cargo test --workspace` builds for the server's own tests).
pub fn quiver_binary() -> PathBuf {
    if let Ok(p) = std::env::var("QUIVER_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug/quiver");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p quiver-server --bin quiver` (or set QUIVER_BIN)",
        bin.display()
    );
    bin
}

/// A simulated Kubernetes with the operator running in it.
pub struct Sim {
    pub api: ApiServer,
    pub kubelet: Arc<Kubelet>,
    pub client: Client,
    pub ctx: Arc<quiver_operator::reconcile::Context>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub dir: tempfile::TempDir,
}

impl Drop for Sim {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub const NS: &str = "default";

impl Sim {
    pub async fn start() -> Sim {
        // QUIVER_OPERATOR_LOG=debug shows the operator's steps; SIM_KEEP=1 keeps the pods'
        // folders and logs after the test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("QUIVER_OPERATOR_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
        let store = Store::new();
        for crd in quiver_operator::crd::all() {
            store.register_crd(&serde_json::to_value(&crd).unwrap()).unwrap();
        }
        let api = ApiServer::start(store.clone()).await.unwrap();
        let mut dir = tempfile::tempdir().unwrap();
        if std::env::var("SIM_KEEP").is_ok() {
            dir.disable_cleanup(true);
        }
        let images = HashMap::from([("quiver-sim".to_string(), quiver_binary())]);
        let kubelet = Kubelet::new(store, dir.path().to_path_buf(), images);
        let kubelet_task = kubelet.spawn();
        let config = kube::Config::new(api.url().parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let ctx = Arc::new(quiver_operator::reconcile::Context::new(client.clone()));
        let operator = tokio::spawn(quiver_operator::controller::run(
            client.clone(),
            Some(NS.to_string()),
            Arc::clone(&ctx),
        ));
        Sim {
            api,
            kubelet,
            client,
            ctx,
            tasks: vec![kubelet_task, operator],
            dir,
        }
    }

    pub fn clusters(&self) -> Api<VectorCluster> {
        Api::namespaced(self.client.clone(), NS)
    }
    pub fn collections(&self) -> Api<VectorCollection> {
        Api::namespaced(self.client.clone(), NS)
    }
    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), NS)
    }

    pub async fn create_cluster(&self, name: &str, nodes: u32) -> VectorCluster {
        let qvc: VectorCluster = serde_json::from_value(json!({
            "apiVersion": "quiver.dev/v1alpha1", "kind": "VectorCluster",
            "metadata": {"name": name},
            "spec": {"version": "v1", "image": "quiver-sim", "nodes": nodes, "storage": {"size": "1Gi"},
                     "engine": {"logLevel": "info,openraft=warn"}},
        }))
        .unwrap();
        self.clusters()
            .create(&PostParams::default(), &qvc)
            .await
            .unwrap()
    }

    /// Merges `spec` into the cluster's spec, as `kubectl patch --type merge` would.
    pub async fn patch_cluster(&self, name: &str, spec: Value) {
        self.clusters()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await
            .unwrap();
    }

    /// Waits until `check` holds for the cluster's status, failing with `what` and the last
    /// status seen after `timeout`.
    pub async fn wait_cluster(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        check: impl Fn(&VectorCluster) -> bool,
    ) -> VectorCluster {
        let started = Instant::now();
        loop {
            let c = self.clusters().get(name).await.unwrap();
            if check(&c) {
                return c;
            }
            if started.elapsed() > timeout {
                panic!(
                    "{what}: not reached in {timeout:?}; last status {:?}\nlogs in {}",
                    c.status,
                    self.dir.path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The REST bases of the cluster's ready pods.
    pub async fn ready_bases(&self) -> Vec<String> {
        let pods = self.pods().list(&ListParams::default()).await.unwrap().items;
        ready_bases_of(&pods)
    }
}

/// The REST bases of the ready pods in `pods`, as the client Service would route.
fn ready_bases_of(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && quiver_operator::observe::pod_ready(p))
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .map(|ip| format!("http://{ip}:6333"))
        .collect()
}

/// Whether the cluster is Ready with `nodes` ready nodes at the declared generation.
pub fn ready(c: &VectorCluster, nodes: i32) -> bool {
    c.status.as_ref().is_some_and(|s| {
        s.phase == quiver_operator::crd::cluster::ClusterPhase::Ready
            && s.ready_nodes == nodes
            && s.observed_generation == c.metadata.generation
    })
}

/// A client writing points one at a time through whichever pods are ready (as the client
/// Service would route) and reading acknowledged ones back.
pub struct Writer {
    pub acked: Arc<Mutex<Vec<u64>>>,
    pub write_failures: Arc<AtomicU64>,
    pub read_failures: Arc<AtomicU64>,
    pub lost: Arc<Mutex<Vec<u64>>>,
    stop: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Writer {
    pub fn start(bases: Arc<Mutex<Vec<String>>>, collection: &str) -> Writer {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let write_failures = Arc::new(AtomicU64::new(0));
        let read_failures = Arc::new(AtomicU64::new(0));
        let lost = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let (a, wf, rf, l, s, c) = (
            acked.clone(),
            write_failures.clone(),
            read_failures.clone(),
            lost.clone(),
            stop.clone(),
            collection.to_string(),
        );
        let task = tokio::spawn(async move {
            let mut id = 1u64;
            while !s.load(Ordering::Relaxed) {
                let targets = bases.lock().clone();
                let mut ok = false;
                // Start at a different pod each time, try each once.
                let start = id as usize % targets.len().max(1);
                for base in targets.iter().cycle().skip(start).take(targets.len()) {
                    let body = json!({"points": [{"id": id, "vector": [1.0, id as f32 % 7.0, 0.5, 0.25], "payload": {"n": id}}]});
                    let r = http
                        .put(format!("{base}/collections/{c}/points?wait=true"))
                        .json(&body)
                        .send()
                        .await;
                    if r.is_ok_and(|r| r.status().is_success()) {
                        ok = true;
                        break;
                    }
                }
                if ok {
                    a.lock().push(id);
                    id += 1;
                } else {
                    wf.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // Read back an earlier acknowledged point.
                let probe = {
                    let acked = a.lock();
                    acked.get((id as usize * 7919) % acked.len().max(1)).copied()
                };
                if let Some(p) = probe {
                    let mut answered = false;
                    for base in &targets {
                        let r = http
                            .post(format!("{base}/collections/{c}/points"))
                            .json(&json!({"ids": [p]}))
                            .send()
                            .await;
                        if let Ok(r) = r {
                            if r.status().is_success() {
                                let v: Value = r.json().await.unwrap_or_default();
                                if v["result"].as_array().is_some_and(|a| a.is_empty()) {
                                    l.lock().push(p);
                                }
                                answered = true;
                                break;
                            }
                        }
                    }
                    if !answered {
                        rf.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Writer {
            acked,
            write_failures,
            read_failures,
            lost,
            stop,
            task: Some(task),
        }
    }

    pub async fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// Keeps `bases` updated with the ready pods' addresses.
pub fn follow_ready_pods(sim: &Sim) -> (Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let bases = Arc::new(Mutex::new(Vec::new()));
    let pods = sim.pods();
    let b = bases.clone();
    let task = tokio::spawn(async move {
        loop {
            if let Ok(list) = pods.list(&ListParams::default()).await {
                *b.lock() = ready_bases_of(&list.items);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    (bases, task)
}
