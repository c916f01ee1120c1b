//! The one next step for a cluster, as a pure function of what is declared and what is
//! observed (pods, the engine's raft view and replica states). Disruptive steps wait until
//! every pod is ready, raft has a leader, no replica is Dead or Partial, and the step keeps a
//! raft majority and another Active replica of every shard the touched node holds. Steps are
//! returned one at a time; the reconciler applies one, records it in status and asks again.

use std::collections::{BTreeMap, BTreeSet};

/// A peer id in the engine's raft.
pub type PeerId = u64;

/// One engine pod as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// The StatefulSet ordinal.
    pub index: u32,
    pub ready: bool,
    /// The engine version it runs.
    pub version: String,
    /// Its raft peer id, once its engine answered.
    pub peer: Option<PeerId>,
}

/// A replica's state, as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replica {
    Active,
    Partial,
    Dead,
}

/// Everything the planner looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub pods: Vec<Pod>,
    pub leader: Option<PeerId>,
    pub voters: BTreeSet<PeerId>,
    pub learners: BTreeSet<PeerId>,
    /// For each (collection, shard), its replicas by peer.
    pub shards: BTreeMap<(String, u32), BTreeMap<PeerId, Replica>>,
    /// A node a scale-down already started removing (recorded in status).
    pub leaving: Option<u32>,
    /// Pod indices that have a volume (a member's data), with or without a pod.
    pub volumes: BTreeSet<u32>,
}

/// What the user declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub nodes: u32,
    pub version: String,
    /// `updateStrategy.mode: Supervised`: the leader is restarted only once the user sets the
    /// mode back to `Automatic` (every follower is upgraded by then).
    pub supervised: bool,
}

/// The next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do now; the reason is reported.
    Wait(String),
    /// The declared state cannot be reached until the user changes something.
    Stalled(String),
    /// Create pod `index` (it joins as a learner).
    CreatePod(u32),
    /// Promote learner `peer` to voter.
    Promote(PeerId),
    /// Record node `index` as leaving (a scale-down, not undone once started).
    MarkLeaving(u32),
    /// Move every replica off `peer` (repeated until it holds none).
    Drain(PeerId),
    /// Hand the raft leadership to `to`.
    TransferLeader { to: PeerId },
    /// Make voter `peer` a learner.
    Demote(PeerId),
    /// Remove `peer` from the cluster.
    RemovePeer(PeerId),
    /// Delete pod `index` and its volume.
    DeletePod(u32),
    /// Restart pod `index` on the declared version.
    Upgrade(u32),
    /// Move one replica from a loaded node to an emptier one (after a scale-up). The source
    /// keeps serving until the copy is Active, so nothing is disrupted.
    MoveReplica {
        collection: String,
        shard: u32,
        from: PeerId,
        to: PeerId,
    },
    /// The cluster is as declared.
    Done,
}

impl Step {
    /// Whether the step takes a node (or a vote, or replicas) away.
    pub fn is_disruptive(&self) -> bool {
        matches!(
            self,
            Step::Drain(_)
                | Step::TransferLeader { .. }
                | Step::Demote(_)
                | Step::RemovePeer(_)
                | Step::DeletePod(_)
                | Step::Upgrade(_)
        )
    }
}

/// The next step from `observed` towards `desired`.
pub fn next_step(desired: &Desired, observed: &Observed) -> Step {
    // A member whose pod is gone (restarted for an upgrade, deleted by hand, every pod lost at
    // once) comes back first and without waiting: it only returns a vote and replicas, and
    // without it a cluster that lost its majority never gets a leader to wait for.
    if let Some(&index) = observed
        .volumes
        .iter()
        .find(|i| observed.leaving != Some(**i) && !observed.pods.iter().any(|p| p.index == **i))
    {
        return Step::CreatePod(index);
    }
    // A new cluster: its first pod forms it.
    if observed.pods.is_empty() && desired.nodes > 0 {
        return Step::CreatePod(0);
    }
    // The pod of a removed member is no member any more and never gets ready again: only its
    // deletion is left, and it must not hold everything else up.
    let removed = |p: &Pod| {
        observed.leaving == Some(p.index)
            && p.peer
                .is_none_or(|peer| !observed.voters.contains(&peer) && !observed.learners.contains(&peer))
    };
    if let Some(p) = observed.pods.iter().find(|p| !p.ready && !removed(p)) {
        return Step::Wait(format!("pod {} is not ready", p.index));
    }
    let Some(leader) = observed.leader else {
        return Step::Wait("raft has no leader".into());
    };
    if let Some(((c, s), _)) = observed
        .shards
        .iter()
        .find(|(_, r)| r.values().any(|st| *st != Replica::Active))
    {
        return Step::Wait(format!("shard {s} of `{c}` has a replica recovering"));
    }
    let peer_of = |index: u32| {
        observed
            .pods
            .iter()
            .find(|p| p.index == index)
            .and_then(|p| p.peer)
    };
    // Scale-down already under way: finish it before anything else.
    if let Some(index) = observed.leaving {
        return finish_leaving(index, peer_of(index), leader, observed);
    }
    let count = observed.pods.len() as u32;
    if count < desired.nodes {
        let next = (0..)
            .find(|i| !observed.pods.iter().any(|p| p.index == *i))
            .unwrap_or(count);
        return Step::CreatePod(next);
    }
    if let Some(&learner) = observed.learners.iter().find(|l| {
        observed
            .pods
            .iter()
            .any(|p| p.peer == Some(**l) && observed.leaving != Some(p.index))
    }) {
        return Step::Promote(learner);
    }
    if count > desired.nodes {
        let Some(highest) = observed.pods.iter().map(|p| p.index).max() else {
            return Step::Done;
        };
        if let Some(why) = cannot_lose_node(peer_of(highest), observed) {
            return Step::Stalled(format!("cannot remove node {highest}: {why}"));
        }
        return Step::MarkLeaving(highest);
    }
    if let Some(step) = rebalance_step(observed) {
        return step;
    }
    upgrade_step(desired, leader, observed)
}

/// A move that evens out the replicas per voter when the most loaded one holds at least two
/// more than the least loaded (after a scale-up the new node holds none).
fn rebalance_step(observed: &Observed) -> Option<Step> {
    let mut load: BTreeMap<PeerId, usize> = observed
        .pods
        .iter()
        .filter_map(|p| p.peer)
        .filter(|p| observed.voters.contains(p))
        .map(|p| (p, 0))
        .collect();
    for replicas in observed.shards.values() {
        for peer in replicas.keys() {
            if let Some(n) = load.get_mut(peer) {
                *n += 1;
            }
        }
    }
    let (&to, &least) = load.iter().min_by_key(|(p, n)| (**n, **p))?;
    let (&from, &most) = load.iter().max_by_key(|(p, n)| (**n, std::cmp::Reverse(**p)))?;
    if most < least + 2 {
        return None;
    }
    let ((collection, shard), _) = observed
        .shards
        .iter()
        .find(|(_, r)| r.contains_key(&from) && !r.contains_key(&to))?;
    Some(Step::MoveReplica {
        collection: collection.clone(),
        shard: *shard,
        from,
        to,
    })
}

/// The steps that remove node `index` (peer `peer`): leadership away, replicas away, vote
/// away, membership away, pod away.
fn finish_leaving(index: u32, peer: Option<PeerId>, leader: PeerId, observed: &Observed) -> Step {
    let Some(peer) = peer else {
        return Step::DeletePod(index);
    };
    if peer == leader {
        return match observed.voters.iter().find(|v| **v != peer) {
            Some(&to) => Step::TransferLeader { to },
            None => Step::Stalled(format!("node {index} is the only voter")),
        };
    }
    if observed.shards.values().any(|r| r.contains_key(&peer)) {
        return Step::Drain(peer);
    }
    if observed.voters.contains(&peer) {
        return Step::Demote(peer);
    }
    if observed.learners.contains(&peer) {
        return Step::RemovePeer(peer);
    }
    Step::DeletePod(index)
}

/// Why the cluster cannot lose the node with `peer` (None: it can).
fn cannot_lose_node(peer: Option<PeerId>, observed: &Observed) -> Option<String> {
    let peer = peer?;
    let others = observed.voters.iter().filter(|v| **v != peer).count();
    if observed.voters.contains(&peer) && others == 0 {
        return Some("it is the only voter".into());
    }
    // Every shard on it must find room on another node that does not hold it yet.
    let nodes: BTreeSet<PeerId> = observed.pods.iter().filter_map(|p| p.peer).collect();
    for ((c, s), replicas) in &observed.shards {
        if !replicas.contains_key(&peer) {
            continue;
        }
        let room = nodes.iter().any(|n| *n != peer && !replicas.contains_key(n));
        let elsewhere = replicas.keys().filter(|n| **n != peer).count();
        if !room && elsewhere == 0 {
            return Some(format!(
                "shard {s} of `{c}` has no other replica and no other node"
            ));
        }
        if !room {
            return Some(format!(
                "shard {s} of `{c}` has a replica on every node; the replication factor would drop"
            ));
        }
    }
    None
}

/// The next node to restart on the declared version: followers first (highest index first),
/// the leader last after handing its leadership over; each only when every shard it holds has
/// another Active replica.
fn upgrade_step(desired: &Desired, leader: PeerId, observed: &Observed) -> Step {
    let mut stale: Vec<&Pod> = observed
        .pods
        .iter()
        .filter(|p| p.version != desired.version)
        .collect();
    if stale.is_empty() {
        return Step::Done;
    }
    stale.sort_by_key(|p| (p.peer == Some(leader), std::cmp::Reverse(p.index)));
    let pod = stale[0];
    let Some(peer) = pod.peer else {
        return Step::Upgrade(pod.index);
    };
    if let Some(((c, s), _)) = observed
        .shards
        .iter()
        .find(|(_, r)| r.contains_key(&peer) && !r.iter().any(|(n, st)| *n != peer && *st == Replica::Active))
    {
        return Step::Stalled(format!(
            "node {} holds the only replica of shard {s} of `{c}`: raise its replication factor before upgrading",
            pod.index
        ));
    }
    // Restarting one of two voters leaves one of two: no majority, so no writes meanwhile. (A
    // lone voter has no majority to keep; its restart is the downtime a single node means.)
    if observed.voters.len() == 2 && observed.voters.contains(&peer) {
        return Step::Stalled(format!(
            "a cluster of 2 voters loses its raft majority while either restarts: scale to 3 nodes to upgrade node {} without downtime",
            pod.index
        ));
    }
    if peer == leader && desired.supervised && observed.voters.len() > 1 {
        return Step::Wait(format!(
            "updateStrategy.mode is Supervised: every follower runs the new revision; set it to Automatic to hand over and restart the leader (node {})",
            pod.index
        ));
    }
    if peer == leader {
        let updated = observed
            .pods
            .iter()
            .filter(|p| p.version == desired.version)
            .filter_map(|p| p.peer)
            .find(|p| observed.voters.contains(p));
        return match updated {
            Some(to) => Step::TransferLeader { to },
            None if observed.voters.len() == 1 => Step::Upgrade(pod.index),
            None => Step::Wait("no upgraded voter to take the leadership yet".into()),
        };
    }
    Step::Upgrade(pod.index)
}

#[cfg(test)]
mod tests;
