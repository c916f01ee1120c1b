//! Shard copies interrupted while writes go on, on a cluster of processes on 127.0.0.1: a copy
//! aborted mid-way and started again, and a receiving node killed with SIGKILL mid-copy and
//! restarted. Each time the copy must end Active and identical to the primary, and every write
//! acknowledged during it must be there, read at consistency=all through every node; a recorded
//! history of writes and consistency=all reads through every node meanwhile must hold
//! ([`common::history`]). A copy by
//! snapshot (Qdrant's `method: snapshot`) under writes must end the same way, with the
//! primary's indexed segments and no archive left behind, also when its receiver is killed in
//! the middle of it. A replica back from a clean restart
//! catches up by WAL delta (only the writes it missed), or by a whole copy when the primary no
//! longer holds them.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::{all_active, node_with, point, settle, shard0};
use common::history::Workload;
use common::{Rest, Server};
use serde_json::json;

/// Points in the shard before the copy starts: enough that a copy takes a while.
const POINTS: u64 = 30_000;

struct Setup {
    servers: Vec<Server>,
    rests: Vec<Rest>,
    holder: u64,
    to: u64,
    to_index: usize,
    _dirs: Vec<tempfile::TempDir>,
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

/// [`setup`] with extra environment for every node.
async fn setup_with(env: &[(&str, &str)]) -> Setup {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node_with(dirs[0].path(), None, env);
    let b = node_with(dirs[1].path(), Some(&a.p2p_uri()), env);
    let c = node_with(dirs[2].path(), Some(&a.p2p_uri()), env);
    let rests = vec![Rest::new(&a), Rest::new(&b), Rest::new(&c)];
    let mut ids = Vec::new();
    for r in &rests {
        ids.push(r.ok("GET", "/cluster", None).await["peer_id"].as_u64().unwrap());
    }
    rests[0]
        .ok(
            "PUT",
            "/collections/c",
            Some(json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 1, "replication_factor": 1})),
        )
        .await;
    for start in (0..POINTS).step_by(2_000) {
        let body = json!({"points": (start..start + 2_000).map(point).collect::<Vec<_>>()});
        rests[1]
            .ok("PUT", "/collections/c/points?wait=true", Some(body))
            .await;
    }
    let holder = shard0(&rests[0]).await[0].0;
    let to_index = ids.iter().position(|&i| i != holder).unwrap();
    Setup {
        servers: vec![a, b, c],
        rests,
        holder,
        to: ids[to_index],
        to_index,
        _dirs: dirs,
    }
}

/// Writes unique points through `rest` until stopped; the acknowledged ids.
fn writer(rest: Rest, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<u64>> {
    tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut id = 1_000_000u64;
        while !stop.load(Ordering::Relaxed) {
            let body = json!({"points": [point(id), point(id + 1)]});
            if let Some((200, _)) = rest
                .try_call("PUT", "/collections/c/points?wait=true", Some(body))
                .await
            {
                acked.extend([id, id + 1]);
            }
            id += 2;
        }
        acked
    })
}

/// Waits until the replica of shard 0 on `peer` is being copied (Partial).
async fn copying(rest: &Rest, peer: u64) {
    let started = Instant::now();
    loop {
        let partial = shard0(rest)
            .await
            .iter()
            .any(|(p, state, _)| *p == peer && state == "Partial");
        if partial {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the copy to {peer} never started: {:?}",
            shard0(rest).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn replicate(rest: &Rest, from: u64, to: u64) {
    let op = json!({"replicate_shard": {"shard_id": 0, "from_peer_id": from, "to_peer_id": to}});
    rest.ok("POST", "/collections/c/cluster", Some(op)).await;
}

/// Every acknowledged id is readable through every node in `rests` at consistency=all.
async fn all_present(rests: &[&Rest], acked: &[u64]) {
    for r in rests {
        let n = r
            .ok(
                "POST",
                "/collections/c/points/count?consistency=all",
                Some(json!({"exact": true})),
            )
            .await["count"]
            .as_u64()
            .unwrap();
        assert!(n >= POINTS + acked.len() as u64, "{n} points");
        for chunk in acked.chunks(200) {
            let got = r
                .ok(
                    "POST",
                    "/collections/c/points?consistency=all",
                    Some(json!({"ids": chunk})),
                )
                .await;
            assert_eq!(
                got.as_array().unwrap().len(),
                chunk.len(),
                "acknowledged writes missing"
            );
        }
    }
}

/// Stops the writer, then checks the holder and receiver are Active and identical and every
/// acknowledged write is readable at consistency=all through every node.
async fn stop_and_check(s: &Setup, stop: Arc<AtomicBool>, w: tokio::task::JoinHandle<Vec<u64>>) {
    stop.store(true, Ordering::Relaxed);
    let acked = w.await.unwrap();
    assert!(!acked.is_empty());
    let hash = settle(&s.rests[0], &BTreeSet::from([s.holder, s.to])).await;
    assert!(!hash.is_empty());
    all_present(&s.rests.iter().collect::<Vec<_>>(), &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_aborted_mid_way_and_started_again_ends_identical() {
    let s = setup().await;
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(s.rests[1].clone(), Arc::clone(&stop));
    let load = Workload::start("c", &s.rests);
    replicate(&s.rests[0], s.holder, s.to).await;
    copying(&s.rests[0], s.to).await;
    let abort = json!({"abort_transfer": {"shard_id": 0, "to_peer_id": s.to}});
    s.rests[2].ok("POST", "/collections/c/cluster", Some(abort)).await;
    settle(&s.rests[0], &BTreeSet::from([s.holder])).await;
    // The aborted copy's data is gone from the receiver.
    let layout = s.rests[s.to_index]
        .ok("GET", "/collections/c/cluster", None)
        .await;
    assert_eq!(layout["local_shards"], json!([]), "{layout}");
    replicate(&s.rests[1], s.holder, s.to).await;
    all_active(&s.rests[0], &BTreeSet::from([s.holder, s.to])).await;
    let history = load.stop().await;
    stop_and_check(&s, stop, w).await;
    history.check(&s.rests, 2).await;
    drop(s.servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_mid_copy_restarts_and_finishes_identical() {
    let mut s = setup().await;
    let writer_index = (0..3).find(|&i| i != s.to_index).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(s.rests[writer_index].clone(), Arc::clone(&stop));
    let load = Workload::start("c", &s.rests);
    replicate(&s.rests[writer_index], s.holder, s.to).await;
    copying(&s.rests[writer_index], s.to).await;
    let victim = s.servers.remove(s.to_index);
    let storage = victim.storage.clone();
    victim.kill9();
    load.set_node(s.to_index, None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Back on its own data: it recovers the copy by itself.
    let peer_uri = s.servers[0].p2p_uri();
    let back = node_with(&storage, Some(&peer_uri), &[("QUIVER_LOG", "info,openraft=warn")]);
    s.rests[s.to_index] = Rest::new(&back);
    load.set_node(s.to_index, Some(s.rests[s.to_index].clone()));
    all_active(&s.rests[writer_index], &BTreeSet::from([s.holder, s.to])).await;
    let history = load.stop().await;
    stop.store(true, Ordering::Relaxed);
    let acked = w.await.unwrap();
    assert!(!acked.is_empty());
    settle(&s.rests[writer_index], &BTreeSet::from([s.holder, s.to])).await;
    all_present(&s.rests.iter().collect::<Vec<_>>(), &acked).await;
    history.check(&s.rests, 2).await;
    drop((s.servers, back));
}

/// The receiver of a copy by snapshot (archive made on the primary, downloaded, installed) is
/// killed with SIGKILL while Partial, then started on its own data: it copies itself again by
/// itself and ends Active and identical, every acknowledged write readable at consistency=all
/// through every node, and no archive left in any node's transfer folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_during_a_snapshot_copy_restarts_and_finishes_identical() {
    let mut s = setup_with(&[("QUIVER_LOG", "info,openraft=warn")]).await;
    let writer_index = (0..3).find(|&i| i != s.to_index).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(s.rests[writer_index].clone(), Arc::clone(&stop));
    let load = Workload::start("c", &s.rests);
    let op = json!({"replicate_shard": {"shard_id": 0, "from_peer_id": s.holder, "to_peer_id": s.to, "method": "snapshot"}});
    s.rests[writer_index]
        .ok("POST", "/collections/c/cluster", Some(op))
        .await;
    copying(&s.rests[writer_index], s.to).await;
    let victim = s.servers.remove(s.to_index);
    let storage = victim.storage.clone();
    // Killed as soon as it is Partial: the primary is archiving its shard, or the archive is
    // on its way.
    let mid_download = !transfer_files(&storage).is_empty();
    victim.kill9();
    load.set_node(s.to_index, None);
    eprintln!("killed the receiver of a snapshot copy (an archive in its transfer folder: {mid_download})");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let peer_uri = s.servers[0].p2p_uri();
    let back = node_with(&storage, Some(&peer_uri), &[("QUIVER_LOG", "info,openraft=warn")]);
    s.rests[s.to_index] = Rest::new(&back);
    load.set_node(s.to_index, Some(s.rests[s.to_index].clone()));
    all_active(&s.rests[writer_index], &BTreeSet::from([s.holder, s.to])).await;
    let history = load.stop().await;
    stop.store(true, Ordering::Relaxed);
    let acked = w.await.unwrap();
    assert!(!acked.is_empty());
    settle(&s.rests[writer_index], &BTreeSet::from([s.holder, s.to])).await;
    all_present(&s.rests.iter().collect::<Vec<_>>(), &acked).await;
    history.check(&s.rests, 2).await;
    for server in s.servers.iter().chain([&back]) {
        assert_eq!(
            transfer_files(&server.storage),
            Vec::<String>::new(),
            "archives left behind"
        );
    }
    drop((s.servers, back));
}

/// Files left in a node's transfer folder.
fn transfer_files(storage: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(storage.join("transfers"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_by_snapshot_under_writes_ends_identical_and_indexed() {
    // At info the receiver logs how each copy went.
    let s = setup_with(&[("QUIVER_LOG", "info,openraft=warn")]).await;
    // Index the primary's points (a low threshold), so its segments carry an HNSW graph.
    let patch = json!({"optimizers_config": {"indexing_threshold": 100}});
    s.rests[0].ok("PATCH", "/collections/c", Some(patch)).await;
    let started = Instant::now();
    let holder_rest = s
        .rests
        .iter()
        .zip(&s.servers)
        .find(|(_, server)| server.storage.join("collections/c/shards/0").exists())
        .map(|(r, _)| r.clone())
        .unwrap();
    loop {
        let info = holder_rest.ok("GET", "/collections/c", None).await;
        if info["status"] == "green" && info["indexed_vectors_count"].as_u64() >= Some(POINTS) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never indexed: {info}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Methods Quiver does not implement are refused, naming the field.
    let wal = json!({"replicate_shard": {"shard_id": 0, "from_peer_id": s.holder, "to_peer_id": s.to, "method": "resharding_stream_records"}});
    let (code, body) = s.rests[0]
        .try_call("POST", "/collections/c/cluster", Some(wal))
        .await
        .unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("replicate_shard.method"), "{body}");

    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(s.rests[1].clone(), Arc::clone(&stop));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let op = json!({"replicate_shard": {"shard_id": 0, "from_peer_id": s.holder, "to_peer_id": s.to, "method": "snapshot"}});
    s.rests[0].ok("POST", "/collections/c/cluster", Some(op)).await;
    all_active(&s.rests[0], &BTreeSet::from([s.holder, s.to])).await;
    // Writes go on after the copy too: they reach the installed shard.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_and_check(&s, stop, w).await;
    let receiver = &s.servers[s.to_index];
    assert!(
        receiver.log().contains("recovered by snapshot"),
        "the receiver's log:\n{}",
        receiver.log()
    );
    // The receiver holds the primary's segments with their graph: indexed without a rebuild.
    let info = s.rests[s.to_index].ok("GET", "/collections/c", None).await;
    assert!(info["indexed_vectors_count"].as_u64() >= Some(POINTS), "{info}");
    for server in &s.servers {
        assert_eq!(
            transfer_files(&server.storage),
            Vec::<String>::new(),
            "archives left behind"
        );
    }
    drop(s.servers);
}

/// Copies a replica to `to`, stops its node cleanly while a writer goes on (it steps out of the
/// write path: Dead), restarts it and waits until it is back, Active and identical, with every
/// acknowledged write readable through every node. Returns the restarted node's log.
async fn restart_under_writes(env: &[(&str, &str)]) -> String {
    let mut s = setup_with(env).await;
    let both = BTreeSet::from([s.holder, s.to]);
    replicate(&s.rests[0], s.holder, s.to).await;
    settle(&s.rests[0], &both).await;
    let writer_index = (0..3).find(|&i| i != s.to_index).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(s.rests[writer_index].clone(), Arc::clone(&stop));
    let load = Workload::start("c", &s.rests);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let receiver = s.servers.remove(s.to_index);
    let storage = receiver.storage.clone();
    assert!(receiver.stop(), "clean stop");
    load.set_node(s.to_index, None);
    // It steps out of the write path as it stops (Dead), and misses the writes that follow.
    let started = Instant::now();
    loop {
        let now = shard0(&s.rests[writer_index]).await;
        if now.iter().any(|(p, state, _)| *p == s.to && state == "Dead") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never marked Dead: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let back = node_with(&storage, Some(&s.servers[0].p2p_uri()), env);
    s.rests[s.to_index] = Rest::new(&back);
    load.set_node(s.to_index, Some(s.rests[s.to_index].clone()));
    all_active(&s.rests[writer_index], &both).await;
    // Writes go on after it is back, too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let history = load.stop().await;
    stop_and_check(&s, stop, w).await;
    history.check(&s.rests, 2).await;
    let log = back.log();
    drop((s.servers, back));
    log
}

/// A replica whose node was stopped cleanly (a rolling upgrade) while writes went on catches up
/// with only the writes it missed, applied in order with those that came during the catch-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_back_from_a_clean_restart_catches_up_by_wal_delta() {
    let log = restart_under_writes(&[("QUIVER_LOG", "info,openraft=warn")]).await;
    assert!(
        log.contains("recovered by WAL delta"),
        "the receiver's log:\n{log}"
    );
    assert!(!log.contains("recovered by streamed records"), "{log}");
}

/// When the primary no longer holds every write the replica missed (here: it keeps none), the
/// replica copies itself whole instead, with the same end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_the_primary_no_longer_holds_falls_back_to_a_whole_copy() {
    let env = [
        ("QUIVER_LOG", "info,openraft=warn"),
        ("QUIVER__CLUSTER__WAL_DELTA_WINDOW_MB", "0"),
    ];
    let log = restart_under_writes(&env).await;
    assert!(
        log.contains("no longer holds every write after"),
        "the receiver's log:\n{log}"
    );
    assert!(log.contains("recovered by streamed records"), "{log}");
    assert!(!log.contains("recovered by WAL delta"), "{log}");
}
