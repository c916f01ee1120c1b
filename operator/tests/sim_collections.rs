//! Declarative collections in the simulated Kubernetes, against real engines: a mutable change
//! (HNSW, replication factor) is applied; an immutable one (vector size) stalls with the field
//! named and changes nothing; a collection deleted behind the operator's back is recreated;
//! `deletionPolicy: Delete` deletes the engine collection, `Retain` keeps it; and a collection
//! whose cluster is gone is released by its finalizer instead of hanging.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{ready, Sim};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use quiver_operator::crd::collection::CollectionPhase;
use quiver_operator::crd::{VectorCollection, VectorCollectionStatus};
use serde_json::{json, Value};

async fn wait_collection(sim: &Sim, name: &str, what: &str, check: impl Fn(&VectorCollectionStatus) -> bool) {
    let started = Instant::now();
    loop {
        let s = sim
            .collections()
            .get(name)
            .await
            .unwrap()
            .status
            .unwrap_or_default();
        if check(&s) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{what}: last status {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn info(base: &str, name: &str) -> Option<Value> {
    let r = reqwest::get(format!("{base}/collections/{name}")).await.unwrap();
    if !r.status().is_success() {
        return None;
    }
    Some(r.json::<Value>().await.unwrap()["result"].clone())
}

fn collection(name: &str, policy: &str) -> VectorCollection {
    serde_json::from_value(json!({
        "apiVersion": "quiver.dev/v1alpha1", "kind": "VectorCollection",
        "metadata": {"name": name},
        "spec": {"clusterRef": "vec", "vectors": {"": {"size": 4, "distance": "Dot"}},
                 "sharding": {"shardNumber": 2}, "replicationFactor": 1, "deletionPolicy": policy},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collections_follow_their_resources() {
    let sim = Sim::start().await;
    sim.create_cluster("vec", 2).await;
    sim.wait_cluster("vec", "2 nodes ready", Duration::from_secs(120), |c| ready(c, 2))
        .await;
    let api = sim.collections();
    api.create(&PostParams::default(), &collection("kept", "Retain"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &collection("dropped", "Delete"))
        .await
        .unwrap();
    for n in ["kept", "dropped"] {
        wait_collection(&sim, n, "created", |s| s.phase == CollectionPhase::Ready).await;
    }
    let base = sim.ready_bases().await[0].clone();
    assert_eq!(
        info(&base, "kept").await.unwrap()["config"]["params"]["shard_number"],
        2
    );

    // Mutable: HNSW m and the replication factor (a replica per shard is added on the other node).
    let merge = |spec: Value| Patch::Merge(json!({"spec": spec}));
    api.patch(
        "kept",
        &PatchParams::default(),
        &merge(json!({"hnsw": {"m": 40}, "replicationFactor": 2})),
    )
    .await
    .unwrap();
    wait_collection(&sim, "kept", "mutable change applied", |s| {
        s.phase == CollectionPhase::Ready && s.shard_replicas.as_deref() == Some("4/4")
    })
    .await;
    let live = info(&base, "kept").await.unwrap();
    assert_eq!(live["config"]["hnsw_config"]["m"], 40);
    assert_eq!(live["config"]["params"]["replication_factor"], 2);
    // Lowered again: the extra replica of each shard is dropped (the engine's layout says so).
    api.patch(
        "kept",
        &PatchParams::default(),
        &merge(json!({"replicationFactor": 1})),
    )
    .await
    .unwrap();
    wait_collection(&sim, "kept", "replication factor lowered", |s| {
        s.phase == CollectionPhase::Ready && s.shard_replicas.as_deref() == Some("2/2")
    })
    .await;
    let replicas: Value = reqwest::get(format!("{base}/quiver/collections/kept/replicas"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replicas["result"].as_array().unwrap().len(), 2, "{replicas}");
    assert_eq!(
        info(&base, "kept").await.unwrap()["config"]["params"]["replication_factor"],
        1
    );

    // Immutable: the vector size. Stalled, naming the field; the engine collection is untouched.
    api.patch(
        "kept",
        &PatchParams::default(),
        &merge(json!({"vectors": {"": {"size": 8, "distance": "Dot"}}})),
    )
    .await
    .unwrap();
    wait_collection(&sim, "kept", "immutable change stalls", |s| {
        s.phase == CollectionPhase::Stalled
    })
    .await;
    let s = api.get("kept").await.unwrap().status.unwrap();
    let stalled = s.conditions.iter().find(|c| c.type_ == "Stalled").unwrap();
    assert_eq!(stalled.status, "True");
    assert!(stalled.message.contains("vectors.size"), "{}", stalled.message);
    assert_eq!(
        info(&base, "kept").await.unwrap()["config"]["params"]["vectors"]["size"],
        4
    );
    api.patch(
        "kept",
        &PatchParams::default(),
        &merge(json!({"vectors": {"": {"size": 4, "distance": "Dot"}}})),
    )
    .await
    .unwrap();
    wait_collection(&sim, "kept", "back to Ready once reverted", |s| {
        s.phase == CollectionPhase::Ready
    })
    .await;
    // The operator writes status and finalizers only: the spec's generation counts the test's
    // own four spec changes after the create, however many reconciles ran.
    let kept = api.get("kept").await.unwrap();
    assert_eq!(kept.metadata.generation, Some(5), "someone else wrote the spec");
    assert_eq!(kept.status.unwrap().observed_generation, Some(5));

    // Vanished: deleted in the engine behind the operator's back, it is created again.
    reqwest::Client::new()
        .delete(format!("{base}/collections/dropped"))
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    while info(&base, "dropped").await.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the vanished collection was not recreated"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Deletion policies.
    api.delete("dropped", &DeleteParams::default()).await.unwrap();
    api.delete("kept", &DeleteParams::default()).await.unwrap();
    let started = Instant::now();
    while api.get_opt("dropped").await.unwrap().is_some() || api.get_opt("kept").await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "finalizers not released"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        info(&base, "dropped").await.is_none(),
        "Delete removes the engine collection"
    );
    assert!(info(&base, "kept").await.is_some(), "Retain keeps it");

    // A collection whose cluster is gone is released, not stuck.
    api.create(&PostParams::default(), &{
        let mut c = collection("orphan", "Delete");
        c.spec.cluster_ref = "nowhere".into();
        c
    })
    .await
    .unwrap();
    wait_collection(&sim, "orphan", "waits for its cluster", |s| {
        s.phase == CollectionPhase::Creating || s.phase == CollectionPhase::Degraded
    })
    .await;
    let has_finalizer = api
        .get("orphan")
        .await
        .unwrap()
        .metadata
        .finalizers
        .unwrap_or_default()
        .iter()
        .any(|f| f == "quiver.dev/collection");
    assert!(has_finalizer);
    api.delete("orphan", &DeleteParams::default()).await.unwrap();
    let started = Instant::now();
    while api.get_opt("orphan").await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a collection without a cluster hangs in deletion"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Volumes: a larger storage.size grows every claim in place; a smaller one stalls the
    // cluster naming the claims, and the claims keep their size.
    let claims = kube::Api::<k8s_openapi::api::core::v1::PersistentVolumeClaim>::namespaced(
        sim.client.clone(),
        common::NS,
    );
    let sizes = || async {
        claims
            .list(&kube::api::ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter_map(|c| {
                Some(
                    c.spec
                        .as_ref()?
                        .resources
                        .as_ref()?
                        .requests
                        .as_ref()?
                        .get("storage")?
                        .0
                        .clone(),
                )
            })
            .collect::<Vec<String>>()
    };
    assert_eq!(sizes().await, vec!["1Gi", "1Gi"]);
    let storage = |size: &str| Patch::Merge(json!({"spec": {"storage": {"size": size}}}));
    sim.clusters()
        .patch("vec", &PatchParams::default(), &storage("2Gi"))
        .await
        .unwrap();
    let started = Instant::now();
    while sizes().await != vec!["2Gi", "2Gi"] {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "claims not grown: {:?}",
            sizes().await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sim.clusters()
        .patch("vec", &PatchParams::default(), &storage("1Gi"))
        .await
        .unwrap();
    let stalled = |c: &quiver_operator::crd::VectorCluster| {
        c.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|k| k.type_ == "Stalled" && k.status == "True" && k.message.contains("cannot shrink"))
        })
    };
    let c = sim
        .wait_cluster("vec", "a shrink stalls", Duration::from_secs(30), stalled)
        .await;
    let conditions = c.status.unwrap().conditions;
    assert!(
        conditions.iter().any(|k| k.message.contains("(2Gi)")),
        "{conditions:?}"
    );
    assert_eq!(sizes().await, vec!["2Gi", "2Gi"]);
    sim.clusters()
        .patch("vec", &PatchParams::default(), &storage("2Gi"))
        .await
        .unwrap();
    sim.wait_cluster("vec", "ready again", Duration::from_secs(30), |c| ready(c, 2))
        .await;

    // A collection whose cluster existed and was deleted is released too.
    api.create(&PostParams::default(), &collection("late", "Delete"))
        .await
        .unwrap();
    wait_collection(&sim, "late", "created", |s| s.phase == CollectionPhase::Ready).await;
    sim.clusters()
        .delete("vec", &DeleteParams::default())
        .await
        .unwrap();
    api.delete("late", &DeleteParams::default()).await.unwrap();
    let started = Instant::now();
    while api.get_opt("late").await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "a collection whose cluster was deleted hangs in deletion"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
