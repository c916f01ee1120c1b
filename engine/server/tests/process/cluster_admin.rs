//! The operator's membership steps through `/quiver/cluster/...` on a cluster of processes on
//! 127.0.0.1, with a client writing throughout: a node joins as a learner (no vote, no replicas,
//! but it serves requests), is promoted, another node is drained (its replicas move away while
//! writes go on), the raft leadership moves to the new node, the drained node is demoted and
//! removed. Every acknowledged write is then readable at consistency=all through every node
//! and every shard's replicas are Active and identical. Steps that would lose safety are refused
//! with their reason.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{node, node_with, point};
use common::Rest;
use serde_json::{json, Value};

async fn raft(rest: &Rest) -> Value {
    rest.ok("GET", "/quiver/node", None).await["raft"].clone()
}

async fn eventually<F, Fut>(what: &str, within: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !f().await {
        assert!(started.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_is_promoted_a_node_drained_demoted_and_removed_and_leadership_moves_without_losing_writes()
{
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), None);
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let c = node(dirs[2].path(), Some(&a.p2p_uri()));
    let (ra, rb, rc) = (Rest::new(&a), Rest::new(&b), Rest::new(&c));
    let id_of = |r: Value| r["peer_id"].as_u64().unwrap();
    let c_id = id_of(raft(&rc).await);
    ra.ok(
        "PUT",
        "/collections/c",
        Some(
            json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 3, "replication_factor": 2}),
        ),
    )
    .await;
    let body = json!({"points": (0..300u64).map(point).collect::<Vec<_>>()});
    ra.ok("PUT", "/collections/c/points?wait=true", Some(body)).await;

    // A learner: in the cluster, serving reads, no vote and no replicas.
    let d = node_with(
        dirs[3].path(),
        Some(&b.p2p_uri()),
        &[("QUIVER__CLUSTER__JOIN_AS_LEARNER", "true")],
    );
    let rd = Rest::new(&d);
    let d_id = id_of(raft(&rd).await);
    eventually("the learner everywhere", Duration::from_secs(20), || async {
        raft(&ra).await["learners"] == json!([d_id])
    })
    .await;
    assert_eq!(raft(&ra).await["voters"].as_array().unwrap().len(), 3);
    let count = rd
        .ok(
            "POST",
            "/collections/c/points/count",
            Some(json!({"exact": true})),
        )
        .await;
    assert_eq!(count["count"], 300, "the learner serves reads");
    assert_eq!(rd.ok("GET", "/quiver/node", None).await["replicas"], json!([]));

    // Writes go on through b for the rest of the test.
    let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (rb, acked, stop) = (rb.clone(), Arc::clone(&acked), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut id = 1000u64;
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"points": [point(id)]});
                if let Some((200, _)) = rb
                    .try_call("PUT", "/collections/c/points?wait=true", Some(body))
                    .await
                {
                    acked.lock().unwrap().push(id);
                }
                id += 1;
            }
        })
    };

    let (status, body) = rc
        .call("POST", "/quiver/cluster/peers/424242/promote", None)
        .await;
    assert_eq!(status, 400, "{body}");
    rc.ok("POST", &format!("/quiver/cluster/peers/{d_id}/promote"), None)
        .await;
    eventually("four voters", Duration::from_secs(20), || async {
        raft(&rb).await["voters"].as_array().unwrap().len() == 4
    })
    .await;
    let (status, body) = ra
        .call("POST", &format!("/quiver/cluster/peers/{c_id}/demote"), None)
        .await;
    assert_eq!(status, 400, "a node holding replicas is drained first: {body}");
    assert!(body.to_string().contains("drain"), "{body}");

    // Drain c: repeated until it holds nothing.
    let started = Instant::now();
    let mut moves = 0;
    loop {
        let report = ra
            .ok("POST", &format!("/quiver/cluster/peers/{c_id}/drain"), None)
            .await;
        moves += report["started"].as_array().unwrap().len();
        if report["remaining"] == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "drain did not finish: {report}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(moves > 0, "c held replicas to move");
    assert!(
        !rd.ok("GET", "/quiver/node", None).await["replicas"]
            .as_array()
            .unwrap()
            .is_empty(),
        "the promoted node took replicas"
    );

    // Leadership to the new node, then c out of the cluster.
    let started = Instant::now();
    ra.ok("POST", "/quiver/cluster/leader", Some(json!({"peer_id": d_id})))
        .await;
    eprintln!("leadership transfer took {:?}", started.elapsed());
    for r in [&ra, &rb, &rd] {
        let leader = r.ok("GET", "/cluster", None).await["raft_info"]["leader"].clone();
        assert_eq!(leader, json!(d_id));
    }
    rb.ok("POST", &format!("/quiver/cluster/peers/{c_id}/demote"), None)
        .await;
    rd.ok("DELETE", &format!("/cluster/peer/{c_id}"), None).await;
    eventually("c gone from the membership", Duration::from_secs(20), || async {
        !raft(&ra).await["peers"]
            .as_object()
            .unwrap()
            .contains_key(&c_id.to_string())
    })
    .await;
    c.kill9();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();

    // A shard with a replica on every voter has nowhere to go.
    ra.ok(
        "PUT",
        "/collections/full",
        Some(json!({"vectors": {"size": 4, "distance": "Cosine"}, "replication_factor": 3})),
    )
    .await;
    let a_id = id_of(raft(&ra).await);
    let (status, body) = rb
        .call("POST", &format!("/quiver/cluster/peers/{a_id}/drain"), None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("every other voter"), "{body}");

    // Every acknowledged write, through every remaining node, from every replica.
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 20, "writes kept flowing: {}", acked.len());
    let expected = 300 + acked.len();
    for r in [&ra, &rb, &rd] {
        let n = r
            .ok(
                "POST",
                "/collections/c/points/count?consistency=all",
                Some(json!({"exact": true})),
            )
            .await["count"]
            .as_u64()
            .unwrap() as usize;
        assert!(n >= expected, "{n} points, {expected} acknowledged");
        for chunk in acked.chunks(100) {
            let got = r
                .ok(
                    "POST",
                    "/collections/c/points?consistency=all",
                    Some(json!({"ids": chunk})),
                )
                .await;
            assert_eq!(got.as_array().unwrap().len(), chunk.len());
        }
    }
    let reports = ra.ok("GET", "/quiver/collections/c/replicas", None).await;
    for shard in 0..3 {
        let replicas: Vec<&Value> = reports
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["shard_id"] == shard)
            .collect();
        assert_eq!(replicas.len(), 2, "{reports}");
        assert!(
            replicas
                .iter()
                .all(|r| r["state"] == "Active" && r["hash"] == replicas[0]["hash"]),
            "{reports}"
        );
        assert!(replicas.iter().all(|r| r["peer_id"] != json!(c_id)));
    }
    drop((a, b, d));
}
