//! A network partition that cuts the raft leader off from the other two nodes while clients
//! write and read through every node; then the partition heals. The whole history is recorded
//! and checked afterwards ([`common::history`]): no acknowledged write lost, every replica
//! Active and identical after the heal, no stale read at `consistency=all`.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::cluster::node_with;
use common::history::Workload;
use common::partition::{free_port, source_address, Partition};
use common::Rest;
use serde_json::json;

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

    let load = Workload::start("c", &rests);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    net.isolate(leader);
    let cut_at = load.attempted();
    tokio::time::sleep(Duration::from_secs(4)).await;
    net.heal();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let history = load.stop().await;
    let during = history.writes[cut_at..]
        .iter()
        .filter(|w| w.acked.is_some())
        .count();
    // After the heal: every replica of every shard Active and identical, and the history holds.
    history.check(&rests, 3).await;
    eprintln!("{during} writes acknowledged while the leader was cut off");
    assert!(
        during > 0,
        "the majority side kept taking writes while the leader was cut off"
    );
    drop(nodes);
}
