//! Snapshots in a cluster of processes on 127.0.0.1: a node snapshots the shards it holds
//! (collection and shard snapshots), and a collection is restored into a new one shard by
//! shard on one replica each (`priority: snapshot`), after which every replica agrees. On an
//! existing collection, `priority: replica` keeps the other replicas' data and `snapshot`
//! replaces it everywhere.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::cluster::{node, node_with, point};
use common::Rest;
use serde_json::{json, Value};

/// Waits until every replica of every shard of `collection` is Active and the replicas of each
/// shard are identical; returns the number of points per shard.
async fn settled(rest: &Rest, collection: &str) -> BTreeMap<u64, u64> {
    let started = Instant::now();
    loop {
        let reports = rest
            .ok("GET", &format!("/quiver/collections/{collection}/replicas"), None)
            .await;
        let mut by_shard: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
        for r in reports.as_array().unwrap() {
            by_shard
                .entry(r["shard_id"].as_u64().unwrap())
                .or_default()
                .push(r);
        }
        let done = by_shard.values().all(|rs| {
            rs.iter()
                .all(|r| r["state"] == "Active" && r["hash"] == rs[0]["hash"] && r["hash"].is_string())
        });
        if done {
            return by_shard
                .iter()
                .map(|(s, rs)| (*s, rs[0]["points"].as_u64().unwrap()))
                .collect();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "replicas of {collection} did not settle: {reports}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// For each shard of `collection`, the index (into `ids`) of a node holding a replica.
async fn holders(rest: &Rest, collection: &str, ids: &[u64]) -> BTreeMap<u64, usize> {
    let reports = rest
        .ok("GET", &format!("/quiver/collections/{collection}/replicas"), None)
        .await;
    reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let peer = r["peer_id"].as_u64().unwrap();
            (
                r["shard_id"].as_u64().unwrap(),
                ids.iter().position(|&i| i == peer).unwrap(),
            )
        })
        .collect()
}

async fn tags(rest: &Rest, collection: &str) -> BTreeMap<u64, String> {
    let got = rest
        .ok(
            "POST",
            &format!("/collections/{collection}/points/scroll?consistency=all"),
            Some(json!({"limit": 1000, "with_payload": true})),
        )
        .await;
    got["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_u64().unwrap(),
                p["payload"]["tag"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_are_snapshotted_per_node_and_restored_into_a_new_collection() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), None);
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let c = node(dirs[2].path(), Some(&a.p2p_uri()));
    let rests = [Rest::new(&a), Rest::new(&b), Rest::new(&c)];
    let mut ids = Vec::new();
    for r in &rests {
        ids.push(r.ok("GET", "/cluster", None).await["peer_id"].as_u64().unwrap());
    }
    let config =
        json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 2, "replication_factor": 2});
    rests[0].ok("PUT", "/collections/c", Some(config.clone())).await;
    let body = json!({"points": (0..200u64).map(point).collect::<Vec<_>>()});
    rests[1]
        .ok("PUT", "/collections/c/points?wait=true", Some(body))
        .await;
    let before = tags(&rests[0], "c").await;

    // A collection snapshot holds the node's own shards; full-storage snapshots are refused.
    let d = rests[0].ok("POST", "/collections/c/snapshots", None).await;
    assert!(d["size"].as_u64().unwrap() > 0, "{d}");
    let (status, body) = rests[0].call("POST", "/snapshots", None).await;
    assert_eq!(status, 400, "{body}");

    // One snapshot per shard, each made on a node holding it.
    let on = holders(&rests[0], "c", &ids).await;
    let mut files: BTreeMap<u64, PathBuf> = BTreeMap::new();
    for (&shard, &i) in &on {
        let d = rests[i]
            .ok("POST", &format!("/collections/c/shards/{shard}/snapshots"), None)
            .await;
        let name = d["name"].as_str().unwrap();
        files.insert(
            shard,
            dirs[i].path().join(format!("snapshots/c/shards/{shard}/{name}")),
        );
    }
    // A node without a replica of shard 0 cannot snapshot it.
    let reports = rests[0].ok("GET", "/quiver/collections/c/replicas", None).await;
    let with0: Vec<u64> = reports
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["shard_id"] == 0)
        .map(|r| r["peer_id"].as_u64().unwrap())
        .collect();
    let outsider = (0..3).find(|&i| !with0.contains(&ids[i])).unwrap();
    let (status, body) = rests[outsider]
        .call("POST", "/collections/c/shards/0/snapshots", None)
        .await;
    assert_eq!(status, 404, "{body}");

    // The collection changes after the snapshots.
    let later = json!({"points": (100..300u64).map(|i| {
        let mut p = point(i);
        p["payload"]["tag"] = json!("later");
        p
    }).collect::<Vec<_>>()});
    rests[2]
        .ok("PUT", "/collections/c/points?wait=true", Some(later))
        .await;
    assert_eq!(tags(&rests[0], "c").await.len(), 300);

    // Restore into a new collection: each shard recovered on one of its replicas, the
    // snapshot's data winning; the other replicas copy it.
    rests[1].ok("PUT", "/collections/r", Some(config)).await;
    let r_on = holders(&rests[1], "r", &ids).await;
    for (&shard, file) in &files {
        let i = r_on[&shard];
        rests[i]
            .ok(
                "PUT",
                &format!("/collections/r/shards/{shard}/snapshots/recover"),
                Some(json!({"location": format!("file://{}", file.display()), "priority": "snapshot"})),
            )
            .await;
    }
    let per_shard = settled(&rests[0], "r").await;
    assert_eq!(per_shard.values().sum::<u64>(), 200, "{per_shard:?}");
    for r in &rests {
        assert_eq!(
            tags(r, "r").await,
            before,
            "the restored collection through every node"
        );
    }

    // On the live collection: `replica` keeps what the other replicas hold ...
    let (shard0, file0) = files.iter().next().unwrap();
    let i = on[shard0];
    rests[i]
        .ok(
            "PUT",
            &format!("/collections/c/shards/{shard0}/snapshots/recover"),
            Some(json!({"location": format!("file://{}", file0.display())})),
        )
        .await;
    settled(&rests[0], "c").await;
    assert_eq!(tags(&rests[1], "c").await.len(), 300, "the replicas' data won");
    // ... and `snapshot` puts the snapshot's data on every replica of that shard.
    rests[i]
        .ok(
            "PUT",
            &format!("/collections/c/shards/{shard0}/snapshots/recover"),
            Some(json!({"location": format!("file://{}", file0.display()), "priority": "snapshot"})),
        )
        .await;
    let per_shard = settled(&rests[0], "c").await;
    let now = tags(&rests[2], "c").await;
    assert!(
        now.len() < 300,
        "shard {shard0}'s later points are gone: {per_shard:?}"
    );
    assert!(
        now.values().any(|t| t == "later"),
        "the other shard kept its later writes"
    );
    drop((a, b, c));
}

/// A node that dies between installing a shard snapshot and changing the replica states (a
/// deliberate crash at that point) finishes the recovery when it starts again: with
/// `priority: snapshot` every replica ends with the snapshot's data, with `replica` every
/// replica ends with the others' data. Never does the restored replica stay Active beside
/// replicas holding something else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_a_shard_snapshot_recovery_finishes_it_when_it_restarts() {
    let crash = [("QUIVER_FAILPOINTS", "restore.after_swap")];
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = node_with(dirs[0].path(), None, &crash);
    let bootstrap = first.p2p_uri();
    let mut servers = vec![
        first,
        node_with(dirs[1].path(), Some(&bootstrap), &crash),
        node_with(dirs[2].path(), Some(&bootstrap), &crash),
    ];
    let mut rests: Vec<Rest> = servers.iter().map(Rest::new).collect();
    let mut ids = Vec::new();
    for r in &rests {
        ids.push(r.ok("GET", "/cluster", None).await["peer_id"].as_u64().unwrap());
    }
    let config =
        json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 1, "replication_factor": 2});
    rests[0].ok("PUT", "/collections/c", Some(config)).await;
    let write = |rest: Rest, ids: std::ops::Range<u64>| async move {
        let body = json!({"points": ids.map(point).collect::<Vec<_>>()});
        rest.ok("PUT", "/collections/c/points?wait=true", Some(body))
            .await;
    };
    write(rests[1].clone(), 0..100).await;
    let r = holders(&rests[0], "c", &ids).await[&0];
    let other = (r + 1) % 3;
    let d = rests[r]
        .ok("POST", "/collections/c/shards/0/snapshots", None)
        .await;
    let file = dirs[r]
        .path()
        .join(format!("snapshots/c/shards/0/{}", d["name"].as_str().unwrap()));
    let location = format!("file://{}", file.display());

    for (priority, expected) in [("snapshot", 100u64), ("replica", 150)] {
        // The live shard moves on past the snapshot.
        write(rests[other].clone(), 100..150).await;
        let body = json!({"location": location, "priority": priority});
        let answer = rests[r]
            .try_call("PUT", "/collections/c/shards/0/snapshots/recover", Some(body))
            .await;
        assert!(answer.is_none(), "the node died at the failpoint: {answer:?}");
        let peer = servers[other].p2p_uri();
        servers.remove(r).kill9();
        servers.insert(r, node(dirs[r].path(), Some(&peer)));
        rests[r] = Rest::new(&servers[r]);
        let per_shard = settled(&rests[other], "c").await;
        assert_eq!(per_shard[&0], expected, "priority {priority}: {per_shard:?}");
        assert!(
            servers[r].log().contains("was cut short; finishing it"),
            "{}",
            servers[r].log()
        );
        for rest in &rests {
            assert_eq!(tags(rest, "c").await.len() as u64, expected, "through every node");
        }
        // Armed again for the next round.
        servers.remove(r).kill9();
        servers.insert(r, node_with(dirs[r].path(), Some(&peer), &crash));
        rests[r] = Rest::new(&servers[r]);
        settled(&rests[other], "c").await;
    }
    drop(servers);
}
