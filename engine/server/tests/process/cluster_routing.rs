//! Where cluster reads and writes go: custom sharding (shard keys created, listed, used on
//! writes and reads, deleted) and read consistency levels, through every node of a 3-process
//! cluster on 127.0.0.1; and reads that fail over when a replica's node is killed.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeSet;

use common::cluster::{node, node_with, point};
use common::Rest;
use serde_json::{json, Value};

/// Upserts `ids` into collection `t` with shard key `key` (`Value::Null`: none).
async fn write_keyed(rest: &Rest, ids: impl Iterator<Item = u64>, key: Value) -> (u16, Value) {
    let mut body = json!({"points": ids.map(point).collect::<Vec<_>>()});
    if !key.is_null() {
        body["shard_key"] = key;
    }
    rest.call("PUT", "/collections/t/points?wait=true", Some(body))
        .await
}

async fn count(rest: &Rest, query: &str, body: Value) -> u64 {
    let path = format!("/collections/t/points/count{query}");
    rest.ok("POST", &path, Some(body)).await["count"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_keys_route_writes_and_reads_and_consistency_levels_read_every_replica() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), None);
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let c = node(dirs[2].path(), Some(&a.p2p_uri()));
    let mut rests = [Rest::new(&a), Rest::new(&b), Rest::new(&c)];
    rests[0]
        .ok(
            "PUT",
            "/collections/t",
            Some(
                json!({"vectors": {"size": 4, "distance": "Cosine"}, "sharding_method": "custom",
                        "shard_number": 1, "replication_factor": 2}),
            ),
        )
        .await;
    // Keys through different nodes: a keyword one and a number one with two shards.
    rests[1]
        .ok("PUT", "/collections/t/shards", Some(json!({"shard_key": "acme"})))
        .await;
    rests[2]
        .ok(
            "PUT",
            "/collections/t/shards",
            Some(json!({"shard_key": 7, "shards_number": 2})),
        )
        .await;
    let (status, body) = rests[0]
        .call("PUT", "/collections/t/shards", Some(json!({"shard_key": "acme"})))
        .await;
    assert_eq!(status, 400, "a key that exists: {body}");
    for r in &rests {
        let listed = r.ok("GET", "/collections/t/shards", None).await;
        assert_eq!(
            listed["shard_keys"],
            json!([{"key": 7}, {"key": "acme"}]),
            "{listed}"
        );
    }
    let layout = rests[0].ok("GET", "/collections/t/cluster", None).await;
    assert_eq!(layout["shard_count"], 3, "{layout}");
    let keys: BTreeSet<String> = layout["local_shards"]
        .as_array()
        .unwrap()
        .iter()
        .chain(layout["remote_shards"].as_array().unwrap())
        .map(|s| s["shard_key"].to_string())
        .collect();
    assert_eq!(keys, BTreeSet::from(["7".to_string(), "\"acme\"".to_string()]));

    // Writes must name an existing key; each key's points stay in its shards.
    let (status, body) = write_keyed(&rests[0], 0..5, Value::Null).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("shard_key"), "{body}");
    let (status, body) = write_keyed(&rests[0], 0..5, json!("initech")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("initech"), "{body}");
    assert_eq!(write_keyed(&rests[0], 0..50, json!("acme")).await.0, 200);
    assert_eq!(write_keyed(&rests[1], 50..100, json!(7)).await.0, 200);
    // The same id under another key is another point.
    let mut other = point(5);
    other["payload"]["tag"] = json!("under-7");
    rests[2]
        .ok(
            "PUT",
            "/collections/t/points?wait=true",
            Some(json!({"points": [other], "shard_key": [7]})),
        )
        .await;
    for r in &rests {
        assert_eq!(count(r, "", json!({"exact": true})).await, 101);
        assert_eq!(count(r, "", json!({"shard_key": "acme"})).await, 50);
        assert_eq!(count(r, "", json!({"shard_key": 7})).await, 51);
        assert_eq!(count(r, "", json!({"shard_key": ["acme", 7]})).await, 101);
        for level in ["all", "majority", "quorum", "2"] {
            let q = format!("?consistency={level}");
            assert_eq!(count(r, &q, json!({})).await, 101, "consistency={level}");
        }
        let hits = r
            .ok(
                "POST",
                "/collections/t/points/search?consistency=all",
                Some(json!({"vector": [0.3, 0.9, 1.0, 0.0], "limit": 40, "shard_key": "acme"})),
            )
            .await;
        let ids: Vec<u64> = hits
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids.len(), 40, "{hits}");
        assert!(ids.iter().all(|&i| i < 50), "{ids:?}");
        assert_eq!(
            ids.iter().collect::<BTreeSet<_>>().len(),
            40,
            "no point twice from two replicas"
        );
        let get = |key: Value| {
            let r = r.clone();
            async move {
                let mut body = json!({"ids": [5, 60], "with_payload": true});
                if !key.is_null() {
                    body["shard_key"] = key;
                }
                r.ok("POST", "/collections/t/points?consistency=all", Some(body))
                    .await
            }
        };
        let under_7 = get(json!(7)).await;
        assert_eq!(under_7.as_array().unwrap().len(), 2, "{under_7}");
        assert_eq!(under_7[0]["payload"]["tag"], "under-7", "{under_7}");
        let under_acme = get(json!("acme")).await;
        assert_eq!(under_acme.as_array().unwrap().len(), 1, "{under_acme}");
        assert_eq!(under_acme[0]["payload"]["tag"], "w5");
        let scrolled = r
            .ok(
                "POST",
                "/collections/t/points/scroll?consistency=majority",
                Some(json!({"limit": 200, "shard_key": 7})),
            )
            .await;
        assert_eq!(scrolled["points"].as_array().unwrap().len(), 51, "{scrolled}");
    }
    let (status, body) = rests[0]
        .call(
            "POST",
            "/collections/t/points/count?consistency=most",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("consistency"), "{body}");

    // A selector with a fallback (tiered multitenancy): the target key while it exists, the
    // fallback until then, for writes and reads alike.
    let tiered = json!({"target": "initech", "fallback": "acme"});
    assert_eq!(write_keyed(&rests[1], 200..205, tiered.clone()).await.0, 200);
    assert_eq!(count(&rests[2], "", json!({"shard_key": "acme"})).await, 55);
    assert_eq!(
        count(&rests[0], "", json!({"shard_key": tiered.clone()})).await,
        55
    );
    rests[0]
        .ok(
            "PUT",
            "/collections/t/shards",
            Some(json!({"shard_key": "initech"})),
        )
        .await;
    for r in &rests {
        assert_eq!(count(r, "", json!({"shard_key": tiered.clone()})).await, 0);
    }
    assert_eq!(write_keyed(&rests[2], 300..303, tiered.clone()).await.0, 200);
    assert_eq!(
        count(&rests[1], "", json!({"shard_key": tiered.clone()})).await,
        3
    );
    assert_eq!(count(&rests[1], "", json!({"shard_key": "acme"})).await, 55);
    let (status, body) = write_keyed(&rests[0], 0..1, json!({"target": "x", "fallback": "y"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("fallback"), "{body}");
    rests[1]
        .ok(
            "POST",
            "/collections/t/shards/delete",
            Some(json!({"shard_key": "initech"})),
        )
        .await;

    // Deleting a key drops its shards and their points everywhere.
    rests[2]
        .ok(
            "POST",
            "/collections/t/shards/delete",
            Some(json!({"shard_key": "acme"})),
        )
        .await;
    for r in &rests {
        assert_eq!(count(r, "", json!({})).await, 51);
        let listed = r.ok("GET", "/collections/t/shards", None).await;
        assert_eq!(listed["shard_keys"], json!([{"key": 7}]));
    }
    assert_eq!(write_keyed(&rests[0], 0..3, json!("acme")).await.0, 400);

    // A node dies: reads at one replica fail over to the other replica of each of its shards;
    // reads that need every replica cannot be answered and say so.
    // A restarted node finds its shards of the remaining key (ids beyond shard_number).
    let held_before = rests[1].ok("GET", "/collections/t/cluster", None).await["local_shards"].clone();
    assert!(
        !held_before.as_array().unwrap().is_empty(),
        "every node holds a shard of key 7"
    );
    b.kill9();
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    rests[1] = Rest::new(&b);
    let held_after = rests[1].ok("GET", "/collections/t/cluster", None).await["local_shards"].clone();
    assert_eq!(held_after, held_before, "local shards after a restart");
    assert_eq!(
        count(&rests[1], "?consistency=all", json!({"shard_key": 7})).await,
        51
    );
    let survivors = [rests[0].clone(), rests[1].clone()];
    c.kill9();
    for r in &survivors {
        assert_eq!(count(r, "", json!({})).await, 51, "read failover");
        let (status, body) = r
            .call(
                "POST",
                "/collections/t/points/count?consistency=all",
                Some(json!({})),
            )
            .await;
        assert_eq!(
            status, 503,
            "all replicas cannot answer with one node down: {body}"
        );
    }
    drop((a, b));
}

/// Custom sharding needs cluster mode; a single node says so, naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_refuses_custom_sharding_and_shard_keys_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::Server::start(dir.path());
    let r = Rest::new(&s);
    let (status, body) = r
        .call(
            "PUT",
            "/collections/t",
            Some(json!({"vectors": {"size": 4, "distance": "Cosine"}, "sharding_method": "custom"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("sharding_method"), "{body}");
    r.ok(
        "PUT",
        "/collections/t",
        Some(json!({"vectors": {"size": 4, "distance": "Cosine"}})),
    )
    .await;
    let (status, body) = r
        .call(
            "PUT",
            "/collections/t/points?wait=true",
            Some(json!({"points": [point(1)], "shard_key": "a"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("shard_key"), "{body}");
    let (status, _) = r
        .call("PUT", "/collections/t/shards", Some(json!({"shard_key": "a"})))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        r.ok("GET", "/collections/t/shards", None).await["shard_keys"],
        json!([])
    );
    // One replica is every replica here: consistency levels are accepted.
    assert_eq!(
        r.ok(
            "POST",
            "/collections/t/points/count?consistency=all",
            Some(json!({}))
        )
        .await["count"],
        0
    );
}

/// Hybrid queries fuse at the coordinator: a fusion over prefetches in a 3-node cluster (3
/// shards) gives the answer a single node gives for the same points.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusion_across_nodes_matches_a_single_node() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), None);
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let c = node(dirs[2].path(), Some(&a.p2p_uri()));
    let single = common::Server::start(dirs[3].path());
    let (cluster, alone) = (Rest::new(&b), Rest::new(&single));
    let points = json!({"points": (0..300u64).map(point).collect::<Vec<_>>()});
    for (r, shards) in [(&cluster, 3), (&alone, 1)] {
        r.ok(
            "PUT",
            "/collections/h",
            Some(json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": shards})),
        )
        .await;
        r.ok("PUT", "/collections/h/points?wait=true", Some(points.clone()))
            .await;
    }
    for fusion in ["rrf", "dbsf"] {
        let q = json!({
            "prefetch": [
                {"query": [0.9, 0.1, 1.0, 0.2], "limit": 25},
                {"query": [-0.3, 0.8, 1.0, -0.5], "limit": 25, "filter": {"must_not": [{"key": "tag", "match": {"value": "w7"}}]}},
                {"prefetch": [{"query": [0.1, -0.9, 1.0, 0.0], "limit": 30}], "query": {"fusion": "rrf"}, "limit": 20},
            ],
            "query": {"fusion": fusion},
            "limit": 12,
            "offset": 2,
            "with_payload": true,
        });
        let got = cluster
            .ok("POST", "/collections/h/points/query", Some(q.clone()))
            .await;
        let want = alone.ok("POST", "/collections/h/points/query", Some(q)).await;
        let ids = |v: &Value| -> Vec<u64> {
            v["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_u64().unwrap())
                .collect()
        };
        assert_eq!(ids(&got), ids(&want), "{fusion}: {got} vs {want}");
        assert_eq!(ids(&got).len(), 12);
        for (g, w) in got["points"]
            .as_array()
            .unwrap()
            .iter()
            .zip(want["points"].as_array().unwrap())
        {
            let (gs, ws) = (g["score"].as_f64().unwrap(), w["score"].as_f64().unwrap());
            assert!((gs - ws).abs() < 1e-5, "{fusion}: score {gs} vs {ws}");
            assert_eq!(g["payload"], w["payload"]);
        }
    }
    // With explain, the answer still covers every shard; the plans are this node's replicas'.
    let q = json!({"query": [0.9, 0.1, 1.0, 0.2], "limit": 300});
    let got = cluster
        .ok(
            "POST",
            "/collections/h/points/query?explain=true",
            Some(q.clone()),
        )
        .await;
    let want = alone.ok("POST", "/collections/h/points/query", Some(q)).await;
    assert_eq!(got["points"].as_array().unwrap().len(), 300, "{got}");
    assert_eq!(want["points"].as_array().unwrap().len(), 300);
    let shards: Vec<u64> = got["explain"][0]["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shard_id"].as_u64().unwrap())
        .collect();
    assert!(
        !shards.is_empty() && shards.len() < 3 && shards.iter().all(|s| *s < 3),
        "{shards:?}"
    );
    drop((a, b, c, single));
}

/// `write_consistency_factor`: with 3 replicas and a factor of 3, a write while one replica's
/// node is down is refused (503, naming the factor); lowered to 2, the same write is
/// acknowledged; once the node is back and its replica Active, a factor of 3 is met again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_consistency_factor_decides_when_a_write_is_acknowledged() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), None);
    let b = node(dirs[1].path(), Some(&a.p2p_uri()));
    let c = node(dirs[2].path(), Some(&a.p2p_uri()));
    let rest = Rest::new(&a);
    let body = json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 1,
                      "replication_factor": 3, "write_consistency_factor": 3});
    rest.ok("PUT", "/collections/w", Some(body)).await;
    let write = |ids: std::ops::Range<u64>| {
        let rest = rest.clone();
        async move {
            let body = json!({"points": ids.map(point).collect::<Vec<_>>()});
            rest.call("PUT", "/collections/w/points?wait=true", Some(body))
                .await
        }
    };
    assert_eq!(write(0..10).await.0, 200);
    c.kill9();
    let (status, body) = write(10..20).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.to_string().contains("write_consistency_factor"), "{body}");
    let lower = json!({"params": {"write_consistency_factor": 2}});
    rest.ok("PATCH", "/collections/w", Some(lower)).await;
    let (status, body) = write(10..20).await;
    assert_eq!(status, 200, "two replicas took it: {body}");
    let c = node(dirs[2].path(), Some(&a.p2p_uri()));
    let started = std::time::Instant::now();
    loop {
        let reports = rest.ok("GET", "/quiver/collections/w/replicas", None).await;
        let states: Vec<&str> = reports
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["state"].as_str())
            .collect();
        if states.len() == 3 && states.iter().all(|s| *s == "Active") {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "the replica does not recover: {reports}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    rest.ok(
        "PATCH",
        "/collections/w",
        Some(json!({"params": {"write_consistency_factor": 3}})),
    )
    .await;
    assert_eq!(write(20..30).await.0, 200);
    let count = rest
        .ok(
            "POST",
            "/collections/w/points/count?consistency=all",
            Some(json!({"exact": true})),
        )
        .await;
    assert_eq!(count["count"], 30);
    drop((a, b, c));
}

/// A stale primary cannot get a write acknowledged that the cluster does not have: the primary
/// of a 3-replica shard is paused (SIGSTOP) while writes through another node make a new one,
/// then continued and sent writes at once, before it has learnt it was replaced. Every write it
/// acknowledges must be on every Active replica (read at consistency=all through the others),
/// and the replicas end identical.
// This test found a divergence (2 of 6 runs): a write the old primary had begun before it learnt
// it was demoted could land after its recovery had read its position, so it caught up by a delta
// and stayed Active holding that unacknowledged write. Recovery now waits for such writes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_primary_gets_no_write_acknowledged_that_the_others_miss() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // A paused node keeps its connections open: it is taken for dead when a request to it
    // times out, 2 s here (8 s for a write sent to it as primary).
    let env = [("QUIVER__CLUSTER__GRPC_TIMEOUT_MS", "2000")];
    let a = node_with(dirs[0].path(), None, &env);
    let b = node_with(dirs[1].path(), Some(&a.p2p_uri()), &env);
    let c = node_with(dirs[2].path(), Some(&a.p2p_uri()), &env);
    let servers = [a, b, c];
    let rests: Vec<Rest> = servers.iter().map(Rest::new).collect();
    let mut peers = Vec::new();
    for r in &rests {
        peers.push(r.ok("GET", "/cluster", None).await["peer_id"].as_u64().unwrap());
    }
    let body =
        json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 1, "replication_factor": 3});
    rests[0].ok("PUT", "/collections/s", Some(body)).await;
    let write = |rest: Rest, ids: std::ops::Range<u64>| async move {
        let body = json!({"points": ids.map(point).collect::<Vec<_>>()});
        rest.try_call("PUT", "/collections/s/points?wait=true", Some(body))
            .await
    };
    assert!(matches!(write(rests[0].clone(), 0..10).await, Some((200, _))));
    let reports = rests[0].ok("GET", "/quiver/collections/s/replicas", None).await;
    let primary = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["primary"] == true)
        .and_then(|r| r["peer_id"].as_u64())
        .unwrap();
    let p = peers.iter().position(|x| *x == primary).unwrap();
    let other = (p + 1) % 3;
    servers[p].signal("STOP");
    // Writes through another node: the paused primary does not answer, so it is demoted and
    // another replica becomes primary.
    let mut acked: Vec<u64> = (0..10).collect();
    for start in (100..200).step_by(10) {
        if let Some((200, _)) = write(rests[other].clone(), start..start + 10).await {
            acked.extend(start..start + 10);
        }
    }
    let after = rests[other]
        .ok("GET", "/quiver/collections/s/replicas", None)
        .await;
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["primary"] == true && r["peer_id"] != primary),
        "a new primary: {after}"
    );
    servers[p].signal("CONT");
    // At once, through the old primary itself (its metadata still names it primary).
    let stale: Vec<_> = (0..5u64)
        .map(|k| write(rests[p].clone(), 1000 + k * 10..1000 + k * 10 + 10))
        .collect();
    for (k, r) in futures_util::future::join_all(stale)
        .await
        .into_iter()
        .enumerate()
    {
        if let Some((200, _)) = r {
            acked.extend(1000 + k as u64 * 10..1000 + k as u64 * 10 + 10);
        }
    }
    for (i, r) in rests.iter().enumerate().filter(|(i, _)| *i != p) {
        let got = r
            .ok(
                "POST",
                "/collections/s/points?consistency=all",
                Some(json!({"ids": acked.clone()})),
            )
            .await;
        let have: BTreeSet<u64> = got
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_u64().unwrap())
            .collect();
        let missing: Vec<&u64> = acked.iter().filter(|id| !have.contains(id)).collect();
        assert!(
            missing.is_empty(),
            "through node {i}: acknowledged but missing {missing:?}"
        );
    }
    // The old primary comes back in line: every replica Active with one fingerprint.
    let started = std::time::Instant::now();
    loop {
        let reports = rests[other]
            .ok("GET", "/quiver/collections/s/replicas", None)
            .await;
        let list = reports.as_array().unwrap();
        let hashes: BTreeSet<&str> = list.iter().filter_map(|r| r["hash"].as_str()).collect();
        if list.len() == 3 && list.iter().all(|r| r["state"] == "Active") && hashes.len() == 1 {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 90,
            "replicas do not converge: {reports}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    drop(servers);
}
