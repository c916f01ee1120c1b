//! The planner's steps in the usual situations; the safety rules over arbitrary situations are
//! property tests in `tests/plan_safety.rs`.

use super::*;

fn pod(index: u32, version: &str, peer: u64) -> Pod {
    Pod {
        index,
        ready: true,
        version: version.into(),
        peer: Some(peer),
    }
}

fn cluster(n: u32, version: &str) -> Observed {
    let pods: Vec<Pod> = (0..n).map(|i| pod(i, version, 100 + u64::from(i))).collect();
    let voters = pods.iter().filter_map(|p| p.peer).collect();
    let mut shards = BTreeMap::new();
    for s in 0..n {
        let replicas = [100 + u64::from(s), 100 + u64::from((s + 1) % n)]
            .into_iter()
            .map(|p| (p, Replica::Active))
            .collect();
        shards.insert(("c".to_string(), s), replicas);
    }
    Observed {
        pods,
        leader: Some(100),
        voters,
        learners: BTreeSet::new(),
        shards,
        leaving: None,
        volumes: (0..n).collect(),
    }
}

fn want(nodes: u32, version: &str) -> Desired {
    Desired {
        nodes,
        version: version.into(),
        supervised: false,
    }
}

#[test]
fn a_healthy_cluster_as_declared_is_done_and_an_unready_one_waits() {
    let mut o = cluster(3, "1");
    assert_eq!(next_step(&want(3, "1"), &o), Step::Done);
    o.pods[1].ready = false;
    assert!(matches!(next_step(&want(3, "2"), &o), Step::Wait(_)));
    o.pods[1].ready = true;
    o.shards
        .get_mut(&("c".into(), 0))
        .unwrap()
        .insert(101, Replica::Partial);
    assert!(matches!(next_step(&want(3, "2"), &o), Step::Wait(_)));
}

#[test]
fn scale_up_creates_a_pod_then_promotes_its_learner() {
    let mut o = cluster(3, "1");
    assert_eq!(next_step(&want(4, "1"), &o), Step::CreatePod(3));
    o.pods.push(pod(3, "1", 200));
    o.volumes.insert(3);
    o.learners.insert(200);
    assert_eq!(next_step(&want(4, "1"), &o), Step::Promote(200));
}

#[test]
fn scale_down_marks_drains_demotes_removes_then_deletes() {
    let mut o = cluster(4, "1");
    assert_eq!(next_step(&want(3, "1"), &o), Step::MarkLeaving(3));
    o.leaving = Some(3);
    assert_eq!(next_step(&want(3, "1"), &o), Step::Drain(103));
    for r in o.shards.values_mut() {
        r.remove(&103);
    }
    assert_eq!(next_step(&want(3, "1"), &o), Step::Demote(103));
    o.voters.remove(&103);
    o.learners.insert(103);
    assert_eq!(next_step(&want(3, "1"), &o), Step::RemovePeer(103));
    o.learners.remove(&103);
    assert_eq!(next_step(&want(3, "1"), &o), Step::DeletePod(3));
}

#[test]
fn the_leaving_leader_hands_over_first_and_a_full_cluster_stalls() {
    let mut o = cluster(3, "1");
    o.leader = Some(102);
    o.leaving = Some(2);
    assert_eq!(next_step(&want(2, "1"), &o), Step::TransferLeader { to: 100 });
    // Replication factor 3 on 3 nodes: no room for the replicas of a removed node.
    let mut full = cluster(3, "1");
    for r in full.shards.values_mut() {
        for p in [100, 101, 102] {
            r.insert(p, Replica::Active);
        }
    }
    assert!(matches!(next_step(&want(2, "1"), &full), Step::Stalled(m) if m.contains("replication factor")));
}

#[test]
fn upgrades_go_follower_by_follower_and_the_leader_last() {
    let mut o = cluster(3, "1");
    assert_eq!(next_step(&want(3, "2"), &o), Step::Upgrade(2));
    o.pods[2].version = "2".into();
    assert_eq!(next_step(&want(3, "2"), &o), Step::Upgrade(1));
    o.pods[1].version = "2".into();
    assert_eq!(next_step(&want(3, "2"), &o), Step::TransferLeader { to: 101 });
    o.leader = Some(101);
    assert_eq!(next_step(&want(3, "2"), &o), Step::Upgrade(0));
    o.pods[0].version = "2".into();
    assert_eq!(next_step(&want(3, "2"), &o), Step::Done);
}

#[test]
fn a_node_with_the_only_replica_of_a_shard_is_not_restarted() {
    let mut o = cluster(3, "1");
    o.shards
        .insert(("solo".into(), 0), BTreeMap::from([(102, Replica::Active)]));
    assert!(matches!(next_step(&want(3, "2"), &o), Step::Stalled(m) if m.contains("only replica")));
}

#[test]
fn a_promoted_node_receives_replicas_until_loads_even_out() {
    let mut o = cluster(3, "1");
    o.pods.push(pod(3, "1", 200));
    o.volumes.insert(3);
    o.voters.insert(200);
    let step = next_step(&want(4, "1"), &o);
    assert_eq!(
        step,
        Step::MoveReplica {
            collection: "c".into(),
            shard: 0,
            from: 100,
            to: 200
        }
    );
    let r = o.shards.get_mut(&("c".into(), 0)).unwrap();
    r.remove(&100);
    r.insert(200, Replica::Active);
    assert_eq!(
        next_step(&want(4, "1"), &o),
        Step::Done,
        "loads 1,2,2,1 are even enough"
    );
}

#[test]
fn a_member_whose_pod_is_gone_comes_back_before_anything_else() {
    let mut o = cluster(3, "1");
    o.pods.retain(|p| p.index != 1);
    o.pods[0].ready = false;
    o.leader = None;
    assert_eq!(next_step(&want(3, "2"), &o), Step::CreatePod(1));
    // Not the node a scale-down removes.
    let mut o = cluster(4, "1");
    o.pods.retain(|p| p.index != 3);
    o.leaving = Some(3);
    assert_ne!(next_step(&want(3, "1"), &o), Step::CreatePod(3));
}

#[test]
fn a_new_cluster_starts_with_its_first_pod() {
    assert_eq!(next_step(&want(3, "1"), &Observed::default()), Step::CreatePod(0));
}

#[test]
fn a_supervised_upgrade_waits_before_the_leader() {
    let mut o = cluster(3, "1");
    o.pods[1].version = "2".into();
    o.pods[2].version = "2".into();
    let mut d = want(3, "2");
    d.supervised = true;
    assert!(matches!(next_step(&d, &o), Step::Wait(m) if m.contains("Supervised")));
    d.supervised = false;
    assert!(matches!(next_step(&d, &o), Step::TransferLeader { .. }));
}
