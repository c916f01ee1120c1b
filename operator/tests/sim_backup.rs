//! Backups in the simulated Kubernetes with a local S3-compatible server (moto, from the
//! project's `.venv`): a `VectorBackup` has the engine pods upload every shard of a collection
//! straight to the bucket and lists keys, sizes and checksums; a new `VectorCollection` with
//! `bootstrap` is filled from it, point for point.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ready, Sim};
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::Api;
use quiver_operator::crd::backup::BackupPhase;
use quiver_operator::crd::collection::CollectionPhase;
use quiver_operator::crd::{VectorBackup, VectorCluster, VectorCollection};
use serde_json::{json, Value};

/// A moto S3 server on a free loopback port, stopped on drop.
struct S3(Child, u16);

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn s3() -> S3 {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: scripts/test.sh creates it (moto is in tests/compat/requirements.txt)",
        python.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(python)
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = S3(child, port);
    let started = Instant::now();
    while reqwest::get(format!("http://127.0.0.1:{port}/")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "moto did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let made = reqwest::Client::new()
        .put(format!("http://127.0.0.1:{port}/backups"))
        .send()
        .await
        .unwrap();
    assert!(
        made.status().is_success(),
        "creating the bucket: {}",
        made.status()
    );
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_lands_in_s3_and_restores_into_a_new_collection() {
    let store = s3().await;
    let sim = Sim::start().await;
    let secrets: Api<Secret> = Api::namespaced(sim.client.clone(), common::NS);
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3"},
        "data": {"AWS_ACCESS_KEY_ID": "dGVzdGluZw==", "AWS_SECRET_ACCESS_KEY": "dGVzdGluZw=="},
    }))
    .unwrap();
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    let qvc: VectorCluster = serde_json::from_value(json!({
        "apiVersion": "quiver.dev/v1alpha1", "kind": "VectorCluster", "metadata": {"name": "vec"},
        "spec": {"version": "v1", "image": "quiver-sim", "nodes": 2, "storage": {"size": "1Gi"},
                 "engine": {"logLevel": "info,openraft=warn"},
                 "objectStore": {"bucket": "backups", "prefix": "nightly", "region": "us-east-1",
                                 "endpoint": format!("http://127.0.0.1:{}", store.1), "credentialsSecret": "s3"}},
    }))
    .unwrap();
    sim.clusters().create(&PostParams::default(), &qvc).await.unwrap();
    sim.wait_cluster("vec", "2 nodes ready", Duration::from_secs(120), |c| ready(c, 2))
        .await;

    let docs = |name: &str, bootstrap: Option<Value>| -> VectorCollection {
        let mut spec = json!({"clusterRef": "vec", "vectors": {"": {"size": 4, "distance": "Euclid"}},
                              "sharding": {"shardNumber": 2}, "replicationFactor": 1});
        if let Some(b) = bootstrap {
            spec["bootstrap"] = b;
        }
        serde_json::from_value(
            json!({"apiVersion": "quiver.dev/v1alpha1", "kind": "VectorCollection",
                                      "metadata": {"name": name}, "spec": spec}),
        )
        .unwrap()
    };
    sim.collections()
        .create(&PostParams::default(), &docs("docs", None))
        .await
        .unwrap();
    let wait_ready = |name: &'static str, restored: bool| {
        let api = sim.collections();
        async move {
            let started = Instant::now();
            loop {
                let s = api.get(name).await.unwrap().status.unwrap_or_default();
                if s.phase == CollectionPhase::Ready && s.restored == restored {
                    return;
                }
                assert!(started.elapsed() < Duration::from_secs(90), "{name}: {s:?}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    wait_ready("docs", false).await;
    let base = sim.ready_bases().await[0].clone();
    let points: Vec<Value> = (1..=300)
        .map(|i| json!({"id": i, "vector": [i as f32, 1.0, 2.0, (i % 5) as f32], "payload": {"i": i}}))
        .collect();
    let http = reqwest::Client::new();
    let r = http
        .put(format!("{base}/collections/docs/points?wait=true"))
        .json(&json!({"points": points}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let backups: Api<VectorBackup> = Api::namespaced(sim.client.clone(), common::NS);
    let b: VectorBackup = serde_json::from_value(json!({
        "apiVersion": "quiver.dev/v1alpha1", "kind": "VectorBackup", "metadata": {"name": "docs-1"},
        "spec": {"clusterRef": "vec", "collections": ["docs"]},
    }))
    .unwrap();
    backups.create(&PostParams::default(), &b).await.unwrap();
    let started = Instant::now();
    let status = loop {
        let s = backups.get("docs-1").await.unwrap().status.unwrap_or_default();
        if matches!(s.phase, BackupPhase::Completed | BackupPhase::Failed) {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "backup: {s:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(status.phase, BackupPhase::Completed, "{status:?}");
    assert_eq!(status.archives.len(), 2, "one archive per shard: {status:?}");
    for a in &status.archives {
        assert!(
            a.key.starts_with(&format!("nightly/docs/shards/{}/", a.shard_id)),
            "{}",
            a.key
        );
        assert!(a.size > 0 && a.checksum.len() == 64, "{a:?}");
        // The archive is in the bucket, put there by the engine pod.
        let head = http
            .head(format!("http://127.0.0.1:{}/backups/{}", store.1, a.key))
            .send()
            .await
            .unwrap();
        assert!(
            head.status().is_success(),
            "{} not in the bucket: {}",
            a.key,
            head.status()
        );
    }

    // Restore into a new collection.
    let copy = docs(
        "docs-copy",
        Some(json!({"backup": "docs-1", "sourceCollection": "docs"})),
    );
    sim.collections()
        .create(&PostParams::default(), &copy)
        .await
        .unwrap();
    wait_ready("docs-copy", true).await;
    let count: Value = http
        .post(format!("{base}/collections/docs-copy/points/count"))
        .json(&json!({"exact": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["result"]["count"], 300, "{count}");
    let got: Value = http
        .post(format!("{base}/collections/docs-copy/points"))
        .json(&json!({"ids": [7, 150, 300], "with_payload": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let payloads: Vec<i64> = got["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["payload"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(payloads.len(), 3);
    assert!(payloads.contains(&150));

    // Written to after the restore, the resource deleted (Retain keeps the collection) and
    // applied again, as GitOps would: the collection is adopted, not restored over.
    let more: Vec<Value> = (1001..=1005)
        .map(|i| json!({"id": i, "vector": [1.0, 1.0, 2.0, 3.0]}))
        .collect();
    let r = http
        .put(format!("{base}/collections/docs-copy/points?wait=true"))
        .json(&json!({"points": more}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let api = sim.collections();
    api.delete("docs-copy", &Default::default()).await.unwrap();
    let started = Instant::now();
    while api.get_opt("docs-copy").await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the resource is not deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    api.create(&PostParams::default(), &copy).await.unwrap();
    wait_ready("docs-copy", true).await;
    let count: Value = http
        .post(format!("{base}/collections/docs-copy/points/count"))
        .json(&json!({"exact": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["result"]["count"], 305, "restored over live data: {count}");
}
