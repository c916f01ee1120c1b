//! SIGKILL of one node of a 3-process cluster on 127.0.0.1 under a steady load of writes and
//! `consistency=all` reads through every node: a follower (neither raft leader nor the shard's
//! primary), the raft leader, and the shard's primary; and a clean stop (SIGTERM) of the primary
//! and of the leader. The node restarts on its data while the
//! load goes on, until its replica is Active again. The recorded history must hold ([`common::history`]): no acknowledged write
//! lost, every replica Active and identical afterwards, no stale read at `consistency=all`.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::cluster::node;
use common::history::{all_active, Workload};
use common::Rest;
use serde_json::json;

/// Which node is killed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Victim {
    Follower,
    Leader,
    Primary,
}

async fn peer_id(rest: &Rest) -> u64 {
    rest.ok("GET", "/cluster", None).await["peer_id"]
        .as_u64()
        .unwrap()
}

async fn leader_of(rest: &Rest) -> Option<u64> {
    rest.ok("GET", "/cluster", None).await["raft_info"]["leader"].as_u64()
}

async fn primary_of(rest: &Rest) -> Option<u64> {
    let reports = rest.ok("GET", "/quiver/collections/c/replicas", None).await;
    reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["shard_id"] == 0 && r["primary"] == true)
        .and_then(|r| r["peer_id"].as_u64())
}

/// Waits until the raft leader is known and is `peer`.
async fn leader_is(rest: &Rest, peer: u64) {
    for _ in 0..200 {
        if leader_of(rest).await == Some(peer) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node {peer} did not become the raft leader");
}

/// How the victim goes down.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    Kill9,
    /// SIGTERM: a clean stop (a rolling upgrade) must end within 10 s under the load.
    Clean,
}

async fn kill_under_load(victim: Victim, how: Stop) {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = node(dirs[0].path(), None);
    let bootstrap = first.p2p_uri();
    let mut servers = vec![
        Some(first),
        Some(node(dirs[1].path(), Some(&bootstrap))),
        Some(node(dirs[2].path(), Some(&bootstrap))),
    ];
    let timeout = Duration::from_secs(20);
    let mut rests: Vec<Rest> = servers
        .iter()
        .map(|s| Rest::with_timeout(s.as_ref().unwrap(), timeout))
        .collect();
    let mut ids = Vec::new();
    for r in &rests {
        ids.push(peer_id(r).await);
    }
    rests[0]
        .ok(
            "PUT",
            "/collections/c",
            Some(json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 1, "replication_factor": 3})),
        )
        .await;
    // Keep the roles apart: the raft leader is never the shard's primary, so each kill hits one.
    let primary = primary_of(&rests[0]).await.unwrap();
    if leader_of(&rests[0]).await == Some(primary) {
        let other = *ids.iter().find(|&&p| p != primary).unwrap();
        rests[0]
            .ok("POST", "/quiver/cluster/leader", Some(json!({"peer_id": other})))
            .await;
        leader_is(&rests[0], other).await;
    }
    let leader = leader_of(&rests[0]).await.unwrap();
    let target = match victim {
        Victim::Leader => leader,
        Victim::Primary => primary,
        Victim::Follower => *ids.iter().find(|&&p| p != leader && p != primary).unwrap(),
    };
    let v = ids.iter().position(|&p| p == target).unwrap();
    let survivor = (v + 1) % 3;

    let load = Workload::start("c", &rests);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let down = servers[v].take().unwrap();
    match how {
        Stop::Kill9 => down.kill9(),
        Stop::Clean => assert!(down.stop(), "a clean stop of the {victim:?} under load"),
    }
    load.set_node(v, None);
    let gap = load.acked_more(1, Duration::from_secs(30)).await;
    eprintln!("{victim:?} {how:?} to the next acknowledged write: {gap:?}");
    assert!(gap.is_some(), "writes went on after the {victim:?} was killed");
    tokio::time::sleep(Duration::from_secs(2)).await;
    match victim {
        Victim::Leader => {
            let now = leader_of(&rests[survivor]).await;
            assert!(now.is_some() && now != Some(target), "a new leader: {now:?}");
        }
        Victim::Primary => {
            let now = primary_of(&rests[survivor]).await;
            assert!(now.is_some() && now != Some(target), "a new primary: {now:?}");
        }
        Victim::Follower => {}
    }

    // Back on its data, while the load goes on.
    let back = node(
        dirs[v].path(),
        Some(&servers[survivor].as_ref().unwrap().p2p_uri()),
    );
    rests[v] = Rest::with_timeout(&back, timeout);
    assert_eq!(
        peer_id(&rests[v]).await,
        target,
        "the same node id after the restart"
    );
    servers[v] = Some(back);
    load.set_node(v, Some(rests[v].clone()));
    // Its replica copies itself back while the writes go on.
    all_active(&rests[survivor], "c", 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let history = load.stop().await;
    history.check(&rests, 3).await;
    drop(servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_killed_under_load_loses_nothing_and_comes_back_identical() {
    kill_under_load(Victim::Follower, Stop::Kill9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raft_leader_killed_under_load_loses_nothing_and_comes_back_identical() {
    kill_under_load(Victim::Leader, Stop::Kill9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_primary_killed_under_load_loses_nothing_and_comes_back_identical() {
    kill_under_load(Victim::Primary, Stop::Kill9).await;
}

/// A clean stop of the shard's primary, or of the raft leader, under load: the node steps
/// out of the write path first, so writes go on at once instead of waiting for its replies to
/// time out, and it ends within 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_primary_stopped_cleanly_under_load_hands_over_and_comes_back_identical() {
    kill_under_load(Victim::Primary, Stop::Clean).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raft_leader_stopped_cleanly_under_load_hands_over_and_comes_back_identical() {
    kill_under_load(Victim::Leader, Stop::Clean).await;
}
