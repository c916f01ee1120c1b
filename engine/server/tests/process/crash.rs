//! Crash safety: writers upsert, edit payloads and delete concurrently while the server is killed
//! with SIGKILL at a random moment; after each restart every acknowledged write must be there exactly,
//! every acknowledged delete must hold, and each point touched by the one unacknowledged request of a
//! writer must be either as acknowledged before or exactly as that request would leave it (an
//! unacknowledged request spanning two shards may land on one only, as in Qdrant). 20 rounds on one
//! storage folder, so recovery of recovered state is exercised too. The optimizer seals and indexes
//! segments throughout, so kills also land mid-build; nothing it does may lose or tear a write.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Rest, Server};
use rand::{Rng, SeedableRng};
use serde_json::json;

const WRITERS: u64 = 4;
const ROUNDS: usize = 20;
const DIM: usize = 8;
const IDS_PER_WRITER: u64 = 400;

/// A point's state as the test knows it: (generation of the upsert, generation of the last payload
/// edit). The upsert generation is written both into the vector and the payload, so a torn point
/// (vector from one write, payload from another) is detected.
type State = (u64, Option<u64>);

#[derive(Default, Clone)]
struct Model {
    live: BTreeMap<u64, State>,
    /// The request in flight when the server died: id -> state it would produce (None = deleted).
    pending: BTreeMap<u64, Option<State>>,
    acked_requests: u64,
}

fn vector(id: u64, gen: u64) -> Vec<f32> {
    let mut v = vec![0.25f32; DIM];
    v[0] = gen as f32;
    v[1] = (id % 1000) as f32;
    v
}

async fn writer(rest: Rest, w: u64, model: Arc<Mutex<Model>>, seed: u64, gen_base: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut gen = gen_base;
    let base = w * 1_000_000;
    loop {
        gen += 1;
        let live: Vec<u64> = model.lock().unwrap().live.keys().copied().collect();
        let choice = rng.random_range(0..10);
        let (method, path, body, effect): (&str, &str, serde_json::Value, BTreeMap<u64, Option<State>>) =
            if choice < 6 || live.len() < 10 {
                let ids: std::collections::BTreeSet<u64> = (0..rng.random_range(1..40))
                    .map(|_| base + rng.random_range(0..IDS_PER_WRITER))
                    .collect();
                let points: Vec<_> = ids
                    .iter()
                    .map(|id| json!({"id": id, "vector": vector(*id, gen), "payload": {"gen": gen, "w": w}}))
                    .collect();
                let effect = ids.iter().map(|id| (*id, Some((gen, None)))).collect();
                (
                    "PUT",
                    "/collections/crash/points?wait=true",
                    json!({"points": points}),
                    effect,
                )
            } else if choice < 8 {
                let ids: std::collections::BTreeSet<u64> =
                    (0..5).map(|_| live[rng.random_range(0..live.len())]).collect();
                let m = model.lock().unwrap();
                let effect = ids
                    .iter()
                    .map(|id| (*id, m.live.get(id).map(|(g, _)| (*g, Some(gen)))))
                    .collect();
                drop(m);
                let body = json!({"points": ids, "payload": {"edit": gen}});
                (
                    "POST",
                    "/collections/crash/points/payload?wait=true",
                    body,
                    effect,
                )
            } else {
                let ids: std::collections::BTreeSet<u64> =
                    (0..3).map(|_| live[rng.random_range(0..live.len())]).collect();
                let effect = ids.iter().map(|id| (*id, None)).collect();
                (
                    "POST",
                    "/collections/crash/points/delete?wait=true",
                    json!({"points": ids}),
                    effect,
                )
            };
        model.lock().unwrap().pending = effect.clone();
        let status = match tokio::time::timeout(
            Duration::from_secs(10),
            rest.try_call(method, path, Some(body)),
        )
        .await
        {
            Ok(Some((status, _))) => status,
            _ => return, // the server died mid-request: the outcome stays pending
        };
        if status != 200 {
            return;
        }
        let mut m = model.lock().unwrap();
        for (id, state) in effect {
            match state {
                Some(s) => m.live.insert(id, s),
                None => m.live.remove(&id),
            };
        }
        m.pending.clear();
        m.acked_requests += 1;
    }
}

async fn verify(rest: &Rest, models: &[Arc<Mutex<Model>>], round: usize) {
    for (w, model) in models.iter().enumerate() {
        let all: Vec<u64> = (0..IDS_PER_WRITER).map(|i| w as u64 * 1_000_000 + i).collect();
        let got = rest
            .ok(
                "POST",
                "/collections/crash/points",
                Some(json!({"ids": all, "with_payload": true, "with_vector": true})),
            )
            .await;
        let mut seen: BTreeMap<u64, State> = BTreeMap::new();
        for p in got.as_array().unwrap() {
            let id = p["id"].as_u64().unwrap();
            let gen = p["payload"]["gen"].as_u64().expect("payload has gen");
            let v0 = p["vector"][0].as_f64().unwrap() as u64;
            assert_eq!(
                v0, gen,
                "round {round}: point {id} is torn: vector gen {v0} != payload gen {gen}"
            );
            seen.insert(id, (gen, p["payload"]["edit"].as_u64()));
        }
        let mut m = model.lock().unwrap();
        for id in all {
            let acked = m.live.get(&id).copied();
            let now = seen.get(&id).copied();
            match m.pending.get(&id) {
                None => assert_eq!(now, acked, "round {round}: point {id}: recovered {now:?}, acknowledged {acked:?}"),
                Some(would_be) => assert!(
                    now == acked || now == *would_be,
                    "round {round}: point {id}: recovered {now:?}, expected {acked:?} or the in-flight {would_be:?}"
                ),
            }
        }
        m.live = seen;
        m.pending.clear();
    }
}

#[test]
fn acknowledged_writes_survive_sigkill_20_times() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let models: Vec<Arc<Mutex<Model>>> = (0..WRITERS)
        .map(|_| Arc::new(Mutex::new(Model::default())))
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for round in 0..ROUNDS {
        let server = Server::start(dir.path());
        let rest = Rest::new(&server);
        rt.block_on(async {
            if round == 0 {
                // Two shards and a 1 s flush interval put checkpoints (segment writes, log
                // truncation) inside the kill window.
                // A 4 KB indexing threshold seals and indexes segments of ~128 points all the
                // time, so kills also land mid-build and between a build and its checkpoint.
                let body = json!({"vectors": {"size": DIM, "distance": "Dot"}, "shard_number": 2,
                                  "hnsw_config": {"m": 8, "ef_construct": 32},
                                  "optimizers_config": {"flush_interval_sec": 1, "indexing_threshold": 4}});
                rest.ok("PUT", "/collections/crash", Some(body)).await;
            } else {
                verify(&rest, &models, round).await;
            }
        });
        let handles: Vec<_> = models
            .iter()
            .enumerate()
            .map(|(w, m)| {
                rt.spawn(writer(
                    rest.clone(),
                    w as u64,
                    m.clone(),
                    rng.random(),
                    (round as u64 + 1) * 100_000,
                ))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.random_range(300..2500)));
        server.kill9();
        rt.block_on(async {
            for h in handles {
                let _ = h.await;
            }
        });
    }
    let server = Server::start(dir.path());
    let rest = Rest::new(&server);
    rt.block_on(verify(&rest, &models, ROUNDS));
    let indexed = rt.block_on(async {
        for _ in 0..100 {
            let info = rest.ok("GET", "/collections/crash", None).await;
            if info["status"] == "green" {
                return info["indexed_vectors_count"].as_u64().unwrap_or(0);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the optimizer did not settle");
    });
    assert!(indexed > 0, "the optimizer indexed segments during the test");
    let acked: u64 = models.iter().map(|m| m.lock().unwrap().acked_requests).sum();
    let live: usize = models.iter().map(|m| m.lock().unwrap().live.len()).sum();
    assert!(
        acked > 200,
        "the test must actually write (acknowledged requests: {acked})"
    );
    eprintln!(
        "crash test: {ROUNDS} SIGKILL rounds, {acked} acknowledged requests, {live} live points verified, {indexed} vectors indexed"
    );
}
