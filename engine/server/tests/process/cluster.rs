//! Three `quiver` processes on 127.0.0.1 forming a cluster: a collection with 3 shards and 2
//! replicas each, written through one node while another is killed with SIGKILL. Every
//! acknowledged write must stay readable through every surviving node, replicas that missed
//! writes must be reported Dead (never Active with holes), and when the killed node comes back its
//! replicas must copy themselves back to Active while writes go on, ending identical to the others.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::cluster::{node, point, settle, shard0};
use common::Rest;
use serde_json::json;

/// Upserts points `ids` through `rest` with `wait=true`: (HTTP status, body).
async fn write(rest: &Rest, ids: &[u64]) -> (u16, serde_json::Value) {
    let body = json!({"points": ids.iter().map(|&i| point(i)).collect::<Vec<_>>()});
    rest.call("PUT", "/collections/c/points?wait=true", Some(body))
        .await
}

/// Ids present, read through `rest` (which routes each shard to an Active replica).
async fn present(rest: &Rest, ids: &[u64]) -> BTreeSet<u64> {
    let mut found = BTreeSet::new();
    for chunk in ids.chunks(200) {
        let r = rest
            .ok(
                "POST",
                "/collections/c/points",
                Some(json!({"ids": chunk, "with_payload": true})),
            )
            .await;
        for rec in r.as_array().unwrap() {
            let id = rec["id"].as_u64().unwrap();
            assert_eq!(rec["payload"]["tag"], format!("w{id}"), "payload of {id}");
            found.insert(id);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_killed_node_and_lagging_replicas_are_marked_dead() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), None);
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let c = node(dirs[2].path(), Some(&a.p2p_uri()));
    let (ra, rb, rc) = (Rest::new(&a), Rest::new(&b), Rest::new(&c));
    let cluster = ra.ok("GET", "/cluster", None).await;
    assert_eq!(cluster["status"], "enabled");
    assert_eq!(cluster["peers"].as_object().unwrap().len(), 3, "{cluster}");

    let created = ra
        .ok(
            "PUT",
            "/collections/c",
            Some(json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 3, "replication_factor": 2})),
        )
        .await;
    assert_eq!(created, json!(true));
    // Every node knows it at once (each caught up before answering), with 6 replicas in all.
    let mut replicas = 0;
    for r in [&ra, &rb, &rc] {
        let info = r.ok("GET", "/collections/c/cluster", None).await;
        assert_eq!(info["shard_count"], 3);
        replicas += info["local_shards"].as_array().unwrap().len();
    }
    assert_eq!(replicas, 6);

    // Writes through A; C is killed after the first 20 batches.
    let mut acked: Vec<u64> = Vec::new();
    let mut next = 0u64;
    let mut c = Some(c);
    let mut killed_at = None;
    let mut recovered_after = None;
    let started = Instant::now();
    while acked.len() < 600 && started.elapsed() < Duration::from_secs(60) {
        if next == 200 {
            c.take().unwrap().kill9();
            killed_at = Some(Instant::now());
        }
        let batch: Vec<u64> = (next..next + 10).collect();
        next += 10;
        let (status, reply) = write(&ra, &batch).await;
        if status == 200 {
            acked.extend(&batch);
            if let (Some(k), None) = (killed_at, recovered_after) {
                recovered_after = Some(k.elapsed());
            }
        } else {
            eprintln!("write of {batch:?} failed ({status}): {reply}");
        }
    }
    assert!(
        acked.len() >= 600,
        "only {} writes were acknowledged",
        acked.len()
    );
    eprintln!(
        "first acknowledged write {:?} after the kill; {} acknowledged",
        recovered_after.unwrap(),
        acked.len()
    );

    // Every acknowledged write is readable through both survivors, with its payload.
    for r in [&ra, &rb] {
        let found = present(r, &acked).await;
        let missing: Vec<_> = acked.iter().filter(|i| !found.contains(i)).collect();
        assert!(missing.is_empty(), "acknowledged but missing: {missing:?}");
        let count = r
            .ok(
                "POST",
                "/collections/c/points/count",
                Some(json!({"exact": true})),
            )
            .await;
        assert!(count["count"].as_u64().unwrap() >= acked.len() as u64);
    }

    // C missed writes: each of its replicas is Dead now, not Active.
    let info = ra.ok("GET", "/collections/c/cluster", None).await;
    let a_id = ra.ok("GET", "/cluster", None).await["peer_id"].as_u64().unwrap();
    let b_id = rb.ok("GET", "/cluster", None).await["peer_id"].as_u64().unwrap();
    let dead_id: u64 = cluster["peers"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .find(|p| *p != a_id && *p != b_id)
        .unwrap();
    let on_dead: Vec<_> = info["remote_shards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["peer_id"].as_u64() == Some(dead_id))
        .collect();
    assert_eq!(
        on_dead.len(),
        2,
        "two of the six replicas were on the killed node: {info}"
    );
    for r in on_dead {
        assert_eq!(r["state"], "Dead", "replica on the killed node: {info}");
    }

    // The killed node restarts on its data and serves reads again (from Active replicas).
    let c = node(dirs[2].path(), Some(&a.p2p_uri()));
    let rc = Rest::new(&c);
    let back = rc.ok("GET", "/cluster", None).await;
    assert_eq!(back["peer_id"].as_u64(), Some(dead_id), "same id after restart");
    let found = present(&rc, &acked).await;
    assert_eq!(found.len(), acked.len(), "reads through the restarted node");

    // Its replicas recover by themselves (copied from the primaries) while writes go on through B.
    let started = Instant::now();
    let mut extra = 0u64;
    let reports = loop {
        let batch: Vec<u64> = (10_000 + extra..10_000 + extra + 10).collect();
        extra += 10;
        let (status, reply) = write(&rb, &batch).await;
        assert_eq!(status, 200, "writes during the recovery: {reply}");
        acked.extend(&batch);
        let reports = ra.ok("GET", "/quiver/collections/c/replicas", None).await;
        let all_active = reports.as_array().unwrap().iter().all(|r| r["state"] == "Active");
        if all_active {
            break reports;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "replicas did not recover: {reports}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("replicas Active again {:?} after the restart", started.elapsed());
    // Every shard's two replicas hold the same points, payloads and vectors.
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 6);
    for shard in 0..3 {
        let r: Vec<_> = reports.iter().filter(|r| r["shard_id"] == shard).collect();
        assert_eq!(r.len(), 2);
        assert!(r[0]["error"].is_null() && r[1]["error"].is_null(), "{r:?}");
        assert_eq!(r[0]["points"], r[1]["points"], "shard {shard}: {r:?}");
        assert_eq!(r[0]["hash"], r[1]["hash"], "shard {shard}: {r:?}");
    }
    let total: u64 = reports.iter().map(|r| r["points"].as_u64().unwrap()).sum::<u64>() / 2;
    assert!(total >= acked.len() as u64);
    for r in [&ra, &rb, &rc] {
        let found = present(r, &acked).await;
        assert_eq!(
            found.len(),
            acked.len(),
            "every acknowledged write, through every node"
        );
    }
    drop((a, b, c));
}

/// Waits until `GET /readyz` answers 200 on `rest`.
async fn ready(rest: &Rest, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = rest.call("GET", "/readyz", None).await;
        if status == 200 {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "not ready after {within:?}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_continue_when_the_raft_leader_is_killed_and_it_comes_back_ready() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), None);
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let c = node(dirs[2].path(), Some(&a.p2p_uri()));
    let (ra, rb) = (Rest::new(&a), Rest::new(&b));
    let leader = ra.ok("GET", "/cluster", None).await["raft_info"]["leader"].as_u64();
    let a_id = ra.ok("GET", "/cluster", None).await["peer_id"].as_u64();
    assert_eq!(leader, a_id, "the first node leads");
    // Every node holds every shard: each write needs the leader's replica or its demotion.
    rb.ok(
        "PUT",
        "/collections/c",
        Some(
            json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 2, "replication_factor": 3}),
        ),
    )
    .await;
    for r in [&ra, &rb, &Rest::new(&c)] {
        ready(r, Duration::from_secs(10)).await;
    }

    let mut acked = Vec::new();
    let mut a = Some(a);
    let mut killed_at = None;
    let mut gap = None;
    let started = Instant::now();
    let mut next = 0u64;
    while acked.len() < 400 && started.elapsed() < Duration::from_secs(60) {
        if next == 100 {
            a.take().unwrap().kill9();
            killed_at = Some(Instant::now());
        }
        let batch: Vec<u64> = (next..next + 10).collect();
        next += 10;
        let (status, _) = write(&rb, &batch).await;
        if status == 200 {
            acked.extend(&batch);
            if let (Some(k), None) = (killed_at, gap) {
                gap = Some(k.elapsed());
            }
        }
    }
    assert!(acked.len() >= 400, "only {} acknowledged", acked.len());
    let new_leader = rb.ok("GET", "/cluster", None).await["raft_info"]["leader"].as_u64();
    assert!(
        new_leader.is_some() && new_leader != a_id,
        "a new leader: {new_leader:?}"
    );
    eprintln!(
        "leader SIGKILL to the next acknowledged write: {:?}",
        gap.unwrap()
    );
    assert_eq!(present(&rb, &acked).await.len(), acked.len());

    // The old leader restarts on a new port (its address is updated through a member it knew),
    // recovers its replicas and only then reports ready.
    let a = node(dirs[0].path(), None);
    let ra = Rest::new(&a);
    let took = ready(&ra, Duration::from_secs(60)).await;
    eprintln!("restarted leader ready after {took:?}");
    let status = ra.ok("GET", "/quiver/node", None).await;
    assert!(status["not_ready"].as_array().unwrap().is_empty(), "{status}");
    assert_eq!(status["replicas"].as_array().unwrap().len(), 2, "{status}");
    let reports = ra.ok("GET", "/quiver/collections/c/replicas", None).await;
    for shard in 0..2 {
        let r: Vec<_> = reports
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["shard_id"] == shard)
            .collect();
        assert_eq!(r.len(), 3);
        assert!(
            r.iter()
                .all(|x| x["state"] == "Active" && x["hash"] == r[0]["hash"]),
            "shard {shard}: {r:?}"
        );
    }
    assert_eq!(present(&ra, &acked).await.len(), acked.len());
    drop((a, b, c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_indexes_config_changes_and_aliases_reach_every_node() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), None);
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let c = node(dirs[2].path(), Some(&a.p2p_uri()));
    let rests = [Rest::new(&a), Rest::new(&b), Rest::new(&c)];
    rests[0]
        .ok(
            "PUT",
            "/collections/c",
            Some(json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 3, "replication_factor": 2})),
        )
        .await;
    // Through a follower, as LlamaIndex and LangChain would.
    rests[2]
        .ok(
            "PUT",
            "/collections/c/index?wait=true",
            Some(json!({"field_name": "tag", "field_schema": "keyword"})),
        )
        .await;
    rests[1]
        .ok(
            "PATCH",
            "/collections/c",
            Some(json!({"hnsw_config": {"m": 24}, "optimizers_config": {"indexing_threshold": 0}})),
        )
        .await;
    for r in &rests {
        let info = r.ok("GET", "/collections/c", None).await;
        assert_eq!(info["payload_schema"]["tag"]["data_type"], "keyword", "{info}");
        assert_eq!(info["config"]["hnsw_config"]["m"], 24, "{info}");
        assert_eq!(
            info["config"]["optimizer_config"]["indexing_threshold"], 0,
            "{info}"
        );
    }
    // A bad field is refused with its name; dropping the index reaches every node too.
    let (status, body) = rests[0]
        .call(
            "PUT",
            "/collections/c/index",
            Some(json!({"field_name": "", "field_schema": "keyword"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    rests[1]
        .ok("DELETE", "/collections/c/index/tag?wait=true", None)
        .await;
    for r in &rests {
        let info = r.ok("GET", "/collections/c", None).await;
        assert!(info["payload_schema"].get("tag").is_none(), "{info}");
    }
    // Aliases: made through one node, used through the others (writes and reads).
    let aliases = json!({"actions": [{"create_alias": {"collection_name": "c", "alias_name": "live"}}]});
    rests[2].ok("POST", "/collections/aliases", Some(aliases)).await;
    let body = json!({"points": (0..30u64).map(point).collect::<Vec<_>>()});
    rests[0]
        .ok("PUT", "/collections/live/points?wait=true", Some(body))
        .await;
    for r in &rests {
        let listed = r.ok("GET", "/aliases", None).await;
        assert_eq!(listed["aliases"][0]["alias_name"], "live", "{listed}");
        let count = r
            .ok(
                "POST",
                "/collections/live/points/count",
                Some(json!({"exact": true})),
            )
            .await;
        assert_eq!(count["count"], 30);
    }
    let bad = json!({"actions": [{"create_alias": {"collection_name": "nope", "alias_name": "x"}}]});
    let (status, body) = rests[1].call("POST", "/collections/aliases", Some(bad)).await;
    assert_eq!(status, 404, "an alias of a missing collection: {body}");
    // Deleting the collection drops its alias everywhere.
    rests[1].ok("DELETE", "/collections/c", None).await;
    for r in &rests {
        assert_eq!(r.ok("GET", "/aliases", None).await["aliases"], json!([]));
    }
    drop((a, b, c));
}

/// The replica checker itself must catch a lost write: a point is removed behind the cluster's
/// back from one replica (the node stopped, its shard edited on disk), and the fingerprints of
/// that shard's replicas must then disagree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replica_checker_catches_a_planted_lost_write() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), None);
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let (ra, rb) = (Rest::new(&a), Rest::new(&b));
    ra.ok(
        "PUT",
        "/collections/c",
        Some(
            json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 1, "replication_factor": 2}),
        ),
    )
    .await;
    let body = json!({"points": (0..50u64).map(point).collect::<Vec<_>>()});
    ra.ok("PUT", "/collections/c/points?wait=true", Some(body)).await;
    let agree = |reports: &serde_json::Value| {
        let r = reports.as_array().unwrap();
        r.len() == 2 && r[0]["hash"] == r[1]["hash"] && r[0]["points"] == r[1]["points"]
    };
    assert!(agree(&ra.ok("GET", "/quiver/collections/c/replicas", None).await));

    // B stops cleanly; point 7 is deleted from its copy directly on disk; B starts again.
    assert!(b.stop(), "clean stop");
    {
        let dir = dirs[1].path().join("collections").join("c");
        let col = quiver_collection::Collection::open(&dir, "c").unwrap();
        let op = quiver_types::UpdateOperation::Delete(quiver_types::PointSelector::Ids(vec![
            quiver_types::PointId::Num(7),
        ]));
        col.update_shard(0, &op, true).unwrap();
        col.checkpoint().unwrap();
    }
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let rb2 = Rest::new(&b);
    ready(&rb2, Duration::from_secs(20)).await;
    let reports = ra.ok("GET", "/quiver/collections/c/replicas", None).await;
    assert!(
        !agree(&reports),
        "the checker must see the planted divergence: {reports}"
    );
    drop((a, b, rb));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_are_replicated_moved_and_dropped_and_an_empty_peer_is_removed() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), None);
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let c = node(dirs[2].path(), Some(&a.p2p_uri()));
    let rests = [Rest::new(&a), Rest::new(&b), Rest::new(&c)];
    let mut ids = Vec::new();
    for r in &rests {
        ids.push(r.ok("GET", "/cluster", None).await["peer_id"].as_u64().unwrap());
    }
    let leader = ids[0];
    rests[0]
        .ok(
            "PUT",
            "/collections/c",
            Some(json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 1, "replication_factor": 1})),
        )
        .await;
    let body = json!({"points": (0..300u64).map(point).collect::<Vec<_>>()});
    rests[1]
        .ok("PUT", "/collections/c/points?wait=true", Some(body))
        .await;
    let holder = shard0(&rests[0]).await[0].0;
    let others: Vec<u64> = ids.iter().copied().filter(|i| *i != holder).collect();
    let (x, y) = (others[0], others[1]);

    let cluster = |op: serde_json::Value| json!(op);
    rests[2]
        .ok(
            "POST",
            "/collections/c/cluster",
            Some(cluster(
                json!({"replicate_shard": {"shard_id": 0, "from_peer_id": holder, "to_peer_id": x}}),
            )),
        )
        .await;
    let h1 = settle(&rests[0], &BTreeSet::from([holder, x])).await;
    // Writes go on during the move.
    let more = json!({"points": (300..350u64).map(point).collect::<Vec<_>>()});
    rests[0]
        .ok(
            "POST",
            "/collections/c/cluster",
            Some(cluster(
                json!({"move_shard": {"shard_id": 0, "from_peer_id": holder, "to_peer_id": y}}),
            )),
        )
        .await;
    rests[1]
        .ok("PUT", "/collections/c/points?wait=true", Some(more))
        .await;
    let h2 = settle(&rests[0], &BTreeSet::from([x, y])).await;
    assert_ne!(h1, h2, "the later writes are in");
    rests[1]
        .ok(
            "POST",
            "/collections/c/cluster",
            Some(cluster(json!({"drop_replica": {"shard_id": 0, "peer_id": x}}))),
        )
        .await;
    settle(&rests[0], &BTreeSet::from([y])).await;
    for r in &rests {
        let count = r
            .ok(
                "POST",
                "/collections/c/points/count",
                Some(json!({"exact": true})),
            )
            .await;
        assert_eq!(count["count"], 350);
    }
    // The last Active replica cannot be dropped; a bad peer is named.
    let (status, body) = rests[0]
        .call(
            "POST",
            "/collections/c/cluster",
            Some(json!({"drop_replica": {"shard_id": 0, "peer_id": y}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = rests[0]
        .call(
            "POST",
            "/collections/c/cluster",
            Some(json!({"replicate_shard": {"shard_id": 0, "to_peer_id": 12345}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("peer_id"), "{body}");

    // A peer that holds replicas is not removed; one that holds none is.
    let (status, _) = rests[0].call("DELETE", &format!("/cluster/peer/{y}"), None).await;
    assert_eq!(status, 400);
    let empty = [holder, x].into_iter().find(|p| *p != leader).unwrap();
    let asker = rests.iter().zip(&ids).find(|(_, id)| **id != empty).unwrap().0;
    asker.ok("DELETE", &format!("/cluster/peer/{empty}"), None).await;
    let started = Instant::now();
    loop {
        let peers = asker.ok("GET", "/cluster", None).await["peers"]
            .as_object()
            .unwrap()
            .len();
        if peers == 2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still {peers} peers");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop((a, b, c));
}

/// A primary that dies while forwarding a write can leave that (unacknowledged) write on some
/// replicas only. The new primary compares the replicas when it takes over and has any that
/// differs copy itself again: planted here as an extra point on one replica, on disk, before the
/// primary is killed; afterwards the two live replicas are identical and Active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_primary_brings_replicas_that_differ_back_in_line() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), None);
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let c = node(dirs[2].path(), Some(&a.p2p_uri()));
    let mut servers = vec![Some(a), Some(b), Some(c)];
    let mut rests: Vec<Rest> = servers.iter().map(|s| Rest::new(s.as_ref().unwrap())).collect();
    let mut ids = Vec::new();
    for r in &rests {
        ids.push(r.ok("GET", "/cluster", None).await["peer_id"].as_u64().unwrap());
    }
    rests[0]
        .ok(
            "PUT",
            "/collections/c",
            Some(json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 1, "replication_factor": 3})),
        )
        .await;
    let body = json!({"points": (0..300u64).map(point).collect::<Vec<_>>()});
    rests[0]
        .ok("PUT", "/collections/c/points?wait=true", Some(body))
        .await;
    // The first replica placed (the lowest id) is the primary.
    let primary = (0..3).min_by_key(|&i| ids[i]).unwrap();
    let others: Vec<usize> = (0..3).filter(|&i| i != primary).collect();
    let (odd, plain) = (others[0], others[1]);

    // The odd replica gets a point no other replica has, directly on disk.
    assert!(servers[odd].take().unwrap().stop(), "clean stop");
    {
        let dir = dirs[odd].path().join("collections").join("c");
        let col = quiver_collection::Collection::open(&dir, "c").unwrap();
        let mut vectors = quiver_types::NamedVectors::new();
        vectors.insert(
            quiver_types::DEFAULT_VECTOR.to_string(),
            quiver_types::VectorData::Dense(vec![0.1, 0.2, 0.3, 0.4]),
        );
        let extra = quiver_types::UpdateOperation::Upsert(vec![quiver_types::PointRecord {
            id: quiver_types::PointId::Num(9999),
            vectors,
            payload: Default::default(),
        }]);
        col.update_shard(0, &extra, true).unwrap();
        col.checkpoint().unwrap();
    }
    let via = servers[plain].as_ref().unwrap().p2p_uri();
    let back = node(dirs[odd].path(), Some(&via));
    rests[odd] = Rest::new(&back);
    servers[odd] = Some(back);
    ready(&rests[odd], Duration::from_secs(20)).await;
    let reports = rests[plain]
        .ok("GET", "/quiver/collections/c/replicas", None)
        .await;
    let hashes: BTreeSet<String> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["hash"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(hashes.len(), 2, "the planted difference is there: {reports}");

    // The primary dies; the next write hands the shard to another replica, which aligns them.
    servers[primary].take().unwrap().kill9();
    rests[plain]
        .ok(
            "PUT",
            "/collections/c/points?wait=true",
            Some(json!({"points": [point(500)]})),
        )
        .await;
    let started = Instant::now();
    loop {
        let reports = rests[plain]
            .ok("GET", "/quiver/collections/c/replicas", None)
            .await;
        let live: Vec<&serde_json::Value> = reports
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["peer_id"] != json!(ids[primary]))
            .collect();
        if live.len() == 2
            && live.iter().all(|r| r["state"] == "Active")
            && live[0]["hash"] == live[1]["hash"]
            && live[0]["hash"].is_string()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the live replicas did not come back in line: {reports}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in [odd, plain] {
        let got = rests[i]
            .ok(
                "POST",
                "/collections/c/points?consistency=all",
                Some(json!({"ids": (0..300u64).chain([500]).collect::<Vec<_>>()})),
            )
            .await;
        assert_eq!(
            got.as_array().unwrap().len(),
            301,
            "acknowledged writes through node {i}"
        );
    }
    drop(servers);
}

/// A replica whose files vanish while its node is down (a lost volume, an operator error) is
/// not brought back empty and Active: the node marks it Dead when it starts, and it copies
/// itself again from the primary, ending identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_files_vanished_copies_itself_again() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), None);
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let ra = Rest::new(&a);
    ra.ok(
        "PUT",
        "/collections/c",
        Some(
            json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 1, "replication_factor": 2}),
        ),
    )
    .await;
    let body = json!({"points": (0..200u64).map(point).collect::<Vec<_>>()});
    ra.ok("PUT", "/collections/c/points?wait=true", Some(body)).await;
    let b_id = Rest::new(&b).ok("GET", "/cluster", None).await["peer_id"]
        .as_u64()
        .unwrap();
    let peers = BTreeSet::from([
        ra.ok("GET", "/cluster", None).await["peer_id"].as_u64().unwrap(),
        b_id,
    ]);
    let hash = settle(&ra, &peers).await;

    // Killed, so its replica is still Active in the metadata (a clean stop steps out: Dead).
    b.kill9();
    let shard_dir = dirs[1].path().join("collections/c/shards/0");
    assert!(shard_dir.is_dir());
    std::fs::remove_dir_all(&shard_dir).unwrap();
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let rb = Rest::new(&b);
    // Never Active and empty: every read through b at consistency=all sees all 200 points,
    // and the replica comes back identical.
    assert_eq!(settle(&ra, &peers).await, hash, "identical after the copy");
    let count = rb
        .ok(
            "POST",
            "/collections/c/points/count?consistency=all",
            Some(json!({"exact": true})),
        )
        .await;
    assert_eq!(count["count"], 200);
    assert!(
        b.log().contains("are gone; marking it Dead"),
        "the node said what it found"
    );
    drop((a, b));
}
