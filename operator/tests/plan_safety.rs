//! The planner's safety rules over arbitrary observed clusters: a disruptive step only when
//! everything is healthy; never a vote removed that breaks the majority; never a node taken away
//! (restart, delete, demote) while it holds the only Active replica of a shard; the leader is
//! never restarted or removed while another voter could lead.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use quiver_operator::plan::{next_step, Desired, Observed, Pod, Replica, Step};

fn observed() -> impl Strategy<Value = (Desired, Observed)> {
    (1u32..6, 1u32..7, 0u32..4, any::<u64>()).prop_flat_map(|(n, want, shards, seed)| {
        let pods = proptest::collection::vec((any::<bool>(), prop::bool::weighted(0.5), prop::bool::weighted(0.9)), n as usize);
        let reps = proptest::collection::vec(
            proptest::collection::vec((0..n, prop_oneof![8 => Just(Replica::Active), 1 => Just(Replica::Partial), 1 => Just(Replica::Dead)]), 1..4),
            shards as usize,
        );
        (Just(n), Just(want), pods, reps, Just(seed), any::<bool>(), 0..n, proptest::option::of(0..n))
    })
    .prop_map(|(n, want, pods, reps, seed, learner_last, leader, leaving)| {
        let pods: Vec<Pod> = pods
            .into_iter()
            .enumerate()
            .map(|(i, (upgraded, ready_bias, ready))| Pod {
                index: i as u32,
                ready: ready || ready_bias,
                version: if upgraded { "2".into() } else { "1".into() },
                peer: Some(1000 + i as u64),
            })
            .collect();
        let mut voters: BTreeSet<u64> = (0..n).map(|i| 1000 + u64::from(i)).collect();
        let mut learners = BTreeSet::new();
        if learner_last && n > 1 {
            let last = 1000 + u64::from(n - 1);
            voters.remove(&last);
            learners.insert(last);
        }
        let mut shards = BTreeMap::new();
        for (s, rs) in reps.into_iter().enumerate() {
            let replicas: BTreeMap<u64, Replica> = rs.into_iter().map(|(node, st)| (1000 + u64::from(node), st)).collect();
            shards.insert((format!("c{}", seed % 3), s as u32), replicas);
        }
        let leader = Some(1000 + u64::from(leader)).filter(|l| voters.contains(l));
        (
            Desired { nodes: want, version: "2".into(), supervised: seed % 2 == 0 },
            Observed { pods, leader, voters, learners, shards, leaving, ..Observed::default() },
        )
    })
}

/// The peer a step takes away, if it takes one.
fn target(step: &Step, o: &Observed) -> Option<u64> {
    let pod_peer = |i: u32| o.pods.iter().find(|p| p.index == i).and_then(|p| p.peer);
    match step {
        Step::Upgrade(i) | Step::DeletePod(i) => pod_peer(*i),
        Step::Demote(p) | Step::RemovePeer(p) => Some(*p),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn disruption_only_when_healthy_and_never_past_the_safety_rules((desired, o) in observed()) {
        let step = next_step(&desired, &o);
        if step.is_disruptive() {
            prop_assert!(o.pods.iter().all(|p| p.ready), "{step:?} with a pod not ready");
            prop_assert!(o.leader.is_some(), "{step:?} without a leader");
            prop_assert!(
                o.shards.values().all(|r| r.values().all(|s| *s == Replica::Active)),
                "{step:?} while a replica recovers"
            );
        }
        if let Some(peer) = target(&step, &o) {
            // Never the only Active replica of a shard.
            for ((c, s), r) in &o.shards {
                if r.get(&peer) == Some(&Replica::Active) {
                    prop_assert!(
                        r.iter().any(|(n, st)| *n != peer && *st == Replica::Active),
                        "{step:?} takes the only Active replica of {c}/{s}"
                    );
                }
            }
            // Never the leader while another voter could lead.
            if o.leader == Some(peer) {
                prop_assert!(o.voters.len() == 1, "{step:?} takes the leader away");
            }
        }
        // A restart of a voter keeps a majority of the voters running (a lone voter has none
        // to keep).
        if let (Step::Upgrade(_), Some(peer)) = (&step, target(&step, &o)) {
            let n = o.voters.len();
            if o.voters.contains(&peer) && n > 1 {
                prop_assert!(n - 1 > n / 2, "{step:?} restarts one of {n} voters: no majority left");
            }
        }
        if let Step::Demote(p) | Step::RemovePeer(p) = step {
            let remaining = o.voters.iter().filter(|v| **v != p).count();
            prop_assert!(remaining >= 1, "{step:?} leaves no voter");
            // The remaining voters are all ready (checked above), so they form a majority of
            // the new voter set; the demoted one holds no replica any more.
            prop_assert!(o.shards.values().all(|r| !r.contains_key(&p)), "{step:?} while it holds replicas");
        }
        if let Step::MoveReplica { collection, shard, from, to } = &step {
            let r = &o.shards[&(collection.clone(), *shard)];
            prop_assert!(r.contains_key(from) && !r.contains_key(to), "{step:?}: wrong ends");
            prop_assert!(o.voters.contains(to), "{step:?}: the target is no voter");
            prop_assert!(r.values().all(|s| *s == Replica::Active), "{step:?} while the shard recovers");
        }
        if let Step::DeletePod(i) = step {
            if let Some(peer) = o.pods.iter().find(|p| p.index == i).and_then(|p| p.peer) {
                prop_assert!(!o.voters.contains(&peer) && !o.learners.contains(&peer), "{step:?} deletes a member");
            }
        }
    }
}
