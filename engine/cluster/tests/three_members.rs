//! Three members in one process, each with its own raft folder and gRPC port on 127.0.0.1:
//! forming a cluster, forwarding writes, losing the leader, restarting, and refusing a member
//! that lost its data.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quiver_cluster::{ClusterError, ClusterNode, ClusterOptions, Command, Outcome};

struct Member {
    node: Arc<ClusterNode>,
    uri: String,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<()>,
}

async fn start(dir: &Path, node_id: Option<u64>) -> Result<Member, ClusterError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    let node = ClusterNode::start(ClusterOptions {
        dir: dir.to_path_buf(),
        node_id,
        uri: uri.clone(),
        local_ip: Some("127.0.0.1".parse().unwrap()),
        heartbeat_ms: 50,
        join_as_learner: false,
    })
    .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(quiver_cluster::service::serve(
        Arc::clone(&node),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    let served = tokio::spawn(async move {
        let _ = served.await;
    });
    Ok(Member {
        node,
        uri,
        stop,
        served,
    })
}

impl Member {
    async fn kill(self) {
        self.node.shutdown().await;
        let _ = self.stop.send(());
        let _ = self.served.await;
    }
}

fn create(name: &str) -> Command {
    Command::CreateCollection {
        name: name.into(),
        config: serde_json::json!({"params": {"shard_number": 1}}),
        placement: vec![vec![1]],
        sharded_by_key: false,
    }
}

/// Waits until `f` holds on every member, or fails after 20 s.
async fn eventually(members: &[&Member], what: &str, f: impl Fn(&ClusterNode) -> bool) {
    let started = Instant::now();
    while !members.iter().all(|m| f(&m.node)) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_form_a_cluster_survive_the_leader_and_refuse_a_wiped_id() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = start(dirs[0].path(), None).await.unwrap();
    a.node.bootstrap().await.unwrap();
    let b = start(dirs[1].path(), None).await.unwrap();
    b.node.join_via(&a.uri).await.unwrap();
    // The third joins through a follower: the request is forwarded to the leader.
    let c = start(dirs[2].path(), None).await.unwrap();
    c.node.join_via(&b.uri).await.unwrap();
    eventually(&[&a, &b, &c], "three voters everywhere", |n| {
        n.status().voters.len() == 3
    })
    .await;
    let ids: Vec<u64> = [&a, &b, &c].iter().map(|m| m.node.id()).collect();
    assert_eq!(
        ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
        3,
        "distinct ids"
    );

    // A write from a follower is committed by the leader and visible on every member.
    assert_eq!(c.node.propose(create("docs")).await.unwrap(), Outcome::Done);
    assert!(
        c.node.metadata().collections.contains_key("docs"),
        "read-your-write on the proposer"
    );
    assert!(matches!(
        b.node.propose(create("docs")).await.unwrap(),
        Outcome::Rejected(_)
    ));
    eventually(&[&a, &b, &c], "the collection everywhere", |n| {
        n.metadata().collections.contains_key("docs")
    })
    .await;

    // The leader dies: the other two elect a new one and keep taking writes.
    let mut members = vec![a, b, c];
    let leader = members[0].node.status().leader.unwrap();
    let at = members.iter().position(|m| m.node.id() == leader).unwrap();
    let dead = members.remove(at);
    let dead_id = dead.node.id();
    dead.kill().await;
    let started = Instant::now();
    assert_eq!(
        members[0].node.propose(create("after")).await.unwrap(),
        Outcome::Done
    );
    eprintln!("write after leader loss took {:?}", started.elapsed());
    let new_leader = members[1].node.status().leader.unwrap();
    assert_ne!(new_leader, dead_id);

    // The dead member restarts on its own data: same id, no join needed, catches up.
    let back = start(dirs[at].path(), None).await.unwrap();
    assert_eq!(back.node.id(), dead_id);
    assert!(back.node.is_member());
    back.node.join_via(&members[0].uri).await.unwrap();
    eventually(&[&back], "the restarted member to catch up", |n| {
        n.metadata().collections.contains_key("after")
    })
    .await;

    // A node that lost its data but claims the old id is refused; without the id it joins anew.
    let wiped = tempfile::tempdir().unwrap();
    let impostor = start(wiped.path(), Some(dead_id)).await.unwrap();
    match impostor.node.join_via(&members[0].uri).await {
        Err(ClusterError::Refused(m)) => assert!(m.contains("new id"), "{m}"),
        other => panic!("a reused id with a wiped log must be refused, got {other:?}"),
    }
    impostor.kill().await;
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = start(fresh_dir.path(), None).await.unwrap();
    fresh.node.join_via(&back.uri).await.unwrap();
    eventually(&[&fresh, &back], "four voters", |n| n.status().voters.len() == 4).await;
    assert!(fresh.node.metadata().collections.contains_key("docs"));

    for m in members.into_iter().chain([back, fresh]) {
        m.kill().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learners_promotion_demotion_leadership_transfer_and_read_barriers() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = start(dirs[0].path(), None).await.unwrap();
    a.node.bootstrap().await.unwrap();
    let b = start(dirs[1].path(), None).await.unwrap();
    b.node.join_via(&a.uri).await.unwrap();
    let c = start(dirs[2].path(), None).await.unwrap();
    c.node.join_via(&a.uri).await.unwrap();
    eventually(&[&a, &b, &c], "three voters", |n| n.status().voters.len() == 3).await;

    // The barrier from a follower covers a write committed just before it.
    let (_, index) = b.node.propose_at(create("docs")).await.unwrap();
    assert!(c.node.read_index().await.unwrap() >= index);

    // A learner (added through a follower) gets the log but no vote; promotion gives it one.
    let d = start(dirs[3].path(), None).await.unwrap();
    let d_id = d.node.id();
    c.node.add_learner(d_id, d.uri.clone()).await.unwrap();
    eventually(&[&a, &b, &c, &d], "the learner everywhere", |n| {
        n.status().learners == vec![d_id]
    })
    .await;
    eventually(&[&d], "the learner to receive the log", |n| {
        n.metadata().collections.contains_key("docs")
    })
    .await;
    assert_eq!(a.node.status().voters.len(), 3);
    assert!(matches!(
        a.node.promote(424242).await,
        Err(ClusterError::Invalid(_))
    ));
    b.node.promote(d_id).await.unwrap();
    eventually(&[&a, &b, &c, &d], "four voters", |n| {
        n.status().voters.len() == 4 && n.status().learners.is_empty()
    })
    .await;
    a.node.demote(d_id).await.unwrap();
    eventually(&[&a, &d], "a learner again", |n| {
        n.status().learners == vec![d_id] && n.status().voters.len() == 3
    })
    .await;

    // Leadership moves to the voter asked for, and the cluster keeps committing.
    let leader = a.node.status().leader.unwrap();
    let target = [&a, &b, &c]
        .iter()
        .map(|m| m.node.id())
        .find(|&id| id != leader)
        .unwrap();
    let started = Instant::now();
    assert_eq!(d.node.transfer_leadership(target).await.unwrap(), target);
    eprintln!("leadership transfer took {:?}", started.elapsed());
    eventually(&[&a, &b, &c, &d], "the new leader everywhere", |n| {
        n.status().leader == Some(target)
    })
    .await;
    assert_eq!(a.node.propose(create("after")).await.unwrap(), Outcome::Done);
    assert!(
        matches!(
            a.node.transfer_leadership(d_id).await,
            Err(ClusterError::Invalid(_))
        ),
        "a learner cannot lead"
    );

    for m in [a, b, c, d] {
        m.kill().await;
    }
}
