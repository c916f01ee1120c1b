//! The operator end to end in the simulated Kubernetes: real controllers, real `quiver`
//! processes. A 3-node cluster and a collection are created; a client writes and reads through
//! the ready pods throughout while the cluster scales 3 -> 4 -> 3, rolls an upgrade, and loses
//! its raft leader's process to SIGKILL. Every acknowledged write must be readable at every
//! moment and at the end.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{follow_ready_pods, ready, Sim, Writer, NS};
use kube::api::{ListParams, PostParams};
use quiver_operator::crd::collection::CollectionPhase;
use quiver_operator::crd::VectorCollection;
use serde_json::json;

const MINUTE: Duration = Duration::from_secs(60);

async fn node_view(base: &str) -> serde_json::Value {
    let r = reqwest::get(format!("{base}/quiver/node")).await.unwrap();
    r.json::<serde_json::Value>().await.unwrap()["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_scales_upgrades_and_survives_its_leader_under_writes() {
    let sim = Sim::start().await;
    sim.create_cluster("vec", 3).await;
    let c = sim
        .wait_cluster("vec", "3 nodes ready", 2 * MINUTE, |c| ready(c, 3))
        .await;
    let st = c.status.clone().unwrap();
    assert!(st.leader.is_some(), "{st:?}");
    assert_eq!(st.current_version.as_deref(), Some("v1"));
    let conds: Vec<(String, String)> = st
        .conditions
        .iter()
        .map(|c| (c.type_.clone(), c.status.clone()))
        .collect();
    assert!(
        conds.contains(&("Ready".into(), "True".into()))
            && conds.contains(&("Stalled".into(), "False".into())),
        "{conds:?}"
    );

    // A declared collection: 3 shards, 2 replicas each.
    let qcol: VectorCollection = serde_json::from_value(json!({
        "apiVersion": "quiver.dev/v1alpha1", "kind": "VectorCollection",
        "metadata": {"name": "docs"},
        "spec": {"clusterRef": "vec", "vectors": {"": {"size": 4, "distance": "Cosine"}},
                 "sharding": {"shardNumber": 3}, "replicationFactor": 2,
                 "hnsw": {"m": 24},
                 "payloadIndexes": [{"field": "n", "schema": "integer"}]},
    }))
    .unwrap();
    let collections = sim.collections();
    collections.create(&PostParams::default(), &qcol).await.unwrap();
    let mut waited = 0;
    loop {
        let c = collections.get("docs").await.unwrap();
        let s = c.status.clone().unwrap_or_default();
        if s.phase == CollectionPhase::Ready && s.shard_replicas.as_deref() == Some("6/6") {
            break;
        }
        waited += 1;
        assert!(waited < 200, "collection not ready: {s:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let bases = sim.ready_bases().await;
    let info: serde_json::Value = reqwest::get(format!("{}/collections/docs", bases[0]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["result"]["config"]["hnsw_config"]["m"], 24,
        "declared HNSW settings applied"
    );
    assert_eq!(
        info["result"]["payload_schema"]["n"]["data_type"], "integer",
        "declared index made"
    );

    let (targets, follower) = follow_ready_pods(&sim);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut writer = Writer::start(targets, "docs");

    // Scale up: a learner joins, is promoted, and receives replicas.
    sim.patch_cluster("vec", json!({"nodes": 4})).await;
    sim.wait_cluster("vec", "4 nodes ready", 3 * MINUTE, |c| {
        ready(c, 4)
            && c.status
                .as_ref()
                .is_some_and(|s| s.shard_replicas.as_deref() == Some("6/6"))
    })
    .await;
    let pod3 = sim.pods().get("vec-3").await.unwrap();
    let ip3 = pod3.status.and_then(|s| s.pod_ip).unwrap();
    let view = node_view(&format!("http://{ip3}:6333")).await;
    assert!(
        !view["replicas"].as_array().unwrap().is_empty(),
        "the new node holds replicas after the rebalance: {view}"
    );
    assert!(
        view["raft"]["voters"]
            .as_array()
            .unwrap()
            .contains(&view["raft"]["peer_id"]),
        "promoted to voter"
    );

    // Scale down: node 3 is drained, removed from raft, and its pod and volume are deleted.
    sim.patch_cluster("vec", json!({"nodes": 3})).await;
    let c = sim
        .wait_cluster("vec", "back to 3 nodes", 3 * MINUTE, |c| {
            ready(c, 3) && c.status.as_ref().is_some_and(|s| s.leaving_node.is_none())
        })
        .await;
    assert_eq!(c.status.unwrap().shard_replicas.as_deref(), Some("6/6"));
    let pods = sim.pods().list(&ListParams::default()).await.unwrap().items;
    assert_eq!(pods.len(), 3, "pod vec-3 is gone");
    assert!(
        !sim.kubelet.claim_dir(NS, "data-vec-3").exists(),
        "its volume is gone"
    );
    let bases = sim.ready_bases().await;
    let view = node_view(&bases[0]).await;
    assert_eq!(
        view["raft"]["voters"].as_array().unwrap().len(),
        3,
        "removed from raft: {view}"
    );

    // Rolling upgrade: one pod at a time, the leader last.
    sim.patch_cluster("vec", json!({"version": "v2"})).await;
    sim.wait_cluster("vec", "upgraded to v2", 4 * MINUTE, |c| {
        ready(c, 3)
            && c.status
                .as_ref()
                .is_some_and(|s| s.current_version.as_deref() == Some("v2"))
    })
    .await;
    let pods = sim.pods().list(&ListParams::default()).await.unwrap().items;
    for p in &pods {
        let image = p.spec.as_ref().unwrap().containers[0].image.clone().unwrap();
        assert_eq!(image, "quiver-sim:v2", "{:?}", p.metadata.name);
    }

    // The leader's process is killed; its container restarts and the cluster is Ready again.
    let leader = sim
        .clusters()
        .get("vec")
        .await
        .unwrap()
        .status
        .unwrap()
        .leader
        .unwrap();
    let mut leader_pod = None;
    for p in &pods {
        let ip = p.status.as_ref().unwrap().pod_ip.clone().unwrap();
        if node_view(&format!("http://{ip}:6333")).await["raft"]["peer_id"] == leader {
            leader_pod = p.metadata.name.clone();
        }
    }
    let leader_pod = leader_pod.unwrap();
    assert!(sim.kubelet.kill(NS, &leader_pod));
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim.wait_cluster("vec", "ready after the leader's crash", 3 * MINUTE, |c| {
        ready(c, 3)
            && c.status
                .as_ref()
                .is_some_and(|s| s.shard_replicas.as_deref() == Some("6/6"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    writer.stop().await;
    follower.abort();

    // Every acknowledged write is there.
    let acked = writer.acked.lock().clone();
    assert!(acked.len() > 50, "the writer made progress: {}", acked.len());
    assert!(
        writer.lost.lock().is_empty(),
        "acknowledged points read as missing: {:?}",
        writer.lost.lock()
    );
    let bases = sim.ready_bases().await;
    for base in &bases {
        let r: serde_json::Value = reqwest::Client::new()
            .post(format!("{base}/collections/docs/points"))
            .json(&json!({"ids": acked}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            r["result"].as_array().unwrap().len(),
            acked.len(),
            "through {base}"
        );
    }
    eprintln!(
        "sim: {} writes acknowledged, {} write attempts and {} reads found no ready pod answering",
        acked.len(),
        writer.write_failures.load(std::sync::atomic::Ordering::Relaxed),
        writer.read_failures.load(std::sync::atomic::Ordering::Relaxed)
    );
    // Reads keep succeeding through scaling, the upgrade and the leader's death: a read fails
    // only while no pod the Service would route to answers, a moment per disruption.
    let read_failures = writer.read_failures.load(std::sync::atomic::Ordering::Relaxed) as usize;
    assert!(
        read_failures * 20 <= acked.len(),
        "{read_failures} reads failed against {} acknowledged writes",
        acked.len()
    );

    // Disruptive steps were announced as Events, and counted.
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(sim.client.clone(), NS);
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|e| e.reason.clone())
        .collect();
    for r in ["Upgrading", "ScalingDown"] {
        assert!(reasons.iter().any(|x| x == r), "no {r} event in {reasons:?}");
    }
    let metrics = sim.ctx.metrics.render();
    assert!(
        metrics.contains("quiver_operator_steps_total{step=\"upgrade\"} 3"),
        "{metrics}"
    );
}
