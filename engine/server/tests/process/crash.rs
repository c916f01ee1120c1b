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

/// Bytes under `dir` outside write-ahead logs, and every segment folder that a shard's manifest
/// does not name (garbage a kill left behind and the restart did not clear).
fn storage_facts(dir: &std::path::Path) -> (u64, Vec<String>) {
    let (mut bytes, mut stray) = (0u64, Vec::new());
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let manifest = d.join("manifest.json");
        if manifest.exists() {
            let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
            let listed: Vec<&str> = m["segments"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s.as_str())
                .collect();
            if let Ok(entries) = std::fs::read_dir(d.join("segments")) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if !listed.contains(&name.as_str()) {
                        stray.push(e.path().display().to_string());
                    }
                }
            }
        }
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                if e.file_name() != "wal" {
                    stack.push(path);
                }
            } else {
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    (bytes, stray)
}

/// SIGKILL in the middle of long graph builds (a re-index of 20,000 points, on one thread),
/// three times on one storage folder: after each restart every point is there with its vector and
/// payload, no segment folder is left that the manifest does not name, and the storage does not
/// grow with the kills; then the build completes.
#[test]
fn kills_in_the_middle_of_a_build_lose_nothing_and_leave_no_garbage() {
    const POINTS: u64 = 20_000;
    const D: usize = 128;
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let point_vector = |i: u64| -> Vec<f32> {
        (0..D as u64)
            .map(|d| (((i * 131 + d * 7919) % 1000) as f32) / 1000.0 - 0.5)
            .collect()
    };
    let mut server = Server::start(dir.path());
    rt.block_on(async {
        let rest = Rest::new(&server);
        let body = json!({"vectors": {"size": D, "distance": "Dot"},
                          "hnsw_config": {"m": 16, "ef_construct": 200, "max_indexing_threads": 1},
                          "optimizers_config": {"indexing_threshold": 0, "flush_interval_sec": 1}});
        rest.ok("PUT", "/collections/build", Some(body)).await;
        for start in (0..POINTS).step_by(1000) {
            let points: Vec<_> = (start..start + 1000)
                .map(|i| json!({"id": i, "vector": point_vector(i), "payload": {"i": i}}))
                .collect();
            rest.ok(
                "PUT",
                "/collections/build/points?wait=true",
                Some(json!({"points": points})),
            )
            .await;
        }
    });
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (mut sizes, mut mid_build) = (Vec::new(), 0);
    for round in 0..3u64 {
        let rest = Rest::new(&server);
        let busy = rt.block_on(async {
            // Each round asks for other graphs: indexing on, a different m.
            let body = json!({"optimizers_config": {"indexing_threshold": 1000},
                              "hnsw_config": {"m": 8 + 4 * round}});
            rest.ok("PATCH", "/collections/build", Some(body)).await;
            tokio::time::sleep(Duration::from_millis(rng.random_range(300..1500))).await;
            let info = rest.ok("GET", "/collections/build", None).await;
            info["status"] == "yellow"
        });
        mid_build += usize::from(busy);
        server.kill9();
        server = Server::start(dir.path());
        let rest = Rest::new(&server);
        rt.block_on(async {
            let count = rest
                .ok(
                    "POST",
                    "/collections/build/points/count",
                    Some(json!({"exact": true})),
                )
                .await;
            assert_eq!(count["count"], POINTS, "round {round}");
            let ids: Vec<u64> = (0..40).map(|_| rng.random_range(0..POINTS)).collect();
            let got = rest
                .ok(
                    "POST",
                    "/collections/build/points",
                    Some(json!({"ids": ids, "with_vector": true, "with_payload": true})),
                )
                .await;
            for p in got.as_array().unwrap() {
                let id = p["id"].as_u64().unwrap();
                assert_eq!(p["payload"]["i"], id);
                let v: Vec<f32> = serde_json::from_value(p["vector"].clone()).unwrap();
                assert_eq!(v, point_vector(id), "point {id}");
            }
            assert_eq!(got.as_array().unwrap().len(), 40);
        });
        let (bytes, stray) = storage_facts(dir.path());
        assert!(
            stray.is_empty(),
            "round {round}: folders no manifest names: {stray:?}"
        );
        sizes.push(bytes);
    }
    assert!(
        mid_build >= 2,
        "the kills must land while the optimizer works ({mid_build} of 3)"
    );
    // The restarted server finishes the last build.
    let rest = Rest::new(&server);
    let info = rt.block_on(async {
        for _ in 0..1200 {
            let info = rest.ok("GET", "/collections/build", None).await;
            if info["status"] == "green" && info["indexed_vectors_count"] == POINTS {
                return info;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the build did not finish");
    });
    assert_eq!(info["points_count"], POINTS);
    std::thread::sleep(Duration::from_millis(2500)); // a checkpoint (flush_interval_sec 1)
    let (last, stray) = storage_facts(dir.path());
    assert!(stray.is_empty(), "{stray:?}");
    // After each kill the storage holds the points once (plus a graph at most): never the
    // leftovers of every interrupted build.
    for (round, bytes) in sizes.iter().enumerate() {
        assert!(
            *bytes <= last * 2,
            "round {round}: {bytes} bytes against {last} when done: {sizes:?}"
        );
    }
    eprintln!("mid-build kills: {mid_build} of 3 while yellow; storage after each restart {sizes:?}, when done {last}");
    server.stop();
}
