//! A recorded client history for fault tests: writers (one per node, each on its own points,
//! each write setting payload `seq` to a number never used before) and readers at
//! `consistency=all` run while the test kills, pauses or cuts off nodes. Afterwards the history
//! is checked:
//! - every acknowledged write is in the final state (each point holds its last acknowledged
//!   value or a later attempt), read through every node from every replica;
//! - all replicas of every shard are Active and identical once the cluster has healed;
//! - no read at `consistency=all` returned a value older than one acknowledged before the read
//!   began.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::Rest;

/// Points per writer; writer `w` owns ids `w * 100 .. w * 100 + IDS`.
pub const IDS: u64 = 6;

/// One write attempt: point `id` set to `seq`; `acked` when it was acknowledged (None: it failed
/// or timed out, so it may or may not have been applied).
#[derive(Debug, Clone)]
pub struct Write {
    pub id: u64,
    pub seq: u64,
    pub acked: Option<Instant>,
}

/// One read at consistency=all that succeeded: it began at `began` and saw `seen` for `id`.
#[derive(Debug, Clone)]
pub struct Read {
    pub id: u64,
    pub began: Instant,
    pub seen: Option<u64>,
}

/// Every violation of the guarantees in `writes`, `reads` and the `last` value of each point.
pub fn violations(writes: &[Write], reads: &[Read], last: &BTreeMap<u64, Option<u64>>) -> Vec<String> {
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

fn vector(id: u64, seq: u64) -> serde_json::Value {
    let f = (id * 31 + seq) as f32;
    json!([f.sin(), f.cos(), 1.0, 0.5])
}

/// Reads point `id` of `collection` at consistency=all: Some(value seen) when the read succeeded.
pub async fn read_all(rest: &Rest, collection: &str, id: u64) -> Option<Option<u64>> {
    let body = json!({"ids": [id], "with_payload": true});
    let path = format!("/collections/{collection}/points?consistency=all");
    let (status, r) = rest.try_call("POST", &path, Some(body)).await?;
    if status != 200 {
        return None;
    }
    Some(r["result"][0]["payload"]["seq"].as_u64())
}

/// Writers and readers running against a cluster, recording what they did.
pub struct Workload {
    collection: String,
    /// The node each writer and reader talks to, by index; `None` while that node is down (its
    /// writer then goes through the next node that is up).
    nodes: Arc<Mutex<Vec<Option<Rest>>>>,
    writes: Arc<Mutex<Vec<Write>>>,
    reads: Arc<Mutex<Vec<Read>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    writers: u64,
}

/// The node at `i`, or the next one that is up.
fn pick(nodes: &Mutex<Vec<Option<Rest>>>, i: usize) -> Option<Rest> {
    let nodes = nodes.lock().unwrap();
    (0..nodes.len()).find_map(|k| nodes[(i + k) % nodes.len()].clone())
}

impl Workload {
    /// Starts one writer per node of `rests` and two readers on `collection`.
    pub fn start(collection: &str, rests: &[Rest]) -> Workload {
        let nodes = Arc::new(Mutex::new(rests.iter().cloned().map(Some).collect::<Vec<_>>()));
        let writes = Arc::new(Mutex::new(Vec::<Write>::new()));
        let reads = Arc::new(Mutex::new(Vec::<Read>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writers = rests.len() as u64;
        let mut tasks = Vec::new();
        // One write at a time per writer, so each point's values are ordered by their numbers.
        for w in 0..rests.len() {
            let (nodes, writes, stop) = (Arc::clone(&nodes), Arc::clone(&writes), Arc::clone(&stop));
            let path = format!("/collections/{collection}/points?wait=true");
            tasks.push(tokio::spawn(async move {
                let mut seq = (w as u64) << 32;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let id = w as u64 * 100 + seq % IDS;
                    let body =
                        json!({"points": [{"id": id, "vector": vector(id, seq), "payload": {"seq": seq}}]});
                    let r = match pick(&nodes, w) {
                        Some(rest) => rest.try_call("PUT", &path, Some(body)).await,
                        None => None,
                    };
                    let acked = matches!(r, Some((200, _))).then(Instant::now);
                    writes.lock().unwrap().push(Write { id, seq, acked });
                    if acked.is_none() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }));
        }
        for k in 0..2u64 {
            let (nodes, reads, stop) = (Arc::clone(&nodes), Arc::clone(&reads), Arc::clone(&stop));
            let collection = collection.to_string();
            tasks.push(tokio::spawn(async move {
                let mut n = k;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = (n % writers) * 100 + (n / writers) % IDS;
                    let began = Instant::now();
                    let seen = match pick(&nodes, (n % writers) as usize) {
                        Some(rest) => read_all(&rest, &collection, id).await,
                        None => None,
                    };
                    match seen {
                        Some(seen) => reads.lock().unwrap().push(Read { id, began, seen }),
                        None => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            }));
        }
        Workload {
            collection: collection.to_string(),
            nodes,
            writes,
            reads,
            stop,
            tasks,
            writers,
        }
    }

    /// Node `i` went down (`None`) or came back at a new address.
    pub fn set_node(&self, i: usize, rest: Option<Rest>) {
        self.nodes.lock().unwrap()[i] = rest;
    }

    /// Writes attempted so far.
    pub fn attempted(&self) -> usize {
        self.writes.lock().unwrap().len()
    }

    /// Waits until at least `n` more writes are acknowledged than now, or `within` passes;
    /// returns how long that took (None: not in time).
    pub async fn acked_more(&self, n: usize, within: Duration) -> Option<Duration> {
        let acked = || {
            self.writes
                .lock()
                .unwrap()
                .iter()
                .filter(|w| w.acked.is_some())
                .count()
        };
        let (from, started) = (acked(), Instant::now());
        while started.elapsed() < within {
            if acked() >= from + n {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        None
    }

    /// Stops every writer and reader and returns what they recorded.
    pub async fn stop(self) -> History {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        History {
            collection: self.collection,
            writes: self.writes.lock().unwrap().clone(),
            reads: self.reads.lock().unwrap().clone(),
            writers: self.writers,
        }
    }
}

/// What a [`Workload`] recorded.
pub struct History {
    collection: String,
    pub writes: Vec<Write>,
    pub reads: Vec<Read>,
    writers: u64,
}

impl History {
    pub fn acked(&self) -> usize {
        self.writes.iter().filter(|w| w.acked.is_some()).count()
    }

    /// Waits until every shard has `replicas` replicas, all Active and identical (as `rest`
    /// reports them), then reads every point at consistency=all through each of `rests` and
    /// asserts that the history holds no violation.
    pub async fn check(&self, rests: &[Rest], replicas: usize) {
        converged(&rests[0], &self.collection, replicas).await;
        let ids: Vec<u64> = (0..self.writers)
            .flat_map(|w| (0..IDS).map(move |j| w * 100 + j))
            .collect();
        for rest in rests {
            let mut last = BTreeMap::new();
            for &id in &ids {
                let seen = read_all(rest, &self.collection, id)
                    .await
                    .expect("a read at consistency=all after the heal");
                last.insert(id, seen);
            }
            let found = violations(&self.writes, &self.reads, &last);
            assert!(
                found.is_empty(),
                "{} violations: {:#?}",
                found.len(),
                &found[..found.len().min(10)]
            );
        }
        assert!(
            self.reads.len() > 20,
            "enough reads to check: {}",
            self.reads.len()
        );
        eprintln!(
            "history: {} writes attempted, {} acknowledged; {} reads at consistency=all checked",
            self.writes.len(),
            self.acked(),
            self.reads.len()
        );
    }
}

/// Waits (up to 90 s) until every shard of `collection` has `replicas` replicas, all Active with
/// one fingerprint (only once writes have stopped: each node fingerprints its replica at its own
/// moment).
pub async fn converged(rest: &Rest, collection: &str, replicas: usize) {
    wait_replicas(rest, collection, replicas, true).await;
}

/// Waits (up to 90 s) until every shard of `collection` has `replicas` replicas, all Active.
pub async fn all_active(rest: &Rest, collection: &str, replicas: usize) {
    wait_replicas(rest, collection, replicas, false).await;
}

async fn wait_replicas(rest: &Rest, collection: &str, replicas: usize, same_hash: bool) {
    let started = Instant::now();
    let path = format!("/quiver/collections/{collection}/replicas");
    loop {
        let reports = rest.ok("GET", &path, None).await;
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
        let settled = !by_shard.is_empty()
            && by_shard.values().all(|list| {
                list.len() == replicas
                    && list.iter().all(|(state, hash)| {
                        state == "Active" && (!same_hash || (!hash.is_empty() && hash == &list[0].1))
                    })
            });
        if settled {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "replicas did not converge: {reports}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
