//! Cluster nodes for process tests: `quiver` with cluster mode on, an OS-chosen internal port
//! and a fast raft tick, plus the points the cluster tests write.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Rest, Server};

/// A cluster node on `storage`; `bootstrap` is the internal URI of a member to join (none: it
/// forms a new cluster); `extra` adds settings.
pub fn node_with(storage: &Path, bootstrap: Option<&str>, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("QUIVER__CLUSTER__ENABLED", "true".to_string()),
        ("QUIVER__CLUSTER__P2P__PORT", "0".to_string()),
        ("QUIVER__CLUSTER__CONSENSUS__TICK_PERIOD_MS", "50".to_string()),
    ];
    if let Some(b) = bootstrap {
        env.push(("QUIVER__CLUSTER__BOOTSTRAP", b.to_string()));
    }
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_with(storage, &env)
}

/// [`node_with`] without extra settings.
pub fn node(storage: &Path, bootstrap: Option<&str>) -> Server {
    node_with(storage, bootstrap, &[])
}

/// Point `id` with a 4-d vector and payload `tag: w<id>`.
pub fn point(id: u64) -> serde_json::Value {
    let f = id as f32;
    json!({"id": id, "vector": [f.sin(), f.cos(), 1.0, (f * 0.1).sin()], "payload": {"tag": format!("w{id}")}})
}

/// The replica list of shard 0 as the admin surface reports it: (peer, state, hash).
pub async fn shard0(rest: &Rest) -> Vec<(u64, String, String)> {
    let reports = rest.ok("GET", "/quiver/collections/c/replicas", None).await;
    reports
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["shard_id"] == 0)
        .map(|r| {
            (
                r["peer_id"].as_u64().unwrap(),
                r["state"].as_str().unwrap().to_string(),
                r["hash"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Waits until shard 0's replicas are exactly `peers`, all Active with one hash. Only once
/// writes have stopped: each node hashes its replica at its own moment, so under a steady
/// writer two identical replicas rarely report the same hash (use [`all_active`] then).
pub async fn settle(rest: &Rest, peers: &BTreeSet<u64>) -> String {
    wait_for(rest, peers, true).await
}

/// Waits until shard 0's replicas are exactly `peers`, all Active (hashes not compared).
pub async fn all_active(rest: &Rest, peers: &BTreeSet<u64>) {
    wait_for(rest, peers, false).await;
}

async fn wait_for(rest: &Rest, peers: &BTreeSet<u64>, same_hash: bool) -> String {
    let started = Instant::now();
    loop {
        let r = shard0(rest).await;
        let on: BTreeSet<u64> = r.iter().map(|x| x.0).collect();
        if on == *peers && r.iter().all(|x| x.1 == "Active" && (!same_hash || x.2 == r[0].2)) {
            return r[0].2.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "replicas of shard 0: {r:?}, want {peers:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
