//! A network partition that cuts the raft leader off from the other two nodes while clients
//! write and read through every node; then the partition heals. The whole history is recorded
//! (every write's value is a unique sequence number per point, and who acknowledged what when),
//! and checked afterwards:
//! - every acknowledged write is in the final state (each point holds its last acknowledged
//!   value or a later attempt), read through every node from every replica;
//! - all replicas of every shard are Active and identical after the heal;
//! - no read at `consistency=all` returned a value older than one acknowledged before the read
//!   began.
//!
//! The checker is shown to catch a planted stale read and a planted lost write.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::node_with;
use common::partition::{free_port, source_address, Partition};
use common::Rest;
use serde_json::json;

/// Points per writer; writer `w` owns ids `w * 100 .. w * 100 + IDS`.
const IDS: u64 = 6;

/// One write attempt: point `id` set to `seq`; `acked` when it was acknowledged (None: it failed
/// or timed out, so it may or may not have been applied).
#[derive(Debug, Clone)]
struct Write {
    id: u64,
    seq: u64,
    acked: Option<Instant>,
}

/// One read at consistency=all that succeeded: it began at `began` and saw `seen` for `id`.
#[derive(Debug, Clone)]
struct Read {
    id: u64,
    began: Instant,
    seen: Option<u64>,
}

/// Every violation of the guarantees in `writes`, `reads` and the `last` value of each point.
fn violations(writes: &[Write], reads: &[Read], last: &BTreeMap<u64, Option<u64>>) -> Vec<String> {
    let mut out = Vec::new();
    for r in reads {
        let newest = writes
            .iter()
            .filter(|w| w.id == r.id && w.acked.is_some_and(|t| t < r.began))
            .map(|w| w.seq)
            .max();
        if let Some(newest) = newest {
            if r.seen.is_none_or(|s| s < newest) {
                out.push(format!(
                    "stale read of {}: saw {:?}, {newest} was acknowledged before the read began",
                    r.id, r.seen
                ));
            }
        }
    }
    let mut acked: BTreeMap<u64, u64> = BTreeMap::new();
    for w in writes.iter().filter(|w| w.acked.is_some()) {
        let e = acked.entry(w.id).or_insert(0);
        *e = (*e).max(w.seq);
    }
    for (id, seq) in acked {
        let attempted_later = |s: u64| writes.iter().any(|w| w.id == id && w.seq == s && s >= seq);
        match last.get(&id).copied().flatten() {
            Some(s) if attempted_later(s) => {}
            other => out.push(format!(
                "lost write of {id}: acknowledged {seq}, the final value is {other:?}"
            )),
        }
    }
    out
}

#[test]
fn the_history_checker_catches_a_stale_read_and_a_lost_write() {
    let t0 = Instant::now();
    let t = |ms| t0 + Duration::from_millis(ms);
    let writes = vec![
        Write {
            id: 1,
            seq: 1,
            acked: Some(t(10)),
        },
        Write {
            id: 1,
            seq: 2,
            acked: Some(t(20)),
        },
        Write {
            id: 1,
            seq: 3,
            acked: None,
        },
        Write {
            id: 2,
            seq: 4,
            acked: Some(t(30)),
        },
    ];
    let fine = vec![
        Read {
            id: 1,
            began: t(15),
            seen: Some(1),
        },
        Read {
            id: 1,
            began: t(19),
            seen: Some(2),
        },
        Read {
            id: 1,
            began: t(25),
            seen: Some(3),
        },
        Read {
            id: 2,
            began: t(5),
            seen: None,
        },
    ];
    let last = BTreeMap::from([(1, Some(3)), (2, Some(4))]);
    assert!(violations(&writes, &fine, &last).is_empty());
    let stale = vec![Read {
        id: 1,
        began: t(25),
        seen: Some(1),
    }];
    assert_eq!(violations(&writes, &stale, &last).len(), 1);
    let absent = vec![Read {
        id: 2,
        began: t(31),
        seen: None,
    }];
    assert_eq!(violations(&writes, &absent, &last).len(), 1);
    let lost = BTreeMap::from([(1, Some(1)), (2, Some(4))]);
    assert!(violations(&writes, &[], &lost)[0].contains("lost write of 1"));
    let missing = BTreeMap::from([(1, Some(3)), (2, None)]);
    assert!(violations(&writes, &[], &missing)[0].contains("lost write of 2"));
}

fn vector(id: u64, seq: u64) -> serde_json::Value {
    let f = (id * 31 + seq) as f32;
    json!([f.sin(), f.cos(), 1.0, 0.5])
}

/// Reads point `id` at consistency=all: Some(value seen) when the read succeeded.
async fn read_all(rest: &Rest, id: u64) -> Option<Option<u64>> {
    let body = json!({"ids": [id], "with_payload": true});
    let (status, r) = rest
        .try_call("POST", "/collections/c/points?consistency=all", Some(body))
        .await?;
    if status != 200 {
        return None;
    }
    Some(r["result"][0]["payload"]["seq"].as_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_isolated_leader_loses_no_acknowledged_write_and_all_reads_stay_fresh() {
    let net = Arc::new(Partition::default());
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    let mut first_uri = String::new();
    for (i, dir) in dirs.iter().enumerate() {
        let port = free_port();
        let proxy = net.proxy(i, format!("127.0.0.1:{port}").parse().unwrap()).await;
        let uri = format!("http://{proxy}");
        let settings = [
            ("QUIVER__CLUSTER__P2P__PORT", port.to_string()),
            ("QUIVER__CLUSTER__URI", uri.clone()),
            (
                "QUIVER__CLUSTER__P2P__SOURCE_ADDRESS",
                source_address(i).to_string(),
            ),
        ];
        let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let bootstrap = (i > 0).then_some(first_uri.as_str());
        nodes.push(node_with(dir.path(), bootstrap, &settings));
        if i == 0 {
            first_uri = uri;
        }
    }
    let rests: Vec<Rest> = nodes
        .iter()
        .map(|n| Rest::with_timeout(n, Duration::from_secs(20)))
        .collect();
    rests[0]
        .ok(
            "PUT",
            "/collections/c",
            Some(json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 3, "replication_factor": 3})),
        )
        .await;
    let leader_id = rests[0].ok("GET", "/cluster", None).await["raft_info"]["leader"]
        .as_u64()
        .unwrap();
    let mut leader = 0;
    for (i, r) in rests.iter().enumerate() {
        if r.ok("GET", "/cluster", None).await["peer_id"].as_u64() == Some(leader_id) {
            leader = i;
        }
    }

    let writes = Arc::new(Mutex::new(Vec::<Write>::new()));
    let reads = Arc::new(Mutex::new(Vec::<Read>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    // One writer per node, each on its own points, one write at a time (so each point's values
    // are ordered by their sequence numbers).
    for (w, rest) in rests.iter().enumerate() {
        let (rest, writes, stop) = (rest.clone(), Arc::clone(&writes), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let mut seq = (w as u64) << 32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                seq += 1;
                let id = w as u64 * 100 + seq % IDS;
                let body =
                    json!({"points": [{"id": id, "vector": vector(id, seq), "payload": {"seq": seq}}]});
                let r = rest
                    .try_call("PUT", "/collections/c/points?wait=true", Some(body))
                    .await;
                let acked = matches!(r, Some((200, _))).then(Instant::now);
                writes.lock().unwrap().push(Write { id, seq, acked });
                if acked.is_none() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    for k in 0..2u64 {
        let (rests, reads, stop) = (rests.clone(), Arc::clone(&reads), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let mut n = k;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let id = (n % 3) * 100 + (n / 3) % IDS;
                let began = Instant::now();
                if let Some(seen) = read_all(&rests[(n % 3) as usize], id).await {
                    reads.lock().unwrap().push(Read { id, began, seen });
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    net.isolate(leader);
    let cut_at = writes.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during = writes.lock().unwrap()[cut_at..]
        .iter()
        .filter(|w| w.acked.is_some())
        .count();
    net.heal();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }

    // After the heal: every replica of every shard Active and identical.
    let started = Instant::now();
    loop {
        let reports = rests[0].ok("GET", "/quiver/collections/c/replicas", None).await;
        let mut by_shard: BTreeMap<u64, Vec<(String, String)>> = BTreeMap::new();
        for r in reports.as_array().unwrap() {
            by_shard
                .entry(r["shard_id"].as_u64().unwrap())
                .or_default()
                .push((
                    r["state"].as_str().unwrap().to_string(),
                    r["hash"].as_str().unwrap_or("").to_string(),
                ));
        }
        let settled = by_shard.values().all(|replicas| {
            replicas.len() == 3
                && replicas
                    .iter()
                    .all(|(state, hash)| state == "Active" && hash == &replicas[0].1)
        });
        if settled {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "replicas did not converge after the heal: {reports}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let writes = writes.lock().unwrap().clone();
    let reads = reads.lock().unwrap().clone();
    let ids: Vec<u64> = (0..3u64)
        .flat_map(|w| (0..IDS).map(move |j| w * 100 + j))
        .collect();
    for rest in &rests {
        let mut last = BTreeMap::new();
        for &id in &ids {
            last.insert(id, read_all(rest, id).await.expect("a read after the heal"));
        }
        let found = violations(&writes, &reads, &last);
        assert!(
            found.is_empty(),
            "{} violations: {:#?}",
            found.len(),
            &found[..found.len().min(10)]
        );
    }
    let acked = writes.iter().filter(|w| w.acked.is_some()).count();
    eprintln!(
        "writes: {} attempted, {acked} acknowledged ({during} while the leader was cut off); {} reads at consistency=all checked",
        writes.len(),
        reads.len()
    );
    assert!(
        during > 0,
        "the majority side kept taking writes while the leader was cut off"
    );
    assert!(reads.len() > 20, "enough reads to check: {}", reads.len());
    drop(nodes);
}
